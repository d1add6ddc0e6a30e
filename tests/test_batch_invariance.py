"""The same bits whatever the batch: reference encoders and torch baselines (lsdbench.encode.buckets).

An embedding must not depend on a sequence's batch-mates, the batch size, the number of shards or what
the cache already held; otherwise results differ in the last digits with the way a run was split.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from baselines.random_transformer import RandomTransformer
from lsdbench.encode.buckets import (
    CALL_TOKENS,
    bucket_batches,
    bucket_width,
    fill_rows,
    padded_length,
    rows_per_call,
)
from lsdbench.encode.encoders import EncoderError
from lsdbench.results.result import read_result
from reference_models.evaluation import encoders as E
from tests.test_shards import _finish, _start, comparable

AMINO = "ACDEFGHIKLMNPQRSTVWY"


def _sequences(n: int = 18, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(AMINO) for _ in range(rng.randint(3, 260))) for _ in range(n)]


def test_buckets_bound_padding_and_fix_each_calls_shape():
    for n in range(1, 3000):
        w = padded_length(n)
        assert n <= w < n + max(8, n / 4) and w % 8 == 0
    waste = np.mean([padded_length(n) / n - 1 for n in range(64, 2048)])
    assert waste < 1 / 8
    lengths = [5, 300, 7, 6, 120, 299, 8]
    calls = list(bucket_batches(lengths, extra=2))
    assert sorted(i for idx, _, _ in calls for i in idx) == list(range(len(lengths)))
    for idx, width, rows in calls:
        assert all(bucket_width(lengths[i], 2) == width for i in idx)  # a call's shape is any member's own
        assert rows == rows_per_call(width, 2) and len(idx) <= rows and rows * (width + 2) <= max(CALL_TOKENS, width + 2)
        assert (width + 2) % 8 == 0
    # a cap (max_length): shapes within it are cut to it, longer sequences get calls of their own
    capped = list(bucket_batches([250, 256, 300, 260, 10], extra=2, cap=256))
    assert [(idx, width) for idx, width, _ in capped] == [([4], 14), ([0], 254), ([1], 256), ([2, 3], 318)]
    assert fill_rows(["a", "b"], 4) == ["a", "b", "a", "a"]
    assert fill_rows(np.arange(6).reshape(3, 2), 5)[3:].tolist() == [[0, 1], [0, 1]]


@pytest.mark.parametrize("factory", [E.mlm, E.lsd_tn_latent, E.lsd_nm_latent], ids=lambda f: f.__name__)
def test_reference_latents_are_bit_identical_in_any_batch(factory):
    seqs = _sequences()
    enc = factory()
    together = enc.encode(seqs)
    assert np.array_equal(enc.encode(seqs[::-1])[::-1], together)
    assert np.array_equal(np.stack([enc.encode([s])[0] for s in seqs[:4]]), together[:4])
    assert np.array_equal(factory(batch_residues=300).encode(seqs[5:12]), together[5:12])
    # longer than max_length (a direct call; the harness windows them): still its own bits in any batch
    longer = ["".join(random.Random(i).choice(AMINO) for _ in range(n)) for i, n in enumerate((258, 300, 700))]
    mixed = enc.encode(longer + seqs[:3])
    assert np.array_equal(np.stack([enc.encode([s])[0] for s in longer]), mixed[:3])


def test_diffusion_features_and_their_sweep_are_bit_identical_in_any_batch():
    seqs = _sequences()
    enc = E.mlm_diffusion(t=0.1)
    together = enc.encode(seqs)
    assert np.array_equal(enc.encode(seqs[::-1])[::-1], together)
    assert np.array_equal(np.stack([enc.encode([s])[0] for s in seqs[:3]]), together[:3])
    swept = E.mlm_diffusion().encode_sweep(seqs[4:], [0.0, 0.1])
    assert np.array_equal(swept[1], together[4:])  # a sweep level = that level alone


def test_random_transformer_is_bit_identical_and_fast_mode_is_recorded():
    seqs = _sequences()
    enc = RandomTransformer(dim=64, layers=2, max_length=300)
    together = enc.encode(seqs)
    assert np.array_equal(enc.encode(seqs[::-1])[::-1], together)
    assert np.array_equal(np.stack([enc.encode([s])[0] for s in seqs[:4]]), together[:4])
    fast = RandomTransformer(dim=64, layers=2, max_length=300, batching="fast")
    assert np.allclose(fast.encode(seqs), together, atol=1e-5)  # same model, other rounding
    assert fast.config == {**enc.config, "batching": "fast"} and "batching" not in enc.config
    assert enc.cache_inputs == {"batching": "bucketed"} and not fast.cache_inputs
    with pytest.raises(EncoderError, match="option batching"):
        RandomTransformer(batching="sorted")


def test_reference_fast_mode_is_another_result_and_bucketed_another_cache_entry():
    bucketed, fast = E.mlm(), E.mlm(batching="fast")
    assert fast.config == {**bucketed.config, "batching": "fast"}
    assert bucketed.cache_inputs["batching"] == "bucketed" and "batching" not in fast.cache_inputs
    seqs = _sequences(8)
    assert np.allclose(fast.encode(seqs), bucketed.encode(seqs), atol=1e-5)


def test_one_process_three_shards_batch_sizes_and_a_warm_cache_give_identical_result_files(tmp_path):
    """The issue's acceptance test, on a real reference encoder and the real example PPI task."""
    args = ["eval", "--encoder", "mlm", "--task", "human_ppi_example", "--quiet"]
    one, three, warm = tmp_path / "one", tmp_path / "three", tmp_path / "warm"
    c3, cw = str(tmp_path / "c3"), str(tmp_path / "cw")
    first = [_start(*args, "--out", str(one), LSDBENCH_CACHE_DIR=str(tmp_path / "c1")),
             *[_start(*args, "--out", str(three), "--shard", f"{i}/3", LSDBENCH_CACHE_DIR=c3) for i in range(3)],
             # a partly warm cache, filled in batches of at most 300 residues
             _start(*args, "--out", str(warm), "--shard", "1/3", "--batch-residues", "300", LSDBENCH_CACHE_DIR=cw)]
    outputs = [_finish(p) for p in first]
    assert [code for code, _ in outputs] == [0] * 5, outputs
    last = [_start(*args, "--out", str(three), LSDBENCH_CACHE_DIR=c3),
            _start(*args, "--out", str(warm), "--batch-residues", "100000", LSDBENCH_CACHE_DIR=cw)]
    outputs = [_finish(p) for p in last]
    assert [code for code, _ in outputs] == [0, 0], outputs
    assert "0 to encode" in outputs[0][1]

    def results(d: Path) -> dict:
        return {f.name: comparable(read_result(f)) for f in d.glob("*.json")}

    assert len(results(one)) == 1 and results(one) == results(three) == results(warm)
