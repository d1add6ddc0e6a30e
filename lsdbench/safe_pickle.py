"""A restricted unpickler for PEER's LMDB records, which are pickled dicts of plain data.

Unpickling an untrusted file with :mod:`pickle` can run arbitrary code. This unpickler resolves
no global except a short allow-list of plain-data constructors, so a crafted record fails loudly.
"""

from __future__ import annotations

import io
import pickle

# Plain containers and scalars need no globals at all; numpy scalars/arrays need these few.
_ALLOWED = {
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "complex"),
    ("collections", "OrderedDict"),
    ("numpy", "dtype"),
    ("numpy", "ndarray"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy._core.multiarray", "_reconstruct"),
}


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle refers to a global that is not plain data."""


class _PlainDataUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):  # noqa: D102
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise UnsafePickleError(f"refusing to load {module}.{name}: only plain data is allowed")


def loads(data: bytes):
    """Unpickle ``data`` admitting only plain data (dict, list, str, numbers, numpy arrays)."""
    return _PlainDataUnpickler(io.BytesIO(data)).load()
