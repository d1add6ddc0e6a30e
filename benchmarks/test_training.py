"""Training throughput (tokens per second) of every stage at the ``small`` config, eager and torch.compile."""

from __future__ import annotations

import time
import warnings

import pytest
import torch
import torch.nn as nn
from conftest import SMOKE, sized

from reference_models import config as cfgmod
from reference_models.corpus import alphabet as A
from reference_models.evaluation.encoders import CHECKPOINTS
from reference_models.networks.latents import LatentSource
from reference_models.training.batching import EpochPlan
from reference_models.training.train import (
    EagerFallback,
    LossModule,
    Stage,
    make_optimizer,
    optimizer_step,
    step_generator,
)


def tokens_per_second(stage_name: str, sequences: list[str], *, compile: bool, steps: int, warmup: int) -> dict:
    raw = cfgmod.load_config("small")
    tc = cfgmod.train_config(raw, stage_name)
    source = None
    if stage_name == "diffusion":
        if not (CHECKPOINTS / "lsd_tn" / "model.safetensors").is_file():
            pytest.skip("no committed lsd_tn checkpoint to train a denoiser on")
        source = LatentSource(CHECKPOINTS / "lsd_tn")
        model_cfg = cfgmod.model_config(raw, "diffusion", d_latent=source.dim)
    else:
        model_cfg = cfgmod.model_config(raw, stage_name)
    stage = Stage(stage_name, model_cfg, source)
    torch.manual_seed(0)
    model = stage.build()
    opt = make_optimizer(model, tc)
    step_fn: nn.Module = LossModule(model, stage)
    if compile:
        step_fn = EagerFallback(step_fn)
    batches = EpochPlan(sequences, max_len=tc.max_len, budget=tc.tokens_per_batch, seed=0).epoch(0)
    tokens, start = 0, None
    for step in range(warmup + steps):
        if step == warmup:
            tokens, start = 0, time.perf_counter()
        batch = A.batch_tokens(batches[step % len(batches)])
        optimizer_step(step_fn, model, opt, batch, stage.draws(batch, step_generator(0, step)), grad_clip=tc.grad_clip)
        tokens += int((batch != A.PAD).sum())
    elapsed = time.perf_counter() - start
    return {"tokens_per_s": round(tokens / elapsed), "s_per_step": round(elapsed / steps, 3),
            "compiled": bool(compile and step_fn.active)}


@pytest.mark.parametrize("stage_name", ["mlm", "lsd_tn", "lsd_nm", "diffusion"])
def test_training_throughput(benchmark, stage_name, deeploc_test, machine):
    steps, warmup = sized(10, 1), sized(3, 1)
    eager = tokens_per_second(stage_name, deeploc_test, compile=False, steps=steps, warmup=warmup)
    info = {"stage": stage_name, "config": "small", "eager": eager, "machine": machine}
    # compiling takes minutes on CPU: measured for the two architectures (the encoder backbone shared by
    # mlm / lsd_tn / lsd_nm, and the adaLN denoiser); the smoke run checks the eager path only
    if not SMOKE and stage_name in ("mlm", "diffusion"):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            compiled = tokens_per_second(stage_name, deeploc_test, compile=True, steps=steps, warmup=warmup + 6)
        info["compile"] = compiled
        info["compile_speedup"] = round(compiled["tokens_per_s"] / eager["tokens_per_s"], 2)
        info["compile_warnings"] = [str(w.message)[:200] for w in caught if str(w.message).startswith("torch.compile failed")]
    benchmark.extra_info.update(info)
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    assert eager["tokens_per_s"] > 0
