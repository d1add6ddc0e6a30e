"""Readers for record files: JSON-lines, JSON (an array of objects) and Parquet.

Values keep the types their file gave them until :func:`cell` writes each as text the way the
delimited readers would read it: ``1.0`` as ``1`` (pandas stores an integer column with a gap as
floats), missing values as empty, booleans as ``true`` / ``false``, nested values as compact JSON.

JSON is parsed by the standard library rather than ``pandas.read_json``, which guesses types: it
turns the id ``"007"`` into the number 7 and date-named columns into timestamps, differently across
pandas versions. Parquet is read by pandas through pyarrow, an optional dependency (``lsdbench[parquet]``).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from lsdbench.tasks.rows import FormatError, _finish, read_text
from lsdbench.text import excerpt

# pyarrow before 14.0.1 could run code from a crafted Parquet file (CVE-2023-47248): task files are untrusted.
PYARROW_MIN = (14, 0, 1)
_PANDAS_MISSING = ("NAType", "NaTType")  # pandas.NA and NaT, named so JSON files need no pandas import


def cell(value: Any) -> str:
    """One value of a record as the text a row holds."""
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):  # numpy scalars and arrays
        value = value.tolist()
    if value is None or type(value).__name__ in _PANDAS_MISSING or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) <= 2 ** 53 else repr(value)
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, separators=(",", ":"), default=str)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


class _DuplicateKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen = set()
        raise _DuplicateKey(next(k for k, _ in pairs if k in seen or seen.add(k)))
    return out


def _loads(text: str, where: str, hint: str, *, one_line: bool = False) -> Any:
    try:
        return json.loads(text, object_pairs_hook=_unique_keys)
    except _DuplicateKey as exc:
        raise FormatError(f"{where}: key {excerpt(exc.args[0], 40)} appears twice in one object; which one holds "
                          f"the value is ambiguous, so neither is used: remove one") from None
    except json.JSONDecodeError as exc:
        at = f"column {exc.colno}" if one_line else f"line {exc.lineno} column {exc.colno}"
        raise FormatError(f"{where}: not valid JSON ({exc.msg} at {at}); {hint}") from None
    except (ValueError, RecursionError) as exc:  # 5000-digit integers, nesting deeper than the stack
        raise FormatError(f"{where}: JSON value cannot be read ({type(exc).__name__}: "
                          f"{excerpt(str(exc), 80)})") from None


def _record(value: Any, fmt: dict[str, Any], default_id: str, where: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise FormatError(f"{where}: a JSON {_json_type(value)} where an object {{\"sequence\": ..., "
                          f"\"label\": ...}} was expected")
    return _finish({key: cell(v) for key, v in value.items()}, fmt, default_id, where)


def _json_type(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(type(value),
                                                                                                   "number")


def read_jsonl(path: Path, fmt: dict[str, Any], *, prefix: str, display: str) -> list[dict]:
    """JSON-lines: one object per line; blank lines are skipped."""
    rows = []
    for lineno, line in enumerate(read_text(path, display).splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{display} line {lineno}"
        value = _loads(line, where, "JSON-lines holds one object per line (for one array of objects "
                                    "use kind = \"json\")", one_line=True)
        rows.append(_record(value, fmt, f"{prefix}-{len(rows)}", where))
    return rows


def read_json(path: Path, fmt: dict[str, Any], *, prefix: str, display: str) -> list[dict]:
    """JSON records: one array of objects, ``[{"sequence": ..., "label": ...}, ...]``."""
    data = _loads(read_text(path, display), display, "kind = \"json\" reads one array of objects (for one "
                                                     "object per line use kind = \"jsonl\")")
    if not isinstance(data, list):
        raise FormatError(f"{display}: the top level is a JSON {_json_type(data)}; kind = \"json\" reads an "
                          f"array of records [{{...}}, ...] (one object per line is kind = \"jsonl\")")
    return [_record(value, fmt, f"{prefix}-{i}", f"{display} record {i}") for i, value in enumerate(data)]


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", text)[:3])


def read_parquet(path: Path, fmt: dict[str, Any], *, prefix: str, display: str) -> list[dict]:
    """Parquet through pandas and pyarrow (never fastparquet: one engine, one set of types)."""
    try:
        import pyarrow
    except ImportError:
        raise FormatError(f"{display}: reading Parquet needs pyarrow, which is not installed: "
                          f"pip install pyarrow (or pip install 'lsdbench[parquet]')") from None
    if _version(pyarrow.__version__) < PYARROW_MIN:
        raise FormatError(f"{display}: pyarrow {pyarrow.__version__} can run code hidden in a Parquet file "
                          f"(CVE-2023-47248); pip install 'pyarrow>=14.0.1'")
    import pandas as pd

    try:
        frame = pd.read_parquet(path, engine="pyarrow")
    except (pyarrow.ArrowException, ValueError, TypeError, OSError, NotImplementedError) as exc:
        raise FormatError(f"{display}: not a readable Parquet file ({type(exc).__name__}: "
                          f"{excerpt(str(exc), 120, quote=False)})") from None
    return [_record({str(k): v for k, v in record.items()}, fmt, f"{prefix}-{i}", f"{display} row {i}")
            for i, record in enumerate(frame.to_dict("records"))]


READERS = {"jsonl": read_jsonl, "json": read_json, "parquet": read_parquet}
