"""Protein alphabet and tokenizer, kept apart from the models (as in facebookresearch/esm).

Token ids: 0 pad, 1 mask, 2 bos, 3 eos, then the 20 canonical residues, then X.
B, Z, U and O are ambiguous or rare and map to X, so every model sees 21 residue types.
"""

from __future__ import annotations

import re

import numpy as np
import torch

from reference_models.corpus.token_files import INVALID, TO_ID, WHITESPACE

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


def _id_bytes(sequence: str) -> bytes:
    """Residue ids of one sequence as bytes: ``bytes.translate`` for ASCII input (the corpus's table),
    the letter-by-letter path otherwise; both give the ids of ``normalize`` and raise its errors."""
    try:
        ids = sequence.encode("ascii").translate(TO_ID, WHITESPACE)
    except UnicodeEncodeError:
        return bytes(_TO_ID.get(aa, X) for aa in normalize(sequence))
    if INVALID in ids:
        normalize(sequence)  # raises the ValueError that names the character
    return ids


def encode(sequence: str) -> list[int]:
    """Residue ids of one sequence, without bos/eos."""
    return list(_id_bytes(sequence))


def decode(ids) -> str:
    """Residue letters of ids; special tokens are dropped."""
    return "".join(RESIDUES[i - FIRST_RESIDUE] for i in ids if FIRST_RESIDUE <= i < VOCAB_SIZE)


def batch_tokens(sequences: list[str], width: int | None = None) -> torch.Tensor:
    """(B, max(L_max, width) + 2) int64 tensor: bos, residues, eos, then pad."""
    ids = [_id_bytes(s) for s in sequences]
    lengths = np.array([len(x) for x in ids], dtype=np.int64)
    out = np.full((len(ids), max(int(lengths.max()), width or 0) + 2), PAD, dtype=np.int64)
    rows = np.arange(len(ids))
    out[rows, 0] = BOS
    within = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    out[np.repeat(rows, lengths), 1 + within] = np.frombuffer(b"".join(ids), np.uint8)
    out[rows, lengths + 1] = EOS
    return torch.from_numpy(out)


def is_residue(tokens: torch.Tensor) -> torch.Tensor:
    return tokens >= FIRST_RESIDUE


def residue_types(tokens: torch.Tensor) -> torch.Tensor:
    """Type index 0..20 of residue tokens (0 elsewhere; callers mask non-residues)."""
    return (tokens - FIRST_RESIDUE).clamp(min=0)
