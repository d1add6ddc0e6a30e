"""Readers for task files: TSV, CSV, FASTA and LMDB here; JSON-lines, JSON and Parquet in record_formats.

Each reader returns rows as dicts of strings with at least ``id``, ``sequence`` and ``label``
(and ``sequence_b`` for pairs), plus every raw column so cards can filter on them (``where``).
Which raw column feeds which field is written in the card's ``[format]`` table (or a source's own).
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from lsdbench.settings import DELIMITED_FIELD_CHARS
from lsdbench.tasks import record_formats, safe_pickle
from lsdbench.tasks.rows import FormatError, _finish, read_text  # noqa: F401  (FormatError: its public home)
from lsdbench.text import excerpt

# The keys each kind reads beyond the field names: cards reject the others, so a misplaced option
# (header_regex on a TSV source) is an error rather than silently ignored.
KIND_OPTIONS: dict[str, tuple[str, ...]] = {
    "tsv": ("columns", "header"), "csv": ("columns", "header"), "fasta": ("header_regex",),
    "jsonl": (), "json": (), "parquet": (), "lmdb": (),
}
FORMATS = tuple(KIND_OPTIONS)
FIELD_KEYS = ("id", "sequence", "sequence_b", "label")  # which raw column feeds each row field
# Whether line 1 of a delimited file is a header when the card does not say: spreadsheets export CSV
# with one; TSV files of the registered tasks have none.
DEFAULT_HEADER = {"csv": True, "tsv": False}


def read_delimited(path: Path, fmt: dict[str, Any], *, prefix: str, display: str, delimiter: str) -> list[dict]:
    text = read_text(path, display)
    kind = "csv" if delimiter == "," else "tsv"
    header = fmt.get("header", DEFAULT_HEADER[kind])
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    columns = fmt.get("columns")
    rows, first = [], True
    for lineno, fields in enumerate(_delimited_rows(reader, display), start=1):
        if not fields or all(not f.strip() for f in fields):
            continue
        if first and not header and "header" not in fmt:
            _refuse_unannounced_header(fields, columns, fmt, kind, f"{display} line {lineno}")
        if header and columns is None:
            columns = [c.strip() for c in fields]
            _check_header(columns, fmt, f"{display} line {lineno}")
            first = False
            continue
        if header and first:
            first = False
            continue
        first = False
        if columns is None:
            raise FormatError(f"{display}: no header row and no columns to name the fields; {kind} files are "
                              f"read {'with' if DEFAULT_HEADER[kind] else 'without'} a header row by default: "
                              f"set header = true if line 1 names the columns, or list them with columns = [...]")
        if len(fields) != len(columns):
            raise FormatError(f"{display}: line {lineno} has {len(fields)} fields, expected {len(columns)} "
                              f"({', '.join(columns)})")
        index = len(rows)
        rows.append(_finish(dict(zip(columns, fields, strict=True)), fmt, f"{prefix}-{index}", f"{display} line {lineno}"))
    return rows


def _delimited_rows(reader, display: str):
    """The reader's rows; a field over csv's field limit (131,072 characters) or a malformed quote is a
    FormatError naming the line, not a csv.Error traceback."""
    while True:
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise FormatError(f"{display} line {reader.line_num}: cannot be read as delimited text ({exc}; limit "
                              f"delimited_field_chars = {DELIMITED_FIELD_CHARS.default:,}); no protein is that long: "
                              f"check the delimiter and quotes") from None


# Words that name a column, not a value: a first line made of them is a header row.
_HEADER_WORDS = {"id", "name", "sequence", "seq", "protein", "label", "labels", "target", "class", "split", "set"}


def _named_columns(fmt: dict[str, Any]) -> list[str]:
    """The raw columns a format names for its fields (id, sequence, label...), in order."""
    return [fmt[k] for k in (*FIELD_KEYS, "id_a", "id_b") if isinstance(fmt.get(k), str)]


def _refuse_unannounced_header(fields: list[str], columns, fmt: dict[str, Any], kind: str, where: str) -> None:
    """A header row read as data fails later as a bad amino-acid letter or label; say what it is instead."""
    names = {c.casefold() for c in [*(columns or []), *_named_columns(fmt)]} | _HEADER_WORDS
    matched = [f.strip() for f in fields if f.strip().casefold() in names]
    if matched and 2 * len(matched) >= len(fields):
        shown = ", ".join(excerpt(f) for f in fields[:6])
        raise FormatError(f"{where} looks like a header row ({shown}), and {kind} files are read without one "
                          f"unless the card says so: set header = true in [format] (or in this source's "
                          f"format) to skip it, or header = false if it is data")


def _check_header(columns: list[str], fmt: dict[str, Any], where: str) -> None:
    """A data line taken for the header names no column the card needs: say so once, with the fix."""
    twice = sorted({c for c in columns if columns.count(c) > 1})
    if twice:
        raise FormatError(f"{where}: the header row names column {twice[0]!r} twice; which one holds the data is "
                          f"ambiguous: rename one")
    missing = [c for c in _named_columns(fmt) if c not in columns]
    if missing:
        raise FormatError(f"{where}: the header row has no column {missing[0]!r} (it has "
                          f"{excerpt(columns, 120)}); if line 1 is data, not column names, set header = false "
                          f"and name the fields with columns = [...]")


# Without a header_regex, a FASTA header is ``>ID [description] [KEY=value ...]``: the first word is the
# id and each KEY=value a column (UniProt's ``OS=Homo sapiens OX=9606``, or ``label=membrane``); a value
# runs to the next KEY=. Parsed word by word: linear in the header, whatever an untrusted file holds.
_KEY = re.compile(r"([A-Za-z_]\w*)=")


def _header_fields(header: str, where: str) -> dict[str, str]:
    words = header.split()
    if not words:
        raise FormatError(f"{where}: empty header; a FASTA header starts with the record id")
    values: dict[str, list[str]] = {}
    key = None
    for word in words[1:]:
        match = _KEY.match(word)
        if match:
            key = match.group(1)
            if key in ("id", "sequence") or key in values:
                raise FormatError(f"{where}: header field {excerpt(key)} is "
                                  f"{'reserved' if key in ('id', 'sequence') else 'given twice'}; rename it, or "
                                  f"parse the header with header_regex")
            values[key] = [word[match.end():]] if match.end() < len(word) else []
        elif key is not None:  # a value with spaces: OS=Homo sapiens
            values[key].append(word)
    return {"id": words[0], **{k: " ".join(v) for k, v in values.items()}}


def read_fasta(path: Path, fmt: dict[str, Any], *, prefix: str, display: str) -> list[dict]:
    """FASTA with fields from the header line: ``format.header_regex`` (named groups), else KEY=value words."""
    pattern = re.compile(fmt["header_regex"]) if "header_regex" in fmt else None
    rows, header, chunks, header_line = [], None, [], 0

    def flush():
        if header is None:
            return
        if pattern is None:
            fields = _header_fields(header, f"{display} line {header_line}")
        else:
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
    if kind in ("jsonl", "json", "parquet"):
        return record_formats.READERS[kind](path, fmt, prefix=prefix, display=display)
    raise FormatError(f"{display}: unknown format kind {kind!r}")
