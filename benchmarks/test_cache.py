"""Cached re-evaluation of a whole suite: wall time against the cold run, and forward passes (must be 0)."""

from __future__ import annotations

from conftest import SMOKE, reference_encoder, timed

from lsdbench.evaluate import evaluate

SUITE = "smoke" if SMOKE else "open"


class Counting:
    """Delegates to an encoder and counts the sequences it is asked to encode."""

    def __init__(self, inner):
        self.inner, self.calls, self.sequences = inner, 0, 0
        self.name, self.max_length = inner.name, inner.max_length
        self.batch_residues = getattr(inner, "batch_residues", None)

    @property
    def config(self):
        return self.inner.config

    def encode(self, sequences):
        self.calls += 1
        self.sequences += len(sequences)
        return self.inner.encode(sequences)


def test_cached_suite_reevaluation(benchmark, tmp_path, machine):
    encoder = Counting(reference_encoder("mlm"))
    cold_s, cold = timed(evaluate, encoder, suite=SUITE, cache_dir=tmp_path / "cache", progress=False)
    cold_calls, cold_sequences = encoder.calls, encoder.sequences
    warm_s, warm = timed(evaluate, encoder, suite=SUITE, cache_dir=tmp_path / "cache", progress=False)
    assert encoder.calls == cold_calls, "a cached re-evaluation ran a forward pass"
    assert [r["scores"] for r in warm] == [r["scores"] for r in cold], "cached embeddings changed the results"
    fit_s = sum(r["timings"]["fit_s"] for r in warm)
    benchmark.extra_info.update({"suite": SUITE, "tasks": len(cold), "cold_s": round(cold_s, 2),
                                 "cached_s": round(warm_s, 2), "ratio": round(warm_s / cold_s, 4),
                                 "cached_probe_fit_s": round(fit_s, 2), "cold_encode_calls": cold_calls,
                                 "cold_sequences_encoded": cold_sequences, "cached_encode_calls": encoder.calls - cold_calls,
                                 "machine": machine})
    benchmark.pedantic(evaluate, args=(encoder,), kwargs={"suite": SUITE, "cache_dir": tmp_path / "cache",
                                                          "progress": False}, rounds=1, iterations=1)
    assert encoder.calls == cold_calls
