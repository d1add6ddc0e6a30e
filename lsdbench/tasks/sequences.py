"""Normalisation and validation of protein sequences read from task files."""

from __future__ import annotations

import re

from lsdbench.errors import UserError
from lsdbench.text import excerpt

CANONICAL = "ACDEFGHIKLMNPQRSTVWY"
# 20 canonical residues plus X (unknown), B (D/N), Z (E/Q), U (selenocysteine), O (pyrrolysine).
ALPHABET = CANONICAL + "XBZUO"
_INVALID = re.compile(f"[^{ALPHABET}]")
_WHITESPACE = re.compile(r"\s+")


class SequenceError(UserError, ValueError):
    """A sequence in a task file is empty or holds letters outside the amino-acid alphabet."""


def normalize(sequence: str, *, source: str, record: str) -> str:
    """Strip whitespace and upper-case (ASCII only: the case fold never makes a residue of another
    letter); raise SequenceError naming the file and record when invalid."""
    if not isinstance(sequence, str):
        raise SequenceError(f"{source}: record {excerpt(record)}: sequence is not text ({type(sequence).__name__})")
    seq = _WHITESPACE.sub("", sequence)
    if not seq.isascii():  # before upper(): it folds dotless 'ı' to I, long 'ſ' to S and 'ß' to SS
        at, char = next((i, c) for i, c in enumerate(seq) if not c.isascii())
        raise SequenceError(f"{source}: record {excerpt(record)}: letter {char!r} at position {at + 1} is not an "
                            f"ASCII letter; only the amino-acid alphabet {ALPHABET} (either case) is read")
    seq = seq.upper()
    if not seq:
        raise SequenceError(f"{source}: record {excerpt(record)}: empty sequence")
    bad = _INVALID.search(seq)
    if bad:
        raise SequenceError(
            f"{source}: record {excerpt(record)}: letter {bad.group()!r} at position {bad.start() + 1} "
            f"is outside the amino-acid alphabet {ALPHABET}"
        )
    return seq
