"""A restricted unpickler for PEER's LMDB records, which are pickled dicts of plain data.

Unpickling an untrusted file with :mod:`pickle` can run arbitrary code, and even numpy's own
constructors are unsafe to hand to a pickle: ``numpy.ndarray((1,), 'O', b'AAAAAAAA')`` builds an
object array of forged pointers (a segfault on first use) and ``numpy.ndarray((2**28,), 'f8')``
allocates gigabytes from a 40-byte record. So no real callable is ever handed out: the few globals
that numpy pickles name resolve to our own stand-ins, which only record their arguments. After
loading, numeric arrays (kinds b, i, u, f, c) are rebuilt from the raw bytes the pickle itself
carries, so an array can never be larger than the record; anything else is refused.

Admitted: str, bytes, int, float, bool, None, list, tuple, dict (and OrderedDict, as a dict), numpy
scalars (as Python numbers) and numeric numpy arrays.
"""

from __future__ import annotations

import io
import math
import pickle
import re

import numpy as np

from lsdbench.errors import UserError
from lsdbench.settings import PICKLE_DEPTH, PICKLE_EXPANDED_BYTES, PICKLE_RECORD_BYTES
from lsdbench.text import excerpt as _short

MAX_BYTES = PICKLE_RECORD_BYTES.default  # far above any PEER record (a few KiB); bounds what one record may cost
MAX_DEPTH = PICKLE_DEPTH.default
_NUMERIC_DTYPE = re.compile(r"^[biufc][0-9]{1,2}$")


class UnsafePickleError(UserError, pickle.UnpicklingError):
    """The pickle refers to a global that is not plain data, or holds a non-numeric array."""


class _NdarrayToken:
    """Stands for ``numpy.ndarray`` as the class argument of ``_reconstruct``; not callable, no state."""

    __slots__ = ()

    def __setstate__(self, state):
        raise UnsafePickleError("refusing state for numpy.ndarray itself")


_NDARRAY = _NdarrayToken()


class _Dtype:
    """A dtype named in the pickle; only a numeric one becomes a real dtype (in ``resolve``)."""

    def __init__(self, name):
        if not isinstance(name, str) or not _NUMERIC_DTYPE.match(name):
            raise UnsafePickleError(f"refusing numpy dtype {_short(name)}: only numeric arrays are allowed")
        self.name, self.order = name, "="

    def __setstate__(self, state):
        if not isinstance(state, tuple) or len(state) < 2 or state[1] not in ("<", ">", "|", "="):
            raise UnsafePickleError("refusing a numpy dtype with an unexpected state")
        self.order = state[1]

    def resolve(self) -> np.dtype:
        dtype = np.dtype(self.name)
        if dtype.kind not in "biufc":
            raise UnsafePickleError(f"refusing numpy dtype {self.name!r}: only numeric arrays are allowed")
        return dtype.newbyteorder(self.order) if self.order in "<>" else dtype


class _Array:
    """An array to be rebuilt from bytes; filled by ``__setstate__`` (pickle's BUILD) or directly."""

    def __init__(self, shape=None, dtype=None, raw=None, fortran=False):
        self.shape, self.dtype, self.raw, self.fortran = shape, dtype, raw, fortran

    def __setstate__(self, state):
        if not isinstance(state, tuple) or len(state) != 5:
            raise UnsafePickleError("refusing a numpy array with an unexpected state")
        _, self.shape, self.dtype, self.fortran, self.raw = state

    def resolve(self) -> np.ndarray:
        if not isinstance(self.dtype, _Dtype):
            raise UnsafePickleError("refusing a numpy array without a numeric dtype")
        if not isinstance(self.raw, (bytes, bytearray)):
            raise UnsafePickleError("refusing a numpy array whose data is not raw bytes")
        shape = self.shape
        if not isinstance(shape, tuple) or not all(type(n) is int and n >= 0 for n in shape) or len(shape) > 32:
            raise UnsafePickleError(f"refusing a numpy array of shape {_short(shape)}")
        dtype = self.dtype.resolve()
        # The element count comes from the shape, the bytes from the pickle: they must agree exactly,
        # so the array is never larger than the record that carried it.
        if math.prod(shape) * dtype.itemsize != len(self.raw):
            raise UnsafePickleError(f"refusing a numpy array of shape {shape} and dtype {dtype}: "
                                    f"{len(self.raw)} data bytes do not match")
        flat = np.frombuffer(bytes(self.raw), dtype=dtype)
        return flat.reshape(shape, order="F" if self.fortran else "C").copy()


def _dtype(name, align=False, copy=False):
    return _Dtype(name)  # a function, so the pickle never holds our class itself


def _reconstruct(cls, shape, typecode):
    if cls is not _NDARRAY:
        raise UnsafePickleError("refusing numpy _reconstruct of anything but a plain ndarray")
    return _Array()


def _frombuffer(buf, dtype, shape, order):
    return _Array(shape=tuple(shape) if isinstance(shape, (tuple, list)) else shape, dtype=dtype,
                  raw=buf, fortran=order == "F")


