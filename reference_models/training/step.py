"""One optimizer step: the module a step calls (compiled, under DDP), its randomness, plain and accumulated."""

from __future__ import annotations

import contextlib
import hashlib
import warnings

import torch
import torch.nn as nn

from reference_models import config as cfgmod
from reference_models.training.distributed import all_sum
from reference_models.training.stage import Stage


class EagerFallback(nn.Module):
    """A ``torch.compile``d module that falls back to eager mode, with a warning, when compiling fails.

    Compilation needs a working C++ toolchain on CPU and can fail on new torch/platform pairs; a
    training run should then go on, only slower.
    """

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module
        self.compiled = torch.compile(module, dynamic=True)
        self.active = True

    def forward(self, *args, **kwargs):
        if self.active:
            try:
                return self.compiled(*args, **kwargs)
            except Exception as exc:  # any backend failure: keep training in eager mode
                warnings.warn(f"torch.compile failed ({type(exc).__name__}: {str(exc)[:200]}); continuing in eager mode",
                              RuntimeWarning, stacklevel=2)
                self.active = False
        return self.module(*args, **kwargs)


class LossModule(nn.Module):
    """Routes the loss through ``forward`` so DistributedDataParallel sees (and syncs) it."""

    def __init__(self, model: nn.Module, stage: Stage):
        super().__init__()
        self.model, self.stage = model, stage

    def forward(self, tokens, draws):
        return self.stage.loss(self.model, tokens, draws)


def wrap(model: nn.Module, stage: Stage, tc: cfgmod.TrainConfig, world: int) -> nn.Module:
    """The loss module a step calls: compiled when the config says so, under DDP with several processes."""
    wrapped: nn.Module = LossModule(model, stage)
    if tc.compile:
        wrapped = EagerFallback(wrapped)
    if world > 1:
        wrapped = nn.parallel.DistributedDataParallel(wrapped, broadcast_buffers=False)
    return wrapped


def step_generator(seed: int, step: int, micro: int = 0) -> torch.Generator:
    """All randomness of a step comes from (seed, step): resuming and DDP need no other RNG state.
    With gradient accumulation, micro-batch ``micro`` > 0 of a step draws from (seed, step, micro)."""
    key = f"{seed}:{step}" if micro == 0 else f"{seed}:{step}:{micro}"
    return torch.Generator().manual_seed(int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little"))


def optimizer_step(step_fn: nn.Module, model: nn.Module, opt, tokens, draws, *, grad_clip: float, world: int = 1,
                   autocast=None):
    """One step: loss, backward (mean over every rank's counted positions), clip, update.

    Returns the local loss sum, the global count and the stage's extra outputs, for logging.
    """
    model.train()
    with autocast if autocast is not None else contextlib.nullcontext():
        loss_sum, count, extra = step_fn(tokens, draws)
    global_count = all_sum(count.detach().float())
    (loss_sum * world / global_count.clamp(min=1)).backward()
    nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    opt.step()
    opt.zero_grad(set_to_none=True)
    return loss_sum, global_count, extra


def accumulated_step(step_fn: nn.Module, model: nn.Module, opt, micro_batches, *, grad_clip: float, world: int = 1,
                     autocast=None):
    """One optimizer step over several micro-batches (gradient accumulation): the update of the step
    on all of them at once, up to float rounding. Each backward adds unnormalised loss sums; the summed
    gradients are divided by the global count of every micro-batch once they are all in. Under DDP the
    gradients are all-reduced once, with the last micro-batch."""
    model.train()
    loss_total = count_total = correct_total = 0
    for j, (tokens, draws) in enumerate(micro_batches):
        last = j == len(micro_batches) - 1
        sync = step_fn.no_sync() if hasattr(step_fn, "no_sync") and not last else contextlib.nullcontext()
        with sync:
            with autocast if autocast is not None else contextlib.nullcontext():
                loss_sum, count, extra = step_fn(tokens, draws)
            (loss_sum * world).backward()
        loss_total = loss_total + loss_sum.detach()
        count_total = count_total + count.detach().float()
        correct_total = correct_total + extra.get("correct", torch.tensor(0)).detach()
    global_count = all_sum(count_total).clamp(min=1)
    for p in model.parameters():
        if p.grad is not None:
            p.grad.div_(global_count)
    nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    opt.step()
    opt.zero_grad(set_to_none=True)
    return loss_total, global_count, {"correct": correct_total}
