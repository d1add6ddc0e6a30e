"""``random_transformer``: an untrained transformer encoder, the standard control for learned representations.

A small pre-LN transformer (default d = 256, 4 layers, 4 heads, feed-forward 4d, GELU, sinusoidal
positions, final LayerNorm) over the 25-letter alphabet, randomly initialised from ``torch.Generator``
seeded with ``seed`` (default 0) and never trained. Initialisation is explicit, so the weights do not
depend on torch's default initialisers: token embeddings N(0, 1), every linear weight N(0, 1/fan_in)
(LeCun normal), biases 0, LayerNorm weights 1 and biases 0. The embedding of a sequence is the mean of
the final hidden states over its real residues (no special tokens, padding masked out of attention), so
it does not depend on what else is in the batch. ``config`` holds the sizes, the seed and the sha256 of
the initial weights.

Self-contained on purpose: it shares no code with ``reference_models``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from lsdbench.encode.encoders import EncoderError
from lsdbench.encode.precision import autocast, record

from ._seq import N_CODES, as_int, encode_concat, padded
from ._torch import TorchEncoder, state_dict_sha256

__all__ = ["RandomTransformer", "TinyTransformer"]

PAD = 0  # token 0 is padding; letters are 1..25 in ALPHABET order


def sinusoidal_positions(length: int, dim: int) -> torch.Tensor:
    """The fixed sin/cos position table of Vaswani et al. (length, dim), float32."""
    pos = torch.arange(length, dtype=torch.float64)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float64) * (-math.log(10000.0) / dim))
    table = torch.zeros(length, dim, dtype=torch.float64)
    table[:, 0::2] = torch.sin(pos * freq)
    table[:, 1::2] = torch.cos(pos * freq[: dim // 2])
    return table.float()


class _Block(nn.Module):
    def __init__(self, dim: int, heads: int, ffn: int):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.ln2 = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, ffn)
        self.fc2 = nn.Linear(ffn, dim)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=keep[:, None, None, :])  # padding keys masked
        x = x + self.proj(a.transpose(1, 2).reshape(b, n, d))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


class TinyTransformer(nn.Module):
    """Token embedding + sinusoidal positions, ``layers`` pre-LN blocks, final LayerNorm."""

    def __init__(self, dim: int, layers: int, heads: int, ffn: int, max_length: int):
        super().__init__()
        self.embed = nn.Embedding(N_CODES + 1, dim)
        self.register_buffer("positions", sinusoidal_positions(max_length, dim), persistent=False)
        self.blocks = nn.ModuleList([_Block(dim, heads, ffn) for _ in range(layers)])
        self.ln_f = nn.LayerNorm(dim)

    @torch.no_grad()
    def init_weights(self, seed: int) -> None:
        g = torch.Generator(device="cpu").manual_seed(seed)
        for name, p in self.named_parameters():  # definition order: fixed by the architecture
            if name.startswith("embed."):
                p.copy_(torch.randn(p.shape, generator=g))
            elif ".ln" in name or name.startswith("ln_"):
                p.fill_(1.0 if name.endswith("weight") else 0.0)
            elif name.endswith(".weight"):
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(p.shape[1]))
            else:
                p.zero_()

    def forward(self, tokens: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """Mean of the final hidden states over the positions where ``keep`` is True: (b, dim)."""
        x = self.embed(tokens) + self.positions[: tokens.shape[1]]
        for block in self.blocks:
            x = block(x, keep)
        x = self.ln_f(x)
        m = keep[..., None].to(x.dtype)
        return (x * m).sum(1) / m.sum(1)


class RandomTransformer(TorchEncoder):
    """Untrained pre-LN transformer, mean-pooled over residues (entry point ``random_transformer``).

    Options: ``dim`` (256), ``layers`` (4), ``heads`` (4), ``ffn`` (4 * dim), ``seed`` (0), ``max_length``
    (1024), plus ``device`` (cuda when available), ``threads`` (torch's setting) and ``batch_residues``
    (16384), which do not change the output, ``batching`` ("bucketed": the same bits for a sequence in any
    batch; "fast": token-budget batches, recorded in config) and ``precision`` (fp32; bf16 or fp16 run the
    forward pass under torch autocast and are recorded in config).
    """

    name = "random_transformer"

    def __init__(self, dim: int = 256, layers: int = 4, heads: int = 4, ffn: int | None = None, seed: int = 0,
                 max_length: int = 1024, device: str | None = None, threads: int | None = None,
                 batch_residues: int = 16384, precision: str | None = None, batching: str | None = None):
        self.dim = as_int(dim, "dim", minimum=1)
        self.layers = as_int(layers, "layers", minimum=0)
        self.heads = as_int(heads, "heads", minimum=1)
        if self.dim % self.heads or (self.dim // self.heads) % 2:
            raise EncoderError(f"dim ({self.dim}) must split into {self.heads} heads of even size")
        if self.dim % 2:
            raise EncoderError(f"dim must be even for sinusoidal positions, got {self.dim}")
        self.ffn = 4 * self.dim if ffn in (None, "") else as_int(ffn, "ffn", minimum=1)
        self.seed = as_int(seed, "seed", minimum=0)
        self.max_length = as_int(max_length, "max_length", minimum=1)
        self.set_runtime(device=device, threads=threads, batch_residues=batch_residues, precision=precision,
                         batching=batching)
        model = TinyTransformer(self.dim, self.layers, self.heads, self.ffn, self.max_length)
        model.init_weights(self.seed)
        self.weights_sha256 = state_dict_sha256(model)
        self.model = model.to(self.device).eval()

    @property
    def _config(self) -> dict[str, Any]:
        return record({"version": 1, "architecture": "pre-LN transformer, sinusoidal positions, GELU",
                       "init": "lecun_normal, embeddings N(0,1), torch.Generator", "dim": self.dim,
                       "layers": self.layers, "heads": self.heads, "ffn": self.ffn, "seed": self.seed,
                       "max_length": self.max_length, "pooling": "mean over residues",
                       "weights_sha256": self.weights_sha256}, self.precision)

    def _run(self, batch: list[str], width: int | None = None) -> torch.Tensor:
        codes, lengths = encode_concat(batch)
        width = None if width is None else min(width, self.max_length)  # position table ends there
        tokens = torch.from_numpy(padded(codes + 1, lengths, fill=PAD, width=width)).to(self.device)
        keep = tokens != PAD
        with autocast(self.precision, self.device):
            return self.model(tokens, keep)
