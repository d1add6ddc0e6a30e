"""Token Norm: the LSD-TN bottleneck.

Each residue's latent is standardized with the statistics of its own amino-acid type (batch norm whose
groups are residue types: batch statistics in training, running ones in eval). Every type then has mean 0
and variance 1 in every channel: residues of one type are identically distributed in the first two moments,
and the type cannot be read off an offset, so whatever the decoder reconstructs it must take from how the
latent varies *within* a type (and from the neighbours). Under DDP the per-type sums are all-reduced (as
SyncBatchNorm), so a multi-process run computes exactly the statistics of the global batch.

``affine=True`` adds a per-type affine (gamma_type, beta_type) after the standardization. That is the
literal "normalize, then per-type affine" reading, and it collapses: the encoder drives the within-type
variance below eps and the latent becomes beta[type], a residue-type lookup table (measured on the first
committed LSD-TN). It is kept as ``bottleneck = "token_norm_affine"``, a control that the health
diagnostics must flag.

``AnchoredTokenNorm`` is the variant with fixed per-type anchors plus a norm-bounded contextual part:
z = anchor_type + r * tanh(|u| / r) * u / |u|, so every latent lies within radius r of its type's anchor
and the anchors are spread so the balls do not overlap (the types partition the space by construction).
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn as nn


def _all_reduce(x: torch.Tensor) -> torch.Tensor:
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        from torch.distributed.nn.functional import all_reduce  # differentiable, as SyncBatchNorm needs

        return all_reduce(x)
    return x


def per_type_moments(z: torch.Tensor, types: torch.Tensor, n_types: int):
    """(count (T,), mean (T, d), biased var (T, d)) of rows z (N, d) grouped by types (N,)."""
    onehot = torch.nn.functional.one_hot(types, n_types).to(z.dtype)  # (N, T)
    stacked = torch.cat([onehot.T @ z, onehot.T @ (z * z), onehot.sum(0)[:, None]], dim=1)
    stacked = _all_reduce(stacked)
    d = z.shape[1]
    count = stacked[:, -1]
    mean = stacked[:, :d] / count.clamp(min=1)[:, None]
    var = (stacked[:, d:2 * d] / count.clamp(min=1)[:, None] - mean * mean).clamp(min=0)
    return count, mean, var


class TokenNorm(nn.Module):
    def __init__(self, n_types: int, dim: int, momentum: float = 0.01, eps: float = 1e-5, affine: bool = False,
                 offset_std: float = 1.0):
        super().__init__()
        self.n_types, self.momentum, self.eps, self.affine = n_types, momentum, eps, affine
        self.register_buffer("running_mean", torch.zeros(n_types, dim))
        self.register_buffer("running_var", torch.ones(n_types, dim))
        if affine:
            self.gamma = nn.Parameter(torch.ones(n_types, dim))
            # Spread the types apart from the start (the collapsible control: see the module docstring).
            self.beta = nn.Parameter(torch.randn(n_types, dim) * offset_std)

    def normalize(self, z: torch.Tensor, types: torch.Tensor) -> torch.Tensor:
        """Per-type standardization of rows z (N, d); updates running statistics in training."""
        if self.training:
            count, mean, var = per_type_moments(z.float(), types, self.n_types)
            seen = (count >= 2)[:, None]  # a type seen once has no variance: fall back to running stats
            with torch.no_grad():
                unbiased = var * (count / (count - 1).clamp(min=1))[:, None]
                self.running_mean.copy_(torch.where(seen, (1 - self.momentum) * self.running_mean + self.momentum * mean,
                                                    self.running_mean))
                self.running_var.copy_(torch.where(seen, (1 - self.momentum) * self.running_var + self.momentum * unbiased,
                                                   self.running_var))
            mean = torch.where(seen, mean, self.running_mean)
            var = torch.where(seen, var, self.running_var)
        else:
            mean, var = self.running_mean, self.running_var
        return ((z.float() - mean[types]) * torch.rsqrt(var[types] + self.eps)).to(z.dtype)

    def forward(self, z: torch.Tensor, types: torch.Tensor) -> torch.Tensor:
        out = self.normalize(z, types)
        return out * self.gamma[types] + self.beta[types] if self.affine else out


def spread_anchors(n_types: int, dim: int, radius: float, seed: int = 0) -> torch.Tensor:
    """Fixed random anchors, scaled so the closest two are at least 2.2 radii apart."""
    g = torch.Generator().manual_seed(seed)
    anchors = torch.randn(n_types, dim, generator=g)
    min_dist = torch.pdist(anchors).min()
    return anchors * max(1.0, float(2.2 * radius / min_dist))


class AnchoredTokenNorm(nn.Module):
    def __init__(self, n_types: int, dim: int, radius: float = 2.0, seed: int = 0):
        super().__init__()
        self.radius = radius
        self.register_buffer("anchors", spread_anchors(n_types, dim, radius, seed))

    def bounded(self, u: torch.Tensor) -> torch.Tensor:
        norm = u.norm(dim=-1, keepdim=True).clamp(min=1e-6)
        return u * (self.radius * torch.tanh(norm / self.radius) / norm)

    def forward(self, z: torch.Tensor, types: torch.Tensor) -> torch.Tensor:
        return self.anchors[types] + self.bounded(z)
