"""The [format] tables of a task card: keys, reader options per kind, and pair joins through a dictionary."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from lsdbench.tasks.card_fields import (
    DICTIONARY_FIELDS,
    FORMAT_FIELDS,
    PAIR_POLICIES,
    READER_KEYS,
    TASK_FORMAT_KEYS,
    CardError,
    check_keys,
    did_you_mean,
    list_of,
)
from lsdbench.tasks.card_types import Source
from lsdbench.tasks.formats import FIELD_KEYS, FORMATS, KIND_OPTIONS
from lsdbench.text import excerpt


def check_format_table(fmt: dict[str, Any], what: str, ctx: str) -> None:
    """Keys, types and values of a [format] table (the card's, a source's or the dictionary's)."""
    check_keys(fmt, DICTIONARY_FIELDS if what == "[format.dictionary]" else FORMAT_FIELDS, what, ctx)
    if "kind" in fmt and fmt["kind"] not in FORMATS:
        raise CardError(f"{ctx}: {what} kind must be one of {FORMATS}, got {excerpt(fmt['kind'])}"
                        f"{did_you_mean(fmt['kind'], FORMATS)}")
    if "columns" in fmt:
        columns = list_of(fmt["columns"], str, f"{what}.columns", ctx)
        if not columns or len(set(columns)) != len(columns):
            raise CardError(f"{ctx}: {what}.columns must name each column once, got {excerpt(columns, 120)}")
    if "header_regex" in fmt:
        try:
            re.compile(fmt["header_regex"])
        except re.error as exc:
            raise CardError(f"{ctx}: {what}.header_regex is not a valid regular expression ({exc})") from None
    if what.startswith("[sources."):
        for key in TASK_FORMAT_KEYS:
            if key in fmt:
                raise CardError(f"{ctx}: {what}.{key} describes the whole task; put it in the top-level [format]")


def source_format(top: dict[str, Any], own: dict[str, Any], sname: str, sdata: dict, ctx: str) -> dict[str, Any]:
    """How one source is read: its own format table over the card's [format], which is the default.

    Of the card's [format] a source inherits the field names and the options its kind reads: a FASTA
    source never inherits the ``columns`` of a TSV default.
    """
    table = top.get("dictionary")
    dictionary_kind = table.get("kind") if isinstance(table, dict) and table.get("source") == sname else None
    kind = own.get("kind", top.get("kind", dictionary_kind))
    if kind is None:
        where = sdata.get("member") or sdata.get("path") or sdata.get("url") or ""
        guess = {**{f".{k}": k for k in FORMATS}, ".fa": "fasta", ".faa": "fasta", ".ndjson": "jsonl",
                 ".pq": "parquet"}.get(Path(str(where)).suffix.lower())
        hint = f" (its file ends in {Path(str(where)).suffix!r}: kind = {guess!r}?)" if guess else ""
        raise CardError(f"{ctx}: source {sname!r} has no format kind: set kind in [format] (the default for "
                        f"every source) or in [sources.{sname}.format]{hint}")
    allowed = set(FIELD_KEYS) | set(KIND_OPTIONS[kind]) | {"kind"}
    for key in own:
        if key not in allowed:
            raise CardError(f"{ctx}: [sources.{sname}.format].{key} does not apply to kind = {kind!r} "
                            f"({_options_text(kind)})")
    inherited = {k: v for k, v in top.items() if k in allowed or k in TASK_FORMAT_KEYS}
    return {**inherited, **own, "kind": kind}


def _options_text(kind: str) -> str:
    options = KIND_OPTIONS[kind]
    return f"it reads {', '.join(options)}" if options else "it reads no options beyond id, sequence, label"


def check_inherited_options(fmt: dict[str, Any], sources: dict[str, Source], ctx: str) -> None:
    """A reader option in [format] must apply to its kind, or (no default kind) to some source's kind."""
    kinds = [fmt["kind"]] if "kind" in fmt else [src.format["kind"] for src in sources.values()]
    for key in fmt:
        if key in READER_KEYS and not any(key in KIND_OPTIONS[k] for k in kinds):
            raise CardError(f"{ctx}: [format].{key} does not apply to kind = {kinds[0]!r} "
                            f"({_options_text(kinds[0])})")


def check_pair_format(fmt: dict[str, Any], ttype: str, sources: dict[str, Source], ctx: str) -> None:
    """Pairs name their sequences directly (sequence, sequence_b) or by id through a dictionary join."""
    joined = "id_a" in fmt or "id_b" in fmt or "dictionary" in fmt
    if ttype != "pair_binary":
        if joined:
            raise CardError(f"{ctx}: format.id_a / id_b / [format.dictionary] apply to pair_binary tasks only")
        for key in PAIR_POLICIES:
            if key in fmt:
                raise CardError(f"{ctx}: format.{key} applies to pair_binary tasks only")
        return
    for key, allowed in PAIR_POLICIES.items():
        if fmt.get(key, "keep") not in allowed:
            raise CardError(f"{ctx}: format.{key} must be one of {allowed}, got {fmt[key]!r}")
    if not joined:
        if "sequence_b" not in fmt:
            raise CardError(f"{ctx}: a pair_binary task needs format.sequence_b (or format.id_a, "
                            f"format.id_b and a [format.dictionary] join)")
        return
    _check_join_keys(fmt, ctx)
    _check_dictionary(fmt["dictionary"], sources, ctx)


def _first_missing(table: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    return next((key for key in keys if key not in table), None)


def _check_named_columns(table: dict[str, Any], keys: tuple[str, ...], prefix: str, columns_of: str,
                         ctx: str) -> None:
    """Each of ``keys`` names one of the table's ``columns``, when it lists them (else the reader checks)."""
    columns = table.get("columns")
    for key in keys:
        if columns is not None and table[key] not in columns:
            raise CardError(f"{ctx}: {prefix}{key} = {table[key]!r} is not one of {columns_of} {columns}")


def _check_join_keys(fmt: dict[str, Any], ctx: str) -> None:
    """A join names its pairs by id_a and id_b (columns of the pair file), never by sequence as well."""
    if "sequence" in fmt or "sequence_b" in fmt:
        raise CardError(f"{ctx}: format names sequences both directly (sequence / sequence_b) and by id "
                        f"(id_a / id_b); use one")
    missing = _first_missing(fmt, ("id_a", "id_b", "dictionary"))
    if missing is not None:
        raise CardError(f"{ctx}: a dictionary join needs format.id_a, format.id_b and [format.dictionary] "
                        f"(missing {missing!r})")
    _check_named_columns(fmt, ("id_a", "id_b"), "format.", "format.columns", ctx)


def _check_dictionary(table: dict[str, Any], sources: dict[str, Source], ctx: str) -> None:
    """The [format.dictionary] table: a known source, its id and sequence columns, options its kind reads."""
    check_format_table(table, "[format.dictionary]", ctx)
    missing = _first_missing(table, ("source", "id", "sequence"))
    if missing is not None:
        raise CardError(f"{ctx}: [format.dictionary] needs {missing!r} (the source, its id column and its "
                        f"sequence column)")
    if table["source"] not in sources:
        raise CardError(f"{ctx}: [format.dictionary] reads unknown source {table['source']!r}")
    kind = table.get("kind", sources[table["source"]].format["kind"])
    for key in READER_KEYS:
        if key in table and key not in KIND_OPTIONS[kind]:
            raise CardError(f"{ctx}: [format.dictionary].{key} does not apply to kind = {kind!r} "
                            f"({_options_text(kind)})")
    _check_named_columns(table, ("id", "sequence"), "[format.dictionary] ", "its columns", ctx)
