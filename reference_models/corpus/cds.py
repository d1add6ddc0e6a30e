"""Coding sequences (CDS, nucleotides) to proteins: the standard genetic code, as clean ORFs.

Rules, checked in this order (the first that fails is the record's drop reason, counted):

- ``empty``: a header without sequence;
- ``not_nucleotide``: a character outside IUPAC nucleotide codes (ACGTU and the ambiguity letters);
- ``internal_stop``: a stop codon before the last codon (one terminal stop is removed, not counted);
- ``too_short``: fewer than ``MIN_LENGTH`` (30) amino acids after the terminal stop is removed.

A trailing partial codon (length not a multiple of 3) is cut off and counted as ``partial_codon`` (a
frameshifted fragment is caught as ``internal_stop`` instead). A codon with an ambiguous base translates to
X. The first codon is read as M when it is a start codon of NCBI translation table 11 (bacteria, archaea and plastids: ATG GTG TTG CTG ATT ATC ATA), because the
initiator tRNA reads it as methionine; table 11 assigns every other codon as the standard code does.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator

import numpy as np

from reference_models.corpus.token_files import WHITESPACE

MIN_LENGTH = 30
DROP_REASONS = ("empty", "not_nucleotide", "internal_stop", "too_short")
START_CODONS = frozenset({b"ATG", b"GTG", b"TTG", b"CTG", b"ATT", b"ATC", b"ATA"})
# the standard code (NCBI table 1), codons in TCAG order: TTT TTC TTA TTG TCT ...
STANDARD_CODE = b"FFLLSSSSYY**CC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG"
_IUPAC = b"ACGTURYSWKMBDHVN"

_BASE = np.full(256, 4, np.uint8)  # 0..3 = T C A G, 4 = ambiguous
for _i, _c in enumerate(b"TCAG"):
    _BASE[_c] = _i
_BASE[ord("U")] = 0
# 125 codons over a 5-letter base alphabet: any ambiguous base gives X
_TABLE = np.full(125, ord("X"), np.uint8)
for _a in range(4):
    for _b in range(4):
        for _c in range(4):
            _TABLE[25 * _a + 5 * _b + _c] = STANDARD_CODE[16 * _a + 4 * _b + _c]
_UPPER = bytes.maketrans(b"abcdefghijklmnopqrstuvwxyz", b"ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def translate(nucleotides: bytes) -> tuple[bytes | None, tuple[str, ...]]:
    """(protein, notes) of one CDS (whitespace allowed): protein is None when dropped, notes (the reason,)
    then; otherwise notes holds ``partial_codon`` (one cut off) and ``alternative_start`` (a non-ATG start
    codon read as M) where they apply."""
    nt = nucleotides.translate(_UPPER, WHITESPACE)
    if not nt:
        return None, ("empty",)
    if nt.translate(None, _IUPAC):
        return None, ("not_nucleotide",)
    notes = ("partial_codon",) if len(nt) % 3 else ()
    nt = nt[:len(nt) - len(nt) % 3]
    codes = _BASE[np.frombuffer(nt, np.uint8)].reshape(-1, 3).astype(np.intp)
    protein = _TABLE[25 * codes[:, 0] + 5 * codes[:, 1] + codes[:, 2]].tobytes()
    if protein.endswith(b"*"):
        protein = protein[:-1]
    if b"*" in protein:
        return None, ("internal_stop",)
    if len(protein) < MIN_LENGTH:
        return None, ("too_short",)
    start = nt[:3].replace(b"U", b"T")
    if start in START_CODONS and protein[:1] != b"M":
        return b"M" + protein[1:], (*notes, "alternative_start")
    return protein, notes


def translate_records(records: Iterable[bytes], counts: Counter) -> Iterator[bytes]:
    """Proteins of the CDS ``records`` (raw FASTA bodies); ``counts`` gets ``input``, ``kept``, each drop
    reason, ``partial_codon`` and ``alternative_start`` (among those kept) as the stream is consumed."""
    for raw in records:
        counts["input"] += 1
        protein, notes = translate(raw)
        counts.update(notes)
        if protein is not None:
            counts["kept"] += 1
            yield protein
