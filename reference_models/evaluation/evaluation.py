"""Held-out metrics written into the model cards, and the sample-validity check of diffusion models."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from lsdbench.encode.batching import token_budget_batches
from reference_models.corpus import alphabet as A
from reference_models.networks.denoiser import ddim_sample, diffusion_loss


def eval_batches(sequences: list[str], max_len: int, budget: int):
    """Token batches of the first ``max_len`` residues of each sequence (deterministic, no cropping RNG)."""
    crops = [s[:max_len] for s in sequences]
    for idx in token_budget_batches([len(c) for c in crops], budget, extra=2):
        yield A.batch_tokens([crops[i] for i in idx])


@torch.no_grad()
def reconstruction_metrics(model, batches) -> dict:
    """Per-residue reconstruction accuracy and cross-entropy of clean held-out sequences (eval mode)."""
    ce = correct = n = 0.0
    for tokens in batches:
        z, mask = model.encode(tokens)
        logits = model.decode(z, mask)[mask].float()
        target = tokens[:, 1:-1][mask]
        ce += F.cross_entropy(logits, target, reduction="sum").item()
        correct += (logits.argmax(-1) == target).sum().item()
        n += mask.sum().item()
    return {"heldout_reconstruction_accuracy": correct / max(n, 1), "heldout_reconstruction_ce": ce / max(n, 1),
            "heldout_residues": int(n)}


# t buckets of the held-out diffusion loss: fine at small t, where the latents change most.
LOSS_TS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9)


@torch.no_grad()
def loss_by_t(model, source, batches, ts=LOSS_TS, seed: int = 0) -> list[dict]:
    """Mean per-residue diffusion loss of held-out latents at fixed noise levels t."""
    g = torch.Generator().manual_seed(seed)
    totals = {t: [0.0, 0] for t in ts}
    for tokens in batches:
        z0, mask = source.latents(tokens)
        for t in ts:
            eps = torch.randn(z0.shape, generator=g)
            s, _ = diffusion_loss(model, z0, mask, torch.full((z0.shape[0],), t), eps)
            totals[t][0] += s.item()
            totals[t][1] += int(mask.sum())
    return [{"t": t, "loss": v[0] / max(v[1], 1)} for t, v in totals.items()]


@torch.no_grad()
def sample_sequences(model, source, n: int, length: int, steps: int = 50, seed: int = 0) -> list[str]:
    """Sample latents with DDIM and decode them to residues through the encoder's decoder path."""
    mask = torch.ones(n, length, dtype=torch.bool)
    z = ddim_sample(model, mask, steps=steps, generator=torch.Generator().manual_seed(seed))
    return source.sequences(z, mask)
