"""Encoding throughput of the reference encoders: token-budget batching (their ``batching="fast"`` mode)
against fixed-size batches, and model FLOP utilisation (MFU) against the machine's dense matmul rate
measured in the same run. The default, bucketed batching is measured against both in test_batching.py."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SMOKE, matmul_flops_per_s, reference_encoder, timed
from torch.utils.flop_counter import FlopCounterMode

from lsdbench.encode.encoders import policy_for

FIXED_BATCH = 16  # sequences per fixed-size batch, in input order, padded to the longest
CROP = 1024       # full-length view: sequences cropped here (89 % of DeepLoc test sequences are shorter)
ENCODERS = ["mlm", "lsd_tn_latent", "lsd_tn_diffusion"]
SMALL_BUDGET = 4096  # a CPU-sized token budget, tried on the windows view


def fixed_batches(encoder, sequences: list[str]):
    """Fixed-size batches: the encoder's own budget lifted so that each call is one padded batch."""
    budget = encoder.batch_residues
    encoder.batch_residues = 10 ** 9
    try:
        for i in range(0, len(sequences), FIXED_BATCH):
            encoder.encode(sequences[i:i + FIXED_BATCH])
    finally:
        encoder.batch_residues = budget


def with_budget(encoder, budget: int, sequences: list[str]):
    saved, encoder.batch_residues = encoder.batch_residues, budget
    try:
        return encoder.encode(sequences)
    finally:
        encoder.batch_residues = saved


def views(encoder, sequences):
    policy = policy_for(encoder)
    return {"harness windows": [p for s in sequences for p in policy.pieces(s)],
            f"full length (crop {CROP})": [s[:CROP] for s in sequences]}


@pytest.mark.parametrize("name", ENCODERS)
def test_token_budget_against_fixed_batches(benchmark, name, deeploc_test, machine):
    encoder = reference_encoder(name, batching="fast")  # budgets only shape the calls in fast mode
    rows = {}
    for view, seqs in views(encoder, deeploc_test).items():
        residues = sum(map(len, seqs))
        encoder.encode(seqs[:8])  # warm-up
        t_budget, default = timed(encoder.encode, seqs)
        t_fixed, _ = timed(fixed_batches, encoder, seqs)
        rows[view] = {"residues": residues, "budget_res_per_s": round(residues / t_budget),
                      "fixed_res_per_s": round(residues / t_fixed), "speedup": round(t_fixed / t_budget, 2)}
        if view == "harness windows":  # a CPU-sized budget: faster here, but batch composition moves the last bits
            t_small, small = timed(with_budget, encoder, SMALL_BUDGET, seqs)
            rows[view].update({"small_budget": SMALL_BUDGET, "small_budget_speedup": round(t_fixed / t_small, 2),
                               "small_budget_bit_identical": bool(np.array_equal(default, small)),
                               "small_budget_max_abs_diff": float(np.abs(default - small).max())})
    benchmark.extra_info.update({"encoder": name, "sequences": len(deeploc_test), "fixed_batch": FIXED_BATCH,
                                 "views": rows, "machine": machine})
    full = next(v for k, v in rows.items() if k.startswith("full"))
    assert full["budget_res_per_s"] > 0
    seqs = views(encoder, deeploc_test)["harness windows"]
    benchmark.pedantic(encoder.encode, args=(seqs,), rounds=1, iterations=1)


@pytest.mark.parametrize("name", ENCODERS)
def test_model_flop_utilisation(benchmark, name, deeploc_test, machine):
    encoder = reference_encoder(name)
    seqs = views(encoder, deeploc_test)["harness windows"]
    with FlopCounterMode(display=False) as counter:
        encoder.encode(seqs[:64])
    flops_sample = counter.get_total_flops()
    assert flops_sample > 0, "the FLOP counter saw no matmuls"
    # FLOPs scale with residues (windows <= max_length, so attention is bounded): extrapolate per residue
    flops = flops_sample * sum(map(len, seqs)) / sum(map(len, seqs[:64]))
    peak = matmul_flops_per_s()
    elapsed, _ = timed(encoder.encode, seqs)
    benchmark.extra_info.update({"encoder": name, "gflop": round(flops / 1e9, 2), "seconds": round(elapsed, 3),
                                 "achieved_gflop_s": round(flops / elapsed / 1e9, 2),
                                 "matmul_gflop_s": round(peak / 1e9, 2), "mfu": round(flops / elapsed / peak, 3),
                                 "smoke": SMOKE, "machine": machine})
    benchmark.pedantic(encoder.encode, args=(seqs,), rounds=1, iterations=1)
