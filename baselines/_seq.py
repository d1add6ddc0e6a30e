"""Vectorised sequence helpers shared by the baselines: letters -> small integer codes, without Python loops."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from lsdbench.encode.encoders import EncoderError
from lsdbench.tasks.sequences import ALPHABET, CANONICAL

# codes 0..19 are the canonical residues in CANONICAL order, 20..24 are X B Z U O
N_CODES = len(ALPHABET)
assert ALPHABET[:20] == CANONICAL


def lookup_table(values: Sequence[int], invalid: int = -1) -> np.ndarray:
    """A 256-entry table mapping the ASCII byte of each ALPHABET letter (either case) to ``values[i]``."""
    table = np.full(256, invalid, dtype=np.int64)
    for letter, value in zip(ALPHABET, values, strict=True):
        table[ord(letter)] = value
        table[ord(letter.lower())] = value
    return table


CODE_TABLE = lookup_table(range(N_CODES))


def encode_concat(sequences: Sequence[str], table: np.ndarray = CODE_TABLE) -> tuple[np.ndarray, np.ndarray]:
    """All sequences mapped through ``table`` and concatenated, plus their lengths (int64).

    Raises ValueError naming the first sequence with a letter outside the alphabet or of length 0.
    """
    seqs = list(sequences)
    lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
    if lengths.size and lengths.min() == 0:
        raise ValueError(f"sequence {int(np.argmin(lengths))} is empty")
    try:
        raw = "".join(seqs).encode("ascii")
    except UnicodeEncodeError:
        bad = next(i for i, s in enumerate(seqs) if not s.isascii())
        raise ValueError(f"sequence {bad} holds a non-ASCII letter; alphabet is {ALPHABET}") from None
    codes = table[np.frombuffer(raw, dtype=np.uint8)]
    if codes.size and codes.min() < 0:
        pos = int(np.argmax(codes < 0))
        which = int(np.searchsorted(np.cumsum(lengths), pos, side="right"))
        raise ValueError(f"sequence {which}: letter {chr(raw[pos])!r} is outside the alphabet {ALPHABET}")
    return codes, lengths


def sequence_ids(lengths: np.ndarray) -> np.ndarray:
    """For each position of the concatenation, the index of the sequence it belongs to."""
    return np.repeat(np.arange(lengths.size, dtype=np.int64), lengths)


def padded(codes: np.ndarray, lengths: np.ndarray, *, offset: int = 0, fill: int = 0,
           width: int | None = None) -> np.ndarray:
    """(n, width) int64 matrix: row i holds sequence i's codes from column ``offset``, the rest ``fill``."""
    width = int(lengths.max()) + offset if width is None else width
    out = np.full((lengths.size, width), fill, dtype=np.int64)
    cols = np.arange(width - offset)
    out[:, offset:][cols[None, :] < lengths[:, None]] = codes  # row-major order matches the concatenation
    return out


def as_int(value: Any, name: str, *, minimum: int | None = None) -> int:
    """An integer option given as int or string (CLI options arrive as strings or JSON scalars)."""
    try:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError
        out = int(value)
    except (TypeError, ValueError):
        raise EncoderError(f"option {name} must be an integer, got {value!r}") from None
    if minimum is not None and out < minimum:
        raise EncoderError(f"option {name} must be >= {minimum}, got {out}")
    return out


def as_bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise EncoderError(f"option {name} must be true or false, got {value!r}")
