"""A whole suite evaluated cold, then again from the cache, each in a fresh ``lsdbench eval`` process:
peak memory (RSS) of both, the cached run's wall time against the cold run's, and the number of
forward passes and probe fits of a cached re-evaluation (both must be 0)."""

from __future__ import annotations

import json
import sys

from conftest import SMOKE, peak_process, reference_encoder

from lsdbench.run.evaluate import evaluate

SUITE = "smoke" if SMOKE else "open"


def eval_process(name: str, cache, out) -> tuple[float, float]:
    """Wall seconds and peak MiB of ``lsdbench eval --encoder NAME --suite SUITE`` in a new process."""
    elapsed, peak_mib, _ = peak_process([sys.executable, "-m", "lsdbench", "eval", "--encoder", name, "--suite", SUITE,
                                         "--cache-dir", str(cache), "--out", str(out), "--quiet"])
    return elapsed, peak_mib


class Counting:
    """Delegates to an encoder and counts its encode calls."""

    def __init__(self, inner):
        self.inner, self.calls = inner, 0
        self.name, self.max_length = inner.name, inner.max_length
        self.batch_residues = getattr(inner, "batch_residues", None)

    @property
    def config(self):
        return self.inner.config

    def __getattr__(self, attr):  # cache_inputs, precision, ...: the wrapped encoder's, so the cache key is too
        return getattr(self.inner, attr)

    def encode(self, sequences):
        self.calls += 1
        return self.inner.encode(sequences)


def test_cold_and_cached_suite_evaluation(benchmark, tmp_path, machine):
    name = "mlm"
    encoder = Counting(reference_encoder(name))
    cache = tmp_path / "cache"
    cold_s, cold_mib = eval_process(name, cache, tmp_path / "cold")
    cached_s, cached_mib = benchmark.pedantic(eval_process, args=(name, cache, tmp_path / "cached"), rounds=1,
                                              iterations=1)
    results = evaluate(encoder, suite=SUITE, cache_dir=cache, progress=False)  # in process, counted
    assert encoder.calls == 0, "a cached re-evaluation ran a forward pass"
    assert all(r["timings"]["probe_reused"] for r in results), "a cached re-evaluation fitted a probe"
    cold = [json.loads(p.read_text()) for p in (tmp_path / "cold").glob("*.json")]
    assert sorted((r["scores"] for r in cold), key=str) == sorted((r["scores"] for r in results), key=str)
    benchmark.extra_info.update({
        "encoder": name, "suite": SUITE, "tasks": len(results), "cold_s": round(cold_s, 2), "cached_s": round(cached_s, 2),
        "cached_over_cold": round(cached_s / cold_s, 4), "cached_encode_calls": encoder.calls,
        "cached_probe_fits": sum(not r["timings"]["probe_reused"] for r in results),
        "cold_probe_fit_s": round(sum(r["timings"]["fit_s"] for r in cold), 2),
        "cached_probe_fit_s": round(sum(r["timings"]["fit_s"] for r in results), 2),
        "cold_peak_mib": round(cold_mib, 1), "cached_peak_mib": round(cached_mib, 1), "machine": machine})
