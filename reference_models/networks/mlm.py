"""ESM-style masked language model: the baseline encoder.

15 % of residues are selected; of those 80 % become <mask>, 10 % a random canonical residue, 10 % stay.
The representation is the final hidden state (after the last layer norm) at each residue.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from reference_models.corpus import alphabet as A
from reference_models.networks.transformer import Transformer, TransformerConfig


@dataclass
class MLMConfig:
    backbone: TransformerConfig = field(default_factory=TransformerConfig)
    mask_rate: float = 0.15
    mask_token_frac: float = 0.8
    random_token_frac: float = 0.1
    # How the hidden states become the diffusion latent: "identity" (as is, d_model channels) or
    # "pca" (projected on the top pca_dim principal components of held-out hidden states).
    latent: str = "identity"
    pca_dim: int = 32

    def __post_init__(self):
        if self.latent not in ("identity", "pca"):
            raise ValueError(f"mlm latent must be 'identity' or 'pca', not {self.latent!r}")


def mask_tokens(tokens: torch.Tensor, cfg: MLMConfig, generator: torch.Generator):
    """(inputs, selected): BERT/ESM corruption of residue positions; ``selected`` marks the loss positions."""
    residue = A.is_residue(tokens)
    u = torch.rand(tokens.shape, generator=generator)
    selected = (torch.rand(tokens.shape, generator=generator) < cfg.mask_rate) & residue
    random_ids = torch.randint(A.FIRST_RESIDUE, A.FIRST_RESIDUE + len(A.CANONICAL), tokens.shape, generator=generator)
    inputs = torch.where(selected & (u < cfg.mask_token_frac), torch.full_like(tokens, A.MASK), tokens)
    use_random = selected & (u >= cfg.mask_token_frac) & (u < cfg.mask_token_frac + cfg.random_token_frac)
    inputs = torch.where(use_random, random_ids, inputs)
    return inputs, selected


class MLM(nn.Module):
    """Token embedding, transformer, and a head tied to the embedding; owns its corruption and loss."""

    def __init__(self, cfg: MLMConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(A.VOCAB_SIZE, cfg.backbone.d_model)
        self.backbone = Transformer(cfg.backbone)
        self.lm_bias = nn.Parameter(torch.zeros(A.VOCAB_SIZE))  # head tied to the embedding, as in ESM
        nn.init.normal_(self.embed.weight, std=0.02)

    def hidden(self, tokens: torch.Tensor) -> torch.Tensor:
        """Final hidden states (B, L, d_model) of every token, bos/eos included."""
        return self.backbone(self.embed(tokens), tokens != A.PAD)

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return hidden @ self.embed.weight.T + self.lm_bias

    def forward(self, tokens):
        return self.logits(self.hidden(tokens))

    @staticmethod
    def draws(tokens: torch.Tensor, cfg: MLMConfig, generator: torch.Generator) -> dict:
        """Random draws of a training step (made on the global batch): the corrupted inputs, the loss positions."""
        inputs, selected = mask_tokens(tokens, cfg, generator)
        return {"inputs": inputs, "selected": selected}

    def loss(self, tokens: torch.Tensor, batch: dict):
        """(sum of cross-entropy over masked residues, number of them, number correct)."""
        logits = self(batch["inputs"])
        sel = batch["selected"]
        ce = F.cross_entropy(logits[sel].float(), tokens[sel], reduction="sum")
        correct = (logits[sel].argmax(-1) == tokens[sel]).sum()
        return ce, sel.sum(), {"correct": correct}
