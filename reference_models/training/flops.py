"""Model FLOPs of a training step and the device's peak, for the model FLOP utilisation (MFU) in the logs.

FLOPs are counted analytically, as in PaLM (Chowdhery et al. 2022, appendix B): a training step costs
6 FLOPs per weight of every matrix multiply applied at each position, plus 12 * n_layer * d_model * L
per position for attention scores and values (forward and backward), over the padded (B, L) batch that
the hardware computes. The denoiser stage adds the frozen encoder's forward pass (2 FLOPs per weight,
4 * n_layer * d_model * L for attention). Layers applied once per sequence (adaLN, the time MLP) and
embedding lookups are left out. The peak is the bf16 dense tensor-core rate of known GPUs (training
autocasts to bf16 on CUDA), ``train.peak_flops`` when set, and on CPU a float32 1024 x 1024 matmul timed
once per process (the denominator benchmarks/ uses).
"""

from __future__ import annotations

import functools
import time

import torch
import torch.nn as nn

from reference_models.corpus import alphabet as A
from reference_models.networks.transformer import Transformer

# bf16 dense tensor-core FLOP/s (vendor data sheets, without sparsity); the first name that occurs in
# torch.cuda.get_device_name wins, so more specific names come first
GPU_PEAK_BF16 = (("H100 PCIe", 756e12), ("H100 NVL", 835e12), ("GH200", 989e12), ("H100", 989e12), ("H200", 989e12),
                 ("B200", 2250e12), ("A100", 312e12), ("L40S", 362e12), ("L4", 121e12), ("A10", 125e12))
PER_SEQUENCE = ("ada", "time_mlp")  # module names of layers applied once per sequence, not per position


def _stack(module: nn.Module) -> tuple[int, int]:
    """(weights of the per-position matrix multiplies, sum of n_layer * d_model over attention stacks)."""
    weights = sum(m.weight.numel() for name, m in module.named_modules()
                  if isinstance(m, nn.Linear) and not any(p in name for p in PER_SEQUENCE))
    attention = sum(m.cfg.n_layer * m.cfg.d_model for m in module.modules() if isinstance(m, Transformer))
    if hasattr(module, "lm_bias"):  # the MLM's head, tied to the embedding: a (d_model x vocab) matmul
        weights += A.VOCAB_SIZE * module.cfg.backbone.d_model
    return weights, attention


def _encoding_part(model: nn.Module) -> nn.Module:
    """What a frozen encoder runs to give latents: the MLM's backbone, the autoencoder's encoder side."""
    if hasattr(model, "backbone"):
        return model.backbone
    return nn.ModuleList([m for m in (model.encoder, model.to_latent) if m is not None])  # none: homogeneous TN


class StepFlops:
    """``step_flops(batch_shape)``: model FLOPs of one training step on a padded (B, L) batch."""

    def __init__(self, model: nn.Module, frozen: nn.Module | None = None):
        self.weights, self.attention = _stack(model)
        self.frozen = _stack(_encoding_part(frozen)) if frozen is not None else (0, 0)

    def __call__(self, batch_shape) -> float:
        B, L = batch_shape
        per_position = 6 * self.weights + 12 * self.attention * L + 2 * self.frozen[0] + 4 * self.frozen[1] * L
        return float(per_position * B * L)


def matmul_flops_per_s(n: int = 1024, repeats: int = 5) -> float:
    """The machine's dense float32 matmul rate (FLOP/s), measured now: the CPU's MFU denominator."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * n ** 3 / best


@functools.cache
def _cpu_peak() -> float:
    return matmul_flops_per_s(repeats=3)  # once per process


def peak_flops(device: str, configured: float = 0.0) -> float | None:
    """FLOP/s that MFU is measured against; None for a GPU of unknown peak (set ``train.peak_flops``)."""
    if configured > 0:
        return configured
    if device.startswith("cuda"):
        name = torch.cuda.get_device_name(torch.device(device))
        return next((peak for key, peak in GPU_PEAK_BF16 if key in name), None)
    return _cpu_peak()