def _scalar(dtype, raw=None):
    value = _Array(shape=(), dtype=dtype, raw=raw).resolve()
    return value.item()  # a Python number: nothing numpy-specific survives into the record


def _codecs_encode(text, encoding="utf-8"):
    # Protocol-2 pickles spell bytes as _codecs.encode(str, 'latin1'); nothing else is needed.
    if not isinstance(text, str) or encoding != "latin1":
        raise UnsafePickleError("refusing _codecs.encode other than str -> latin1 bytes")
    return text.encode("latin1")


def _ordered_dict(items=()):
    return dict(items)


_STAND_INS = {
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): _dtype,
    ("_codecs", "encode"): _codecs_encode,
    ("collections", "OrderedDict"): _ordered_dict,
}
for _core in ("numpy.core", "numpy._core"):
    _STAND_INS[(f"{_core}.multiarray", "_reconstruct")] = _reconstruct
    _STAND_INS[(f"{_core}.multiarray", "scalar")] = _scalar
    _STAND_INS[(f"{_core}.numeric", "_frombuffer")] = _frombuffer


class _PlainDataUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):  # noqa: D102
        stand_in = _STAND_INS.get((module, name))
        if stand_in is None:
            raise UnsafePickleError(f"refusing to load {_short(module, quote=False)}.{_short(name, quote=False)}: only plain data is allowed")
        return stand_in


_ITEM_BYTES = 8  # what one reference in a list, tuple or dict costs a consumer that walks the record
_IN_PROGRESS = object()


class _Budget:
    """The expanded size of a record: a shared list counts each time it is referenced, since whoever
    walks the record (a length, a join, an array) walks it that many times; a cycle never ends."""

    def __init__(self):
        self.limit = PICKLE_EXPANDED_BYTES.value()
        self.alive = []  # the inputs already replaced, kept so that no id in the memo is reused

    def check(self, cost: int) -> int:
        if cost > self.limit:
            raise UnsafePickleError(f"refusing a record that expands to more than {self.limit:,} bytes "
                                    f"(shared parts counted each time they are referenced; "
                                    f"{PICKLE_EXPANDED_BYTES.hint()})")
        return cost


def _plain(obj, memo: dict, depth: int, budget: _Budget):
    """Replace array stand-ins by real arrays, refuse any other foreign object; return (value, cost)."""
    if depth > MAX_DEPTH:
        raise UnsafePickleError(f"refusing data nested deeper than {MAX_DEPTH} levels")
    if obj is None or type(obj) in (int, float, bool):
        return obj, _ITEM_BYTES
    if type(obj) in (str, bytes):
        return obj, _ITEM_BYTES + len(obj)
    seen = memo.get(id(obj))
    if seen is _IN_PROGRESS:
        raise UnsafePickleError("refusing a record that contains itself (a cycle is never plain data)")
    if seen is not None:
        return seen
    memo[id(obj)] = _IN_PROGRESS
    cost = _ITEM_BYTES
    if isinstance(obj, _Array):
        out = obj.resolve()
        cost += out.nbytes
    elif type(obj) in (list, tuple):
        items = []
        for x in obj:
            value, part = _plain(x, memo, depth + 1, budget)
            items.append(value)
            cost = budget.check(cost + part)
        if type(obj) is list:
            obj[:] = items
            out = obj
        else:
            out = tuple(items)
    elif type(obj) is dict:
        for key in list(obj):
            if not (key is None or type(key) in (str, bytes, int, float, bool, tuple)):
                raise UnsafePickleError(f"refusing a dict key of type {type(key).__name__}")
            obj[key], part = _plain(obj[key], memo, depth + 1, budget)
            cost = budget.check(cost + part + _ITEM_BYTES)
        out = obj
    elif type(obj) in (bytearray, set, frozenset, complex):
        out = obj  # built by pickle opcodes without any global: plain data
        cost += len(obj) * _ITEM_BYTES if type(obj) is not complex else 0
    else:
        raise UnsafePickleError(f"refusing an object of type {type(obj).__name__}: only plain data is allowed")
    budget.alive.append(obj)
    memo[id(obj)] = (out, budget.check(cost))
    return memo[id(obj)]


def loads(data: bytes, *, max_bytes: int = MAX_BYTES):
    """Unpickle ``data`` admitting only plain data (dict, list, str, numbers, numeric numpy arrays)."""
    if len(data) > max_bytes:
        raise UnsafePickleError(f"refusing a pickled record of {len(data)} bytes (limit {max_bytes})")
    try:
        obj = _PlainDataUnpickler(io.BytesIO(data)).load()
    except UnsafePickleError:
        raise
    except Exception as exc:  # malformed input: one clear error, never a crash of the caller's loop
        raise UnsafePickleError(f"not a valid pickle of plain data: {type(exc).__name__}: {_short(str(exc))}") from None
    return _plain(obj, {}, 0, _Budget())[0]
