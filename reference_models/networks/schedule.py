"""Variance-preserving cosine noise schedule over t in [0, 1]: z_t = alpha(t) z_0 + sigma(t) eps.

Each quantity is one small function (lucidrains' EDM style) so the loss and the sampler read like the maths.
"""

from __future__ import annotations

import math

import torch

PARAMETERIZATIONS = ("v", "eps", "x0")


def alpha(t: torch.Tensor) -> torch.Tensor:
    return torch.cos(math.pi * t / 2)


def sigma(t: torch.Tensor) -> torch.Tensor:
    return torch.sin(math.pi * t / 2)


def snr(t: torch.Tensor) -> torch.Tensor:
    """alpha^2 / sigma^2: infinite at t = 0, zero at t = 1."""
    return alpha(t) ** 2 / sigma(t) ** 2


def log_snr(t: torch.Tensor) -> torch.Tensor:
    return 2 * (torch.log(alpha(t)) - torch.log(sigma(t)))


def diffuse(z0: torch.Tensor, eps: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """z_t for t broadcast against z0."""
    return alpha(t) * z0 + sigma(t) * eps


def v_target(z0, eps, t):
    """v = alpha eps - sigma z0 (Salimans & Ho 2022), the velocity along the VP circle."""
    return alpha(t) * eps - sigma(t) * z0


def target(z0, eps, t, parameterization: str):
    return {"v": lambda: v_target(z0, eps, t), "eps": lambda: eps, "x0": lambda: z0}[parameterization]()


def x0_from_prediction(zt, pred, t, parameterization: str):
    if parameterization == "v":
        return alpha(t) * zt - sigma(t) * pred
    if parameterization == "eps":  # undefined at t = 1 (alpha = 0): callers keep t below 1 for eps
        return (zt - sigma(t) * pred) / alpha(t).clamp(min=1e-4)
    return pred


def eps_from_prediction(zt, pred, t, parameterization: str):
    if parameterization == "v":
        return sigma(t) * zt + alpha(t) * pred
    if parameterization == "eps":
        return pred
    return (zt - alpha(t) * pred) / sigma(t).clamp(min=1e-4)  # x0: undefined at t = 0
