"""Alignment-free composition baselines: no parameters, no training, pure numpy.

- ``aac`` (:class:`AAC`, 20-d): fraction of each canonical residue, ``count / L``.
- ``dpc`` (:class:`DPC`, 400-d): fraction of each ordered pair of adjacent canonical residues,
  ``count / (L - 1)``; index ``20 * i + j`` for first residue ``i``, second ``j`` (CANONICAL order).
- ``kmer`` (:class:`KmerHash`, ``dim``-d, default 1024): counts of overlapping k-mers (k = 3) over the
  25-letter alphabet, hashed into ``dim`` buckets with a fixed 64-bit hash, divided by ``L - k + 1``.
- ``onehot_mean`` (:class:`OneHotMean`, 25-d): the per-residue one-hot encoding over the full alphabet
  (20 canonical + X B Z U O) mean-pooled; unlike AAC it keeps the non-canonical letters.
- ``length`` (:class:`LengthOnly`, 2-d): ``[log L, L]``, the floor any representation must clear.

Non-canonical letters (``ambiguous`` option of ``aac`` and ``dpc``): ``ignore`` (default, the textbook
definition) counts them in the length but in no feature, so a sequence of X is all zeros; ``spread``
shares each one out: B = D/N and Z = E/Q half each, U counts as C, O as K, X as 1/20 of every residue,
so the features sum to 1. Sequences too short for any dipeptide or k-mer (length 1) give zeros.

Every ``encode`` maps all sequences of a batch to codes at once (``np.frombuffer`` through a lookup table)
and counts with ``np.bincount``: no per-residue Python loop. Output is C-contiguous float32, computed in
float64 and rounded once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from lsdbench.encode.encoders import EncoderError
from lsdbench.tasks.sequences import ALPHABET, CANONICAL

from ._seq import N_CODES, as_bool, as_int, encode_concat, sequence_ids

__all__ = ["AAC", "DPC", "KmerHash", "OneHotMean", "LengthOnly", "ambiguity_matrix"]

AMBIGUOUS_POLICIES = ("ignore", "spread")
# residues a non-canonical letter stands for under the "spread" policy (X: all twenty)
_STANDS_FOR = {"X": CANONICAL, "B": "DN", "Z": "EQ", "U": "C", "O": "K"}
# composition features are cheap: let the harness hand over large batches
_BATCH_RESIDUES = 131072


def ambiguity_matrix(policy: str) -> np.ndarray:
    """(25, 20) float64 matrix: row ``c`` is how much a residue with code ``c`` adds to each canonical count."""
    if policy not in AMBIGUOUS_POLICIES:
        raise EncoderError(f"option ambiguous must be one of {AMBIGUOUS_POLICIES}, got {policy!r}")
    m = np.zeros((N_CODES, 20))
    m[np.arange(20), np.arange(20)] = 1.0
    if policy == "spread":
        for letter, targets in _STANDS_FOR.items():
            for t in targets:
                m[ALPHABET.index(letter), CANONICAL.index(t)] = 1.0 / len(targets)
    return m


def _finish(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float32)


def _divide(counts: np.ndarray, denominators: np.ndarray) -> np.ndarray:
    """``counts / denominators`` row-wise (float64); rows with a zero denominator stay zero."""
    d = denominators.astype(np.float64)
    return counts / np.where(d > 0, d, 1.0)[:, None]


def residue_counts(codes: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """(n, 25) int64 counts of each alphabet letter per sequence."""
    n = lengths.size
    return np.bincount(sequence_ids(lengths) * N_CODES + codes, minlength=n * N_CODES).reshape(n, N_CODES)


def pair_counts(codes: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """(n, 25, 25) int64 counts of adjacent letter pairs (first, second) per sequence."""
    n = lengths.size
    sid = sequence_ids(lengths)
    same = sid[:-1] == sid[1:]  # pairs that do not straddle two sequences
    flat = (sid[:-1][same] * N_CODES + codes[:-1][same]) * N_CODES + codes[1:][same]
    return np.bincount(flat, minlength=n * N_CODES * N_CODES).reshape(n, N_CODES, N_CODES)


class _Fractions:
    """What the composition encoders share: no length limit, the ambiguity policy, a fixed width, and
    ``encode``: the subclass's (soft) counts divided by its denominators."""

    max_length = None
    batch_residues = _BATCH_RESIDUES
    DIM: int
    FEATURES: str
    LAYOUT: dict[str, str] = {}  # config entries that say how the features are laid out

    def __init__(self, ambiguous: str = "ignore"):
        self.ambiguous = str(ambiguous)
        self._matrix = ambiguity_matrix(self.ambiguous)

    @property
    def dim(self) -> int:
        return self.DIM

    @property
    def config(self) -> dict[str, Any]:
        return {"version": 1, "features": self.FEATURES, "alphabet": CANONICAL, **self.LAYOUT,
                "ambiguous": self.ambiguous}

    def _counts(self, codes: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """((n, DIM) float64 counts of the canonical features, (n,) what each row is divided by)."""
        raise NotImplementedError

    def encode(self, sequences: Sequence[str]) -> np.ndarray:
        codes, lengths = encode_concat(sequences)
        if lengths.size == 0:
            return np.zeros((0, self.DIM), dtype=np.float32)
        return _finish(_divide(*self._counts(codes, lengths)))


class AAC(_Fractions):
    """Amino-acid composition (20-d): the fraction of each canonical residue, in ``CANONICAL`` order."""

    name = "aac"
    DIM = 20
    FEATURES = "amino-acid composition"

    def _counts(self, codes: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        counts = residue_counts(codes, lengths)
        if self.ambiguous == "ignore":
            return counts[:, :20].astype(np.float64), lengths
        return counts @ self._matrix, lengths


class DPC(_Fractions):
    """Dipeptide composition (400-d): fraction of each ordered adjacent canonical pair among the L - 1 pairs."""

    name = "dpc"
    DIM = 400
    FEATURES = "dipeptide composition"
    LAYOUT = {"order": "20*first+second"}

    def _counts(self, codes: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        counts = pair_counts(codes, lengths)
        if self.ambiguous == "ignore":
            soft = counts[:, :20, :20].astype(np.float64)
        else:
            m = self._matrix
            soft = np.einsum("ia,nij,jb->nab", m, counts.astype(np.float64), m, optimize=True)
        return soft.reshape(lengths.size, 400), lengths - 1


_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = 0x9E3779B97F4A7C15


def splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser on a uint64 array: a fixed, platform-independent 64-bit mix."""
    x = x.astype(np.uint64, copy=True)
    x ^= x >> np.uint64(30)
    x *= _M1
    x ^= x >> np.uint64(27)
    x *= _M2
    x ^= x >> np.uint64(31)
    return x


class KmerHash:
    """Overlapping k-mer counts hashed into ``dim`` buckets (the hashing trick), per k-mer of the sequence.

    A k-mer over the 25-letter alphabet is the integer ``sum(code[j] * 25 ** (k - 1 - j))``; its bucket is
    ``splitmix64(id + (seed + 1) * 0x9E3779B97F4A7C15) % dim``. With ``normalize`` (default) the counts are
    divided by the number of k-mers, ``L - k + 1``; sequences shorter than k give zeros.
    """

    name = "kmer"
    max_length = None
    batch_residues = _BATCH_RESIDUES

    def __init__(self, k: int = 3, dim: int = 1024, seed: int = 0, normalize: bool = True):
        self.k = as_int(k, "k", minimum=1)
        if self.k > 13:  # 25 ** k must fit in 64 bits
            raise EncoderError(f"option k must be <= 13, got {self.k}")
        self.dim = as_int(dim, "dim", minimum=1)
        self.seed = as_int(seed, "seed", minimum=0)
        self.normalize = as_bool(normalize, "normalize")

    @property
    def config(self) -> dict[str, Any]:
        return {"version": 1, "features": "hashed k-mer counts", "alphabet": ALPHABET, "k": self.k,
                "dim": self.dim, "seed": self.seed, "normalize": self.normalize, "hash": "splitmix64"}

    def kmer_ids(self, codes: np.ndarray) -> np.ndarray:
        """Integer id of the k-mer starting at each position that has k letters to its right (uint64)."""
        m = codes.size - self.k + 1
        if m <= 0:
            return np.zeros(0, dtype=np.uint64)
        ids = np.zeros(m, dtype=np.uint64)
        for j in range(self.k):  # k passes over the array, not a loop over residues
            ids = ids * np.uint64(N_CODES) + codes[j:j + m].astype(np.uint64)
        return ids

    def buckets(self, kmer_ids: np.ndarray) -> np.ndarray:
        offset = np.uint64(((self.seed + 1) * _GOLDEN) % (1 << 64))
        return (splitmix64(kmer_ids + offset) % np.uint64(self.dim)).astype(np.int64)

    def bucket_of(self, kmer: str) -> int:
        """The bucket a single k-mer string falls in (for inspection and tests)."""
        codes, _ = encode_concat([kmer])
        if codes.size != self.k:
            raise ValueError(f"{kmer!r} is not a {self.k}-mer")
        return int(self.buckets(self.kmer_ids(codes))[0])

    def encode(self, sequences: Sequence[str]) -> np.ndarray:
        codes, lengths = encode_concat(sequences)
        n = lengths.size
        if n == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        sid = sequence_ids(lengths)
        ids = self.kmer_ids(codes)
        valid = sid[:ids.size] == sid[self.k - 1:]  # the k-mer lies within one sequence
        flat = sid[:ids.size][valid] * self.dim + self.buckets(ids[valid])
        counts = np.bincount(flat, minlength=n * self.dim).reshape(n, self.dim).astype(np.float64)
        if self.normalize:
            counts = _divide(counts, np.maximum(lengths - self.k + 1, 0))
        return _finish(counts)


class OneHotMean:
    """Mean of the per-residue one-hot encoding over the full 25-letter alphabet (20 canonical + X B Z U O)."""

    name = "onehot_mean"
    max_length = None
    batch_residues = _BATCH_RESIDUES
    dim = N_CODES

    @property
    def config(self) -> dict[str, Any]:
        return {"version": 1, "features": "mean one-hot", "alphabet": ALPHABET}

    def encode(self, sequences: Sequence[str]) -> np.ndarray:
        codes, lengths = encode_concat(sequences)
        if lengths.size == 0:
            return np.zeros((0, N_CODES), dtype=np.float32)
        return _finish(_divide(residue_counts(codes, lengths).astype(np.float64), lengths))


class LengthOnly:
    """Sequence length alone, as ``[log L, L]``: the control any representation must beat."""

    name = "length"
    max_length = None
    batch_residues = _BATCH_RESIDUES
    dim = 2

    @property
    def config(self) -> dict[str, Any]:
        return {"version": 1, "features": ["log_length", "length"]}

    def encode(self, sequences: Sequence[str]) -> np.ndarray:
        _, lengths = encode_concat(sequences)  # validates the letters like every other baseline
        length = lengths.astype(np.float64)
        return _finish(np.stack([np.log(length), length], axis=1).reshape(lengths.size, 2))
