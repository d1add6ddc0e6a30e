"""Readers for the real file formats of the registered tasks.

Each reader returns rows as dicts of strings with at least ``id``, ``sequence`` and ``label``
(and ``sequence_b`` for pairs), plus every raw column so cards can filter on them (``where``).
Which raw column feeds which field is written in the card's ``[format]`` table.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from . import safe_pickle
from .text import excerpt


class FormatError(ValueError):
    """A task file does not have the layout its card describes."""


def _finish(raw: dict[str, Any], fmt: dict[str, Any], default_id: str, display: str) -> dict[str, str]:
    row = {k: "" if v is None else str(v) for k, v in raw.items()}
    for field in ("sequence", "sequence_b", "label"):
        column = fmt.get(field)
        if column is None:
            continue
        if column not in row:
            raise FormatError(f"{display}: record {excerpt(default_id)} has no column {column!r} (has {excerpt(sorted(row), 120)})")
        row[field] = row[column]
    id_column = fmt.get("id")
    row["id"] = row.get(id_column, "") if id_column else default_id
    if not row["id"]:
        raise FormatError(f"{display}: record {excerpt(default_id)} has an empty id column {id_column!r}")
    return row


def read_text(path: Path, display: str) -> str:
    """A text file as str: UTF-8 (BOM or not), or UTF-16 when it starts with a UTF-16 byte-order mark."""
    data = path.read_bytes()
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"  # what Windows tools write as "Unicode"
    else:
        encoding = "utf-8-sig"
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise FormatError(f"{display}: line {line} is not {encoding.upper().replace('-SIG', '')} text "
                          f"(byte {data[exc.start:exc.start + 1]!r} at offset {exc.start}); save the file as "
                          f"UTF-8") from None


def read_delimited(path: Path, fmt: dict[str, Any], *, prefix: str, display: str, delimiter: str) -> list[dict]:
    text = read_text(path, display)
    header = fmt.get("header", delimiter == ",")
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    columns = fmt.get("columns")
    rows = []
    for lineno, fields in enumerate(reader, start=1):
        if not fields or all(not f.strip() for f in fields):
            continue
        if header and columns is None:
            columns = [c.strip() for c in fields]
            continue
        if header and lineno == 1:
            continue
        if columns is None:
            raise FormatError(f"{display}: no header and no format.columns to name the fields")
        if len(fields) != len(columns):
            raise FormatError(f"{display}: line {lineno} has {len(fields)} fields, expected {len(columns)} "
                              f"({', '.join(columns)})")
        index = len(rows)
        rows.append(_finish(dict(zip(columns, fields, strict=True)), fmt, f"{prefix}-{index}", f"{display} line {lineno}"))
    return rows


_DEFAULT_HEADER = r"^(?P<id>\S+)"


def read_fasta(path: Path, fmt: dict[str, Any], *, prefix: str, display: str) -> list[dict]:
    """FASTA with fields parsed from the header line by ``format.header_regex`` (named groups)."""
    pattern = re.compile(fmt.get("header_regex", _DEFAULT_HEADER))
    rows, header, chunks, header_line = [], None, [], 0

    def flush():
        if header is None:
            return
        match = pattern.match(header)
        if not match:
            raise FormatError(f"{display} line {header_line}: header {excerpt(header)} does not match "
                              f"{pattern.pattern!r}")
        fields = {k: v for k, v in match.groupdict().items() if v is not None}
        fields.setdefault("sequence", "".join(chunks))
        default = fields.get("id") or f"{prefix}-{len(rows)}"
        rows.append(_finish(fields, {**fmt, "id": "id" if "id" in fields else None, "sequence": "sequence"},
                            default, f"{display} record {excerpt(default)}"))

    for lineno, line in enumerate(read_text(path, display).splitlines(), start=1):
        if line.startswith(">"):
            flush()
            header, chunks, header_line = line[1:].strip(), [], lineno
        elif line.strip():
            if header is None:
                raise FormatError(f"{display} line {lineno}: sequence data before the first '>' header")
            chunks.append(line.strip())
    flush()
    return rows


def read_lmdb(path: Path, fmt: dict[str, Any], *, prefix: str, display: str) -> list[dict]:
    """PEER/TAPE LMDB: key ``num_examples`` and keys ``0..n-1`` holding pickled dicts of plain data."""
    import lmdb

    if not (path / "data.mdb").exists():
        raise FormatError(f"{display}: not an LMDB folder (no data.mdb)")
    env = lmdb.open(str(path), readonly=True, lock=False, readahead=False, meminit=False, subdir=True)
    rows = []
    try:
        with env.begin(write=False) as txn:
            raw_n = txn.get(b"num_examples")
            if raw_n is None:
                raise FormatError(f"{display}: LMDB has no 'num_examples' key")
            n = int(safe_pickle.loads(raw_n))
            for i in tqdm(range(n), desc=f"reading {path.name}", leave=False, disable=n < 5000):
                value = txn.get(str(i).encode())
                if value is None:
                    raise FormatError(f"{display}: record {i} of {n} is missing")
                try:
                    record = safe_pickle.loads(value)
                except Exception as exc:
                    raise FormatError(f"{display}: record {i}: {exc}") from None
                if not isinstance(record, dict):
                    raise FormatError(f"{display}: record {i} is a {type(record).__name__}, expected a dict")
                flat = {k: (v.item() if hasattr(v, "item") and getattr(v, "ndim", 1) == 0 else v)
                        for k, v in record.items() if isinstance(k, str)}
                for key, val in list(flat.items()):
                    if hasattr(val, "tolist"):  # one-element arrays of labels, as TAPE writes them
                        val = val.tolist()
                        flat[key] = val[0] if isinstance(val, list) and len(val) == 1 else val
                rows.append(_finish(flat, fmt, f"{prefix}-{i}", f"{display} record {i}"))
    finally:
        env.close()
    return rows


def read_rows(path: Path, fmt: dict[str, Any], *, prefix: str, display: str) -> list[dict]:
    kind = fmt["kind"]
    if kind == "tsv":
        return read_delimited(path, fmt, prefix=prefix, display=display, delimiter="\t")
    if kind == "csv":
        return read_delimited(path, fmt, prefix=prefix, display=display, delimiter=",")
    if kind == "fasta":
        return read_fasta(path, fmt, prefix=prefix, display=display)
    if kind == "lmdb":
        return read_lmdb(path, fmt, prefix=prefix, display=display)
    raise FormatError(f"{display}: unknown format kind {kind!r}")
