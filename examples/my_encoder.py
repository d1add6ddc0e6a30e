"""A user's encoder, written without touching lsdbench: amino-acid plus dipeptide composition.

Anything with ``name``, ``config`` and ``encode(sequences) -> (n, d) float32`` is an encoder. Score it
from the command line:

    lsdbench eval --encoder examples/my_encoder.py:CompositionPlusDipeptide --suite open --out my_results

or from pytest (see test_my_encoder.py next to this file).
"""

from __future__ import annotations

import numpy as np

AMINO = "ACDEFGHIKLMNPQRSTVWY"
_INDEX = np.full(256, 20, dtype=np.int64)  # anything else (X, B, Z, U, O) -> bucket 20, left out below
_INDEX[np.frombuffer(AMINO.encode(), dtype=np.uint8)] = np.arange(20)


class CompositionPlusDipeptide:
    """20 residue frequencies + 400 dipeptide frequencies (420-d), vectorised with numpy."""

    name = "example_aac_dpc"

    def __init__(self, weight_dipeptides: float = 1.0):
        self.weight_dipeptides = float(weight_dipeptides)

    @property
    def config(self) -> dict:
        return {"weight_dipeptides": self.weight_dipeptides}

    def encode(self, sequences):
        out = np.zeros((len(sequences), 420), dtype=np.float32)
        for row, seq in enumerate(sequences):
            idx = _INDEX[np.frombuffer(seq.encode(), dtype=np.uint8)]
            single = np.bincount(idx, minlength=21)[:20]
            pairs = idx[:-1] * 21 + idx[1:]
            double = np.bincount(pairs, minlength=441).reshape(21, 21)[:20, :20].ravel()
            out[row, :20] = single / max(len(seq), 1)
            out[row, 20:] = self.weight_dipeptides * double / max(len(seq) - 1, 1)
        return out
