"""Latent diffusion: the denoiser (a transformer over residues with adaLN time conditioning), its loss,
and a DDIM sampler. One denoiser is trained per frozen latent space (LSD-TN, LSD-NM, MLM).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from reference_models.corpus import alphabet as A
from reference_models.networks import schedule as S
from reference_models.networks.transformer import Transformer, TransformerConfig


@dataclass
class DenoiserConfig:
    backbone: TransformerConfig = field(default_factory=lambda: TransformerConfig(cond_dim=128))
    d_latent: int = 32  # set from the latent space it is trained on
    parameterization: str = "v"  # "v" | "eps" | "x0"
    t_min: float = 0.0  # t ~ U(t_min, t_max)
    t_max: float = 1.0
    ema_decay: float = 0.999

    def __post_init__(self):
        if self.parameterization not in S.PARAMETERIZATIONS:
            raise ValueError(f"parameterization must be one of {S.PARAMETERIZATIONS}")
        if self.backbone.cond_dim <= 0:
            raise ValueError("the denoiser backbone needs cond_dim > 0 (adaLN time conditioning)")


def time_features(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal features of t in [0, 1] (scaled by 1000 as in DDPM's integer timesteps)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    angles = 1000 * t.float()[:, None] * freqs[None]
    return torch.cat([angles.cos(), angles.sin()], dim=-1)


class Denoiser(nn.Module):
    """A transformer over residue latents with adaLN time conditioning; owns its draws and loss."""

    def __init__(self, cfg: DenoiserConfig):
        super().__init__()
        self.cfg = cfg
        d, c = cfg.backbone.d_model, cfg.backbone.cond_dim
        self.time_mlp = nn.Sequential(nn.Linear(c, c), nn.SiLU(), nn.Linear(c, c))
        self.inp = nn.Linear(cfg.d_latent, d)
        self.backbone = Transformer(cfg.backbone)
        self.out = nn.Linear(d, cfg.d_latent)
        nn.init.zeros_(self.out.weight)  # start by predicting zero, a safe default for all parameterizations
        nn.init.zeros_(self.out.bias)

    def forward(self, zt: torch.Tensor, t: torch.Tensor, mask: torch.Tensor, return_blocks: bool = False):
        """Prediction (B, L, d_latent) for z_t at per-sequence times t (B,); optionally every block's output."""
        cond = self.time_mlp(time_features(t, self.cfg.backbone.cond_dim))
        h, blocks = self.backbone(self.inp(zt), mask, cond, return_blocks=True)
        pred = self.out(h)
        return (pred, blocks) if return_blocks else pred

    @staticmethod
    def draws(tokens: torch.Tensor, cfg: DenoiserConfig, generator: torch.Generator) -> dict:
        """Random draws of a training step (made on the global batch): ``diffusion_plan`` over residue slots."""
        return diffusion_plan(A.is_residue(tokens[:, 1:-1]), cfg.d_latent, cfg, generator)

    def loss(self, z0: torch.Tensor, mask: torch.Tensor, draws: dict):
        """(loss sum over residues, number of residues, no extra outputs) on a frozen encoder's latents z0."""
        total, _ = diffusion_loss(self, z0, mask, draws["t"], draws["eps"])
        return total, mask.sum(), {}


def diffusion_plan(mask: torch.Tensor, d_latent: int, cfg: DenoiserConfig, generator: torch.Generator) -> dict:
    """Random draws of one training step: t ~ U(t_min, t_max) per sequence and the noise."""
    B, L = mask.shape
    t = cfg.t_min + (cfg.t_max - cfg.t_min) * torch.rand(B, generator=generator)
    return {"t": t, "eps": torch.randn(B, L, d_latent, generator=generator)}


def diffusion_loss(model: Denoiser, z0: torch.Tensor, mask: torch.Tensor, t: torch.Tensor, eps: torch.Tensor):
    """(sum over residues of the mean-over-channels squared error, per-residue errors (B, L)).

    Plain MSE in the model's own parameterization, unweighted in t (in eps units: SNR + 1 for v, 1 for
    eps, SNR for x0, the usual choice of each); a weighting would multiply ``err`` by a function of t."""
    p = model.cfg.parameterization
    tb = t[:, None, None]
    zt = S.diffuse(z0, eps, tb)
    pred = model(zt, t, mask)
    err = F.mse_loss(pred.float(), S.target(z0, eps, tb, p).float(), reduction="none").mean(-1)
    return err[mask].sum(), err


@torch.no_grad()
def ddim_sample(model: Denoiser, mask: torch.Tensor, steps: int = 50, generator: torch.Generator | None = None):
    """Deterministic DDIM (eta = 0) from z_1 ~ N(0, I) to t = 0 on a uniform grid of t."""
    p = model.cfg.parameterization
    B, L = mask.shape
    z = torch.randn(B, L, model.cfg.d_latent, generator=generator).to(mask.device)
    ts = torch.linspace(1.0, 0.0, steps + 1, device=mask.device)
    for t_now, t_next in zip(ts[:-1], ts[1:], strict=True):
        # eps-prediction cannot recover x0 at alpha = 0: start it just below t = 1
        t_eval = t_now.clamp(max=0.999) if p == "eps" else t_now
        tb = t_eval.expand(B)
        pred = model(z, tb, mask)
        x0 = S.x0_from_prediction(z, pred, t_eval, p)
        eps = S.eps_from_prediction(z, pred, t_eval, p)
        z = S.alpha(t_next) * x0 + S.sigma(t_next) * eps
    return z * mask[..., None]
