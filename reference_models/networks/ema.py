"""Exponential moving average of a model's weights (the diffusion model is used through its EMA)."""

from __future__ import annotations

import copy

import torch
import torch.nn as nn


def effective_decay(decay: float, step: int) -> float:
    """Warm-up of the decay (as in timm / DDPM code): early averages do not remember the random init.
    It reaches the configured decay d at step (10 d - 1) / (1 - d): 890 steps for 0.99, 9,989 for 0.999."""
    return min(decay, (1 + step) / (10 + step))


class EMA:
    def __init__(self, model: nn.Module, decay: float = 0.999):
        self.decay = decay
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        decay = effective_decay(self.decay, step)
        for ema_p, p in zip(self.model.parameters(), model.parameters(), strict=True):
            ema_p.lerp_(p.detach(), 1 - decay)
        for ema_b, b in zip(self.model.buffers(), model.buffers(), strict=True):
            ema_b.copy_(b)
