"""The optimiser and its learning-rate schedule: AdamW, linear warmup then cosine decay."""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from reference_models import config as cfgmod


def learning_rate(step: int, tc: cfgmod.TrainConfig) -> float:
    """Linear warmup, then cosine decay to ``lr * min_lr_ratio`` at the last step."""
    if step < tc.warmup_steps:
        return tc.lr * (step + 1) / tc.warmup_steps
    progress = min(1.0, (step - tc.warmup_steps) / max(1, tc.steps - tc.warmup_steps))
    return tc.lr * (tc.min_lr_ratio + (1 - tc.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def make_optimizer(model: nn.Module, tc: cfgmod.TrainConfig) -> torch.optim.AdamW:
    """AdamW; weight decay on linear weights only (not on embeddings, norms, biases, Token Norm affines)."""
    decay = {id(m.weight) for m in model.modules() if isinstance(m, nn.Linear)}
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if id(p) in decay], "weight_decay": tc.weight_decay},
              {"params": [p for p in params if id(p) not in decay], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=tc.lr, betas=(tc.beta1, tc.beta2))
