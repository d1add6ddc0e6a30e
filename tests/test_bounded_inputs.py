"""Issue 29: bounded by construction. Each test is named after the attack it replays and fails on the
code before the fix (a hang, a MemoryError, a traceback, a silent wrong result)."""

from __future__ import annotations

import pickle
import time

import pytest

from lsdbench.errors import UserError
from lsdbench.tasks import safe_pickle


def _shared_lists(levels: int = 8, width: int = 10) -> bytes:
    """A ~230-byte pickle of nested shared lists that a walker expands to width**levels items."""
    nested = [0] * width
    for _ in range(levels):
        nested = [nested] * width
    return pickle.dumps({"seq": "MKV", "label": nested}, protocol=2)


def test_nested_shared_lists_record_is_refused_quickly():
    data = _shared_lists()
    assert len(data) < 300
    start = time.perf_counter()
    with pytest.raises(safe_pickle.UnsafePickleError, match="expands to more than .*LSDBENCH_MAX_RECORD_BYTES"):
        safe_pickle.loads(data)
    assert time.perf_counter() - start < 5


def test_self_containing_record_is_refused():
    cycle = []
    cycle.append(cycle)
    with pytest.raises(safe_pickle.UnsafePickleError, match="contains itself"):
        safe_pickle.loads(pickle.dumps({"label": cycle}))


def test_shared_parts_within_the_limit_still_load(monkeypatch):
    row = [1.0, 2.0]
    out = safe_pickle.loads(pickle.dumps({"a": [row] * 3, "b": (row, row)}))
    assert out == {"a": [[1.0, 2.0]] * 3, "b": ([1.0, 2.0], [1.0, 2.0])}
    monkeypatch.setenv("LSDBENCH_MAX_RECORD_BYTES", "100")
    with pytest.raises(safe_pickle.UnsafePickleError, match="limit pickle_expanded_bytes = 100"):
        safe_pickle.loads(pickle.dumps({"a": [row] * 30}))


def test_bad_limit_override_is_one_line(monkeypatch):
    monkeypatch.setenv("LSDBENCH_MAX_RECORD_BYTES", "lots")
    with pytest.raises(UserError, match="LSDBENCH_MAX_RECORD_BYTES='lots' is not a positive integer"):
        safe_pickle.loads(pickle.dumps([1]))
