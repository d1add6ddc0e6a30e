"""Noise sweeps: T levels through ``encode_sweep`` (clean latent once per batch) against T full passes."""

from __future__ import annotations

import pytest
from conftest import SMOKE, reference_encoder, timed

from lsdbench.encode.encoders import policy_for

LEVELS = [0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9]


@pytest.mark.parametrize("name", ["lsd_tn_diffusion", "mlm_diffusion"])
def test_sweep_cost_grows_with_the_denoiser_only(benchmark, name, deeploc_test, machine):
    encoder = reference_encoder(name)
    policy = policy_for(encoder)
    seqs = [p for s in deeploc_test[:128] for p in policy.pieces(s)]
    latent = reference_encoder({"mlm_diffusion": "mlm_latent"}.get(name, name.replace("_diffusion", "_latent")))
    encoder.encode(seqs[:8])
    latent_s, _ = timed(latent.encode, seqs)      # the clean-latent pass alone (encoder + pooling)
    one_s, _ = timed(encoder.encode, seqs)        # one full pass: latent + denoiser
    rows = {}
    for T in ([1, 3] if SMOKE else [1, 2, 4, 7]):
        sweep_s, outs = timed(encoder.encode_sweep, seqs, LEVELS[:T])
        assert len(outs) == T
        rows[T] = {"sweep_s": round(sweep_s, 3), "full_passes_s": round(T * one_s, 3),
                   "ratio_vs_T_full_passes": round(sweep_s / (T * one_s), 3),
                   "extra_per_level_s": round((sweep_s - latent_s) / T, 3)}
    benchmark.extra_info.update({"encoder": name, "residues": sum(map(len, seqs)), "latent_pass_s": round(latent_s, 3),
                                 "full_pass_s": round(one_s, 3), "denoiser_pass_s": round(one_s - latent_s, 3),
                                 "levels": rows, "machine": machine})
    benchmark.pedantic(encoder.encode_sweep, args=(seqs, LEVELS), rounds=1, iterations=1)
