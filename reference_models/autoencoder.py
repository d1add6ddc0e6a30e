"""The LSD autoencoder, in both variants of the paper.

encoder (transformer over bos + residues + eos) -> per-residue linear map to ``d_latent`` -> bottleneck
-> decoder (shallow transformer, or a per-position linear head) -> residue logits.

- LSD-TN (homogeneous): bottleneck = Token Norm (or its anchored variant); clean inputs.
- LSD-NM (inhomogeneous): no Token Norm; in training a random subset of input embeddings gets Gaussian
  noise, ``e <- sqrt(1 - s^2) e + s * eps``, with the level s and the corrupted fraction drawn per sequence.
The loss is reconstruction cross-entropy on all residues, plus an optional KL-style penalty
``kl_weight * 0.5 * |z|^2 / d_latent`` (the KL to N(0, I) of a unit-variance Gaussian centred on z).
The representation is always the latent of the clean input.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import alphabet as A
from .token_norm import AnchoredTokenNorm, TokenNorm
from .transformer import Transformer, TransformerConfig


@dataclass
class AutoencoderConfig:
    backbone: TransformerConfig = field(default_factory=TransformerConfig)
    d_latent: int = 32
    bottleneck: str = "token_norm"  # "token_norm" | "anchored" | "none"
    tn_momentum: float = 0.01
    anchor_radius: float = 2.0
    decoder: str = "transformer"  # "transformer" | "linear" (per-position head)
    decoder_layers: int = 2
    noise_masking: bool = False
    nm_level_min: float = 0.0  # s ~ U(nm_level_min, nm_level_max) per sequence
    nm_level_max: float = 1.0
    nm_fraction_min: float = 0.0  # corrupted fraction ~ U(nm_fraction_min, nm_fraction_max) per sequence
    nm_fraction_max: float = 1.0
    kl_weight: float = 0.0

    def __post_init__(self):
        if self.bottleneck not in ("token_norm", "anchored", "none"):
            raise ValueError(f"bottleneck must be token_norm, anchored or none, not {self.bottleneck!r}")
        if self.decoder not in ("transformer", "linear"):
            raise ValueError(f"decoder must be transformer or linear, not {self.decoder!r}")
        if not (0 <= self.nm_level_min <= self.nm_level_max <= 1):
            raise ValueError("noise-masking levels must satisfy 0 <= min <= max <= 1")


def noise_mask_plan(tokens: torch.Tensor, d_model: int, cfg: AutoencoderConfig, generator: torch.Generator) -> dict:
    """Random draws of Noise Masking for a batch: which residues, at which level s, with which noise."""
    B, L = tokens.shape
    level = cfg.nm_level_min + (cfg.nm_level_max - cfg.nm_level_min) * torch.rand(B, generator=generator)
    fraction = cfg.nm_fraction_min + (cfg.nm_fraction_max - cfg.nm_fraction_min) * torch.rand(B, generator=generator)
    selected = (torch.rand(B, L, generator=generator) < fraction[:, None]) & A.is_residue(tokens)
    noise = torch.randn(B, L, d_model, generator=generator)
    return {"nm_selected": selected, "nm_level": level, "nm_noise": noise}


def apply_noise_mask(emb: torch.Tensor, selected: torch.Tensor, level: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """e <- sqrt(1 - s^2) e + s eps at selected positions; variance-preserving for unit-variance e."""
    s = level.to(emb.dtype)[:, None, None]
    noisy = torch.sqrt(1 - s * s) * emb + s * noise.to(emb.dtype)
    return torch.where(selected[..., None], noisy, emb)


class Autoencoder(nn.Module):
    def __init__(self, cfg: AutoencoderConfig):
        super().__init__()
        self.cfg = cfg
        d = cfg.backbone.d_model
        self.embed = nn.Embedding(A.VOCAB_SIZE, d)
        nn.init.normal_(self.embed.weight, std=1.0)
        self.encoder = Transformer(cfg.backbone)
        self.to_latent = nn.Linear(d, cfg.d_latent)
        if cfg.bottleneck == "token_norm":
            self.bottleneck = TokenNorm(A.N_TYPES, cfg.d_latent, momentum=cfg.tn_momentum)
        elif cfg.bottleneck == "anchored":
            self.bottleneck = AnchoredTokenNorm(A.N_TYPES, cfg.d_latent, radius=cfg.anchor_radius)
        else:
            self.bottleneck = None
        self.from_latent = nn.Linear(cfg.d_latent, d)
        self.decoder = None
        if cfg.decoder == "transformer":
            dec = TransformerConfig(**{**cfg.backbone.__dict__, "n_layer": cfg.decoder_layers, "cond_dim": 0})
            self.decoder = Transformer(dec)
        self.head = nn.Linear(d, A.VOCAB_SIZE)

    def encode(self, tokens: torch.Tensor, corruption: dict | None = None):
        """(latent (B, L, d_latent) over residue slots, residue mask (B, L)); bos/eos are dropped."""
        # Unit-RMS embeddings, so the noise level s keeps its meaning however the embedding table grows.
        emb = F.rms_norm(self.embed(tokens), (self.embed.embedding_dim,))
        if corruption is not None and "nm_selected" in corruption:
            emb = apply_noise_mask(emb, corruption["nm_selected"], corruption["nm_level"], corruption["nm_noise"])
        h = self.encoder(emb, tokens != A.PAD)[:, 1:-1]
        inner = tokens[:, 1:-1]
        mask = A.is_residue(inner)
        z = self.to_latent(h)
        if self.bottleneck is not None:
            zb = torch.zeros_like(z)
            zb[mask] = self.bottleneck(z[mask], A.residue_types(inner[mask])).to(z.dtype)
            z = zb
        else:
            z = z * mask[..., None].to(z.dtype)  # nothing at bos/eos/pad slots, as with Token Norm
        return z, mask

    def decode(self, z: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Residue logits (B, L, vocab) from latents over residue slots."""
        h = self.from_latent(z)
        if self.decoder is not None:
            h = self.decoder(h, mask)
        return self.head(h)

    def loss(self, tokens: torch.Tensor, batch: dict):
        """(sum over residues of cross-entropy (+ KL-style penalty), number of residues, correct count)."""
        z, mask = self.encode(tokens, batch if self.cfg.noise_masking else None)
        logits = self.decode(z, mask)
        target = tokens[:, 1:-1][mask]
        ce = F.cross_entropy(logits[mask].float(), target, reduction="sum")
        total = ce
        if self.cfg.kl_weight > 0:
            total = ce + self.cfg.kl_weight * 0.5 * z[mask].float().pow(2).mean(-1).sum()
        correct = (logits[mask].argmax(-1) == target).sum()
        return total, mask.sum(), {"correct": correct, "ce": ce.detach()}
