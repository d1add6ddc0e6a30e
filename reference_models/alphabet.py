"""Protein alphabet and tokenizer, kept apart from the models (as in facebookresearch/esm).

Token ids: 0 pad, 1 mask, 2 bos, 3 eos, then the 20 canonical residues, then X.
B, Z, U and O are ambiguous or rare and map to X, so every model sees 21 residue types.
"""

from __future__ import annotations

import re

import torch

PAD, MASK, BOS, EOS = 0, 1, 2, 3
SPECIALS = ("<pad>", "<mask>", "<bos>", "<eos>")
CANONICAL = "ACDEFGHIKLMNPQRSTVWY"
RESIDUES = CANONICAL + "X"
FIRST_RESIDUE = len(SPECIALS)
X = FIRST_RESIDUE + len(CANONICAL)
VOCAB_SIZE = FIRST_RESIDUE + len(RESIDUES)
N_TYPES = len(RESIDUES)  # residue types that Token Norm groups by
ALIASES = {"B": "X", "Z": "X", "U": "X", "O": "X"}

_TO_ID = {aa: FIRST_RESIDUE + i for i, aa in enumerate(RESIDUES)}
_TO_ID.update({a: _TO_ID[b] for a, b in ALIASES.items()})
_INVALID = re.compile(r"[^A-Z]")


def normalize(sequence: str) -> str:
    """Upper-case, drop whitespace, map B/Z/U/O (and any other letter) to X; reject non-letters."""
    seq = "".join(sequence.split()).upper()
    bad = _INVALID.search(seq)
    if bad:
        raise ValueError(f"character {bad.group()!r} at position {bad.start() + 1} is not an amino-acid letter")
    return "".join(aa if aa in CANONICAL else "X" for aa in seq)


def encode(sequence: str) -> list[int]:
    """Residue ids of one sequence, without bos/eos."""
    return [_TO_ID.get(aa, X) for aa in normalize(sequence)]


def decode(ids) -> str:
    """Residue letters of ids; special tokens are dropped."""
    return "".join(RESIDUES[i - FIRST_RESIDUE] for i in ids if FIRST_RESIDUE <= i < VOCAB_SIZE)


def batch_tokens(sequences: list[str]) -> torch.Tensor:
    """(B, L_max + 2) int64 tensor: bos, residues, eos, then pad."""
    ids = [encode(s) for s in sequences]
    out = torch.full((len(ids), max(len(x) for x in ids) + 2), PAD, dtype=torch.long)
    for row, x in enumerate(ids):
        out[row, 0] = BOS
        out[row, 1:len(x) + 1] = torch.tensor(x, dtype=torch.long)
        out[row, len(x) + 1] = EOS
    return out


def is_residue(tokens: torch.Tensor) -> torch.Tensor:
    return tokens >= FIRST_RESIDUE


def residue_types(tokens: torch.Tensor) -> torch.Tensor:
    """Type index 0..20 of residue tokens (0 elsewhere; callers mask non-residues)."""
    return (tokens - FIRST_RESIDUE).clamp(min=0)
