"""Encoders as a user would write them in a file outside the package (loaded as path.py:attr)."""

from __future__ import annotations

import os

import numpy as np

ALPHABET = "ACDEFGHIKLMNPQRSTVWY"
_LOOKUP = np.full(256, -1, dtype=np.int64)
for _i, _c in enumerate(ALPHABET):
    _LOOKUP[ord(_c)] = _i


def composition(seq: str) -> np.ndarray:
    idx = _LOOKUP[np.frombuffer(seq.encode(), dtype=np.uint8)]
    counts = np.bincount(idx[idx >= 0], minlength=20).astype(np.float32)
    return np.concatenate([counts / max(len(seq), 1), [np.log(len(seq))]]).astype(np.float32)


class Composition:
    """A deterministic 21-d encoder that counts its calls (class attribute, for cache tests)."""

    calls = 0
    encoded = 0

    def __init__(self, scale: float = 1.0, max_length: int | None = None, die_after: int | None = None):
        self.name = "test_composition"
        self.scale = float(scale)
        self.max_length = max_length
        self.die_after = die_after

    @property
    def config(self):
        return {"scale": self.scale}

    def encode(self, sequences):
        type(self).calls += 1
        type(self).encoded += len(sequences)
        if self.die_after is not None and type(self).encoded > self.die_after:
            os._exit(9)  # as if killed: no cleanup, no exception handlers
        return np.stack([composition(s) * self.scale for s in sequences])


class PerResidue(Composition):
    """Returns per-residue arrays; the harness mean-pools them."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.name = "test_per_residue"

    def encode(self, sequences):
        type(self).calls += 1
        out = []
        for s in sequences:
            idx = _LOOKUP[np.frombuffer(s.encode(), dtype=np.uint8)]
            onehot = np.zeros((len(s), 20), dtype=np.float32)
            onehot[np.arange(len(s))[idx >= 0], idx[idx >= 0]] = 1.0
            out.append(onehot)
        return out


class Broken(Composition):
    """Misbehaves in a chosen way on sequences containing 'W' (so the first bad id is known)."""

    def __init__(self, mode: str = "nan", **kw):
        super().__init__(**kw)
        self.name = "test_broken"
        self.mode = mode

    def encode(self, sequences):
        good = super().encode(sequences)
        bad = [i for i, s in enumerate(sequences) if "W" in s]
        if not bad:
            return good
        if self.mode == "nan":
            good[bad[0], 0] = np.nan
            return good
        if self.mode == "inf":
            good[bad[0], 1] = np.inf
            return good
        if self.mode == "count":
            return good[:-1]
        if self.mode == "int":
            return good.astype(np.int64)
        if self.mode == "shape":
            return [np.zeros((len(s) + (1 if i == bad[0] else 0), 4), np.float32) for i, s in enumerate(sequences)]
        raise ValueError(self.mode)


instance = Composition(scale=2.0)


def factory(scale: float = 3.0):
    return Composition(scale=scale)


class ScaledFamily(Composition):
    """A one-parameter family (scale) with a shared expensive part, as diffusion encoders have."""

    sweep_param = "scale"
    shared_calls = 0

    def __init__(self, **kw):
        super().__init__(**kw)
        self.name = "test_family"

    def with_param(self, value):
        return ScaledFamily(scale=value, max_length=self.max_length)

    def encode_sweep(self, sequences, values):
        type(self).shared_calls += 1
        base = np.stack([composition(s) for s in sequences])  # computed once for all values
        return [base * float(v) for v in values]


class Unhealthy(Composition):
    """A model that reports a missed health target, as the reference models do."""

    health = {"passed": False, "missed": ["composition_r2"]}

    def __init__(self, **kw):
        super().__init__(**kw)
        self.name = "test_unhealthy"


class WeightsMissing:
    """Fails to build the way a reference model with absent weights does (not an EncoderError)."""

    def __init__(self, **kw):
        raise RuntimeError("checkpoint directory /nowhere does not exist")
