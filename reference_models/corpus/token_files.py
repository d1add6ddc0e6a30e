"""The token files of a prepared corpus: byte-level token ids, sequence keys, and ``TokenCorpus``, which reads
a split through ``numpy.memmap``. ``corpus.py`` writes these files; this module imports neither torch nor the
harness (``alphabet.py`` builds on its tables).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from lsdbench.errors import UserError

FORMAT = "lsd-tokens-1"
SPLITS = ("train", "heldout")
KEY_BYTES = 16
HELDOUT_SEED = 0  # data.split_heldout's default seed: the key is sha256(f"{seed}:{sequence}")
KEY_DOC = "SPLIT.keys: per sequence, the first 16 bytes of sha256('0:' + sequence), sequence in upper case"

# token ids of alphabet.py: 0 pad, 1 mask, 2 bos, 3 eos, 4..23 canonical residues, 24 X
_CANONICAL = b"ACDEFGHIKLMNPQRSTVWY"
_FIRST_RESIDUE, _X = 4, 24
INVALID = 255
WHITESPACE = b" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"  # what str.split() drops among ASCII bytes
_TO_ID = bytearray([INVALID] * 256)
for _c in range(ord("A"), ord("Z") + 1):
    _TO_ID[_c] = _TO_ID[_c + 32] = _X  # every other letter is X (B, Z, U, O, J...), lower case too
for _i, _c in enumerate(_CANONICAL):
    _TO_ID[_c] = _TO_ID[_c + 32] = _FIRST_RESIDUE + _i
TO_ID = bytes(_TO_ID)
_TO_LETTER = bytearray(b"?" * 256)
for _i, _c in enumerate(_CANONICAL + b"X"):
    _TO_LETTER[_FIRST_RESIDUE + _i] = _c
TO_LETTER = bytes(_TO_LETTER)


class CorpusError(UserError, ValueError):
    """The source cannot be read as protein sequences, or a prepared corpus is incomplete."""


def tokenize(raw: bytes, where: str = "") -> bytes:
    """Token ids (one byte each) of a raw sequence: ``alphabet.encode`` without the Python loop."""
    ids = raw.translate(TO_ID, WHITESPACE)
    bad = ids.find(INVALID)
    if bad >= 0:
        char = chr(raw.translate(None, WHITESPACE)[bad])
        raise CorpusError(f"character {char!r} at position {bad + 1}{where} is not an amino-acid letter")
    return ids


def sequence_key(letters: bytes) -> bytes:
    """The 16-byte key of a normalized sequence: a prefix of ``data.split_heldout``'s ranking hash."""
    return hashlib.sha256(b"%d:%s" % (HELDOUT_SEED, letters)).digest()[:KEY_BYTES]


class TokenCorpus:
    """One split of a prepared corpus, memory-mapped: ``len``, ``lengths``, ``corpus[i]`` (a str),
    slices (lists of str), and iteration. Only offsets and lengths are read into memory (12 bytes a sequence)."""

    def __init__(self, directory, split: str):
        directory = Path(directory)
        self.directory, self.split = directory, split
        bin_path, idx_path = directory / f"{split}.bin", directory / f"{split}.idx"
        for p in (bin_path, idx_path):
            if not p.is_file():
                raise CorpusError(f"prepared corpus {directory} lacks {p.name}")
        self.offsets = np.fromfile(idx_path, np.int64)  # written as uint64; < 2**63
        size = bin_path.stat().st_size
        if len(self.offsets) == 0 or self.offsets[0] != 0 or self.offsets[-1] != size:
            raise CorpusError(f"{idx_path} does not match {bin_path} ({size} bytes): prepare the data again")
        self.tokens = np.memmap(bin_path, np.uint8, "r") if size else np.zeros(0, np.uint8)
        self.lengths = np.subtract(self.offsets[1:], self.offsets[:-1], dtype=np.int32, casting="unsafe")

    def __len__(self) -> int:
        return len(self.lengths)

    def ids(self, i: int) -> np.ndarray:
        return self.tokens[self.offsets[i]:self.offsets[i + 1]]

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        return self.ids(i).tobytes().translate(TO_LETTER).decode("ascii")

    def __iter__(self) -> Iterator[str]:
        for i in range(len(self)):
            yield self[i]

    def residue_counts(self, n_types: int, first: int = _FIRST_RESIDUE, block: int = 1 << 20) -> np.ndarray:
        """Counts of each residue type over the split, read in 1 MiB blocks (never the whole file at once)."""
        counts = np.zeros(256, np.int64)
        with open(self.directory / f"{self.split}.bin", "rb") as f:
            for chunk in iter(lambda: f.read(block), b""):
                counts += np.bincount(np.frombuffer(chunk, np.uint8), minlength=256)
        return counts[first:first + n_types]
