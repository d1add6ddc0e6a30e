"""What every task-file reader shares: the format error, a row's id and fields, and text decoding.

Its own module so that ``formats`` (delimited, FASTA, LMDB) and ``record_formats`` (JSON, Parquet)
both import it, and neither imports the other's importer.
"""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import Any

from lsdbench.errors import UserError
from lsdbench.text import excerpt


class FormatError(UserError, ValueError):
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
