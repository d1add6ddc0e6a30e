"""The keys a task card may hold, with their types, and the checks every table of a card goes through."""

from __future__ import annotations

import difflib
from typing import Any

from lsdbench.errors import UserError
from lsdbench.tasks.formats import KIND_OPTIONS
from lsdbench.text import excerpt

METRICS_BY_TYPE = {
    "regression": ("spearman", "pearson", "mae"),
    "binary": ("accuracy", "auroc", "mcc", "macro_f1"),
    "pair_binary": ("accuracy", "auroc", "mcc", "macro_f1"),
    "multiclass": ("accuracy", "macro_f1"),
}
PARTITION_BY = ("protein", "pair")
PAIR_POLICIES = {"duplicate_pairs": ("keep", "drop"), "self_pairs": ("keep", "drop")}
DICTIONARY_FIELDS = {"source": str, "kind": str, "columns": list, "header": bool, "header_regex": str, "id": str,
                     "sequence": str}
# Every key a card may hold, with its TOML type: anything else is a typo, reported with the closest key.
TOP_FIELDS = {"name": str, "version": (str, int, float), "suites": list, "type": str, "description": str,
              "citation": str, "licence": str, "notes": str, "unit": str, "primary_metric": str,
              "secondary_metrics": list, "label_names": list, "label_map": dict, "exclude_labels": list,
              "sources": dict, "format": dict, "splits": dict, "partition": dict, "expected_sizes": dict,
              "expected_hashes": dict, "replaces_packaged": bool}
SOURCE_FIELDS = {"url": str, "path": str, "hash": str, "member": str, "format": dict}
FORMAT_FIELDS = {"kind": str, "id": str, "sequence": str, "sequence_b": str, "label": str, "columns": list,
                 "header": bool, "header_regex": str, "id_a": str, "id_b": str, "dictionary": dict,
                 "duplicate_pairs": str, "self_pairs": str}
PARTITION_FIELDS = {"source": str, "by": str, "seed": int, "fractions": dict}
TASK_FORMAT_KEYS = ("id_a", "id_b", "dictionary", "duplicate_pairs", "self_pairs")  # top-level [format] only
READER_KEYS = sorted({k for options in KIND_OPTIONS.values() for k in options})
SPLIT_FIELDS = ("source", "where", "where_not", "carve_from", "fraction", "seed", "stratify")

_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false", dict: "a table",
               list: "an array"}


class CardError(UserError, ValueError):
    """A task card is missing a field or holds an invalid value."""


def typed(value: Any, kinds, what: str, ctx: str) -> Any:
    """``value`` if it is of ``kinds`` (None passes: absent); a bool never passes as a number."""
    kinds = kinds if isinstance(kinds, tuple) else (kinds,)
    ok = value is None or (isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds))
    if not ok:
        wanted = " or ".join(_TYPE_NAMES.get(k, k.__name__) for k in kinds)
        raise CardError(f"{ctx}: {what} must be {wanted}, got {excerpt(value)}")
    return value


def did_you_mean(name: str, known) -> str:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def require(data: dict, key: str, where: str) -> Any:
    if key not in data:
        raise CardError(f"{where}: missing required field {key!r}")
    return data[key]


def check_keys(table: dict, fields: dict[str, Any], what: str, ctx: str) -> None:
    """Unknown keys of ``table`` are errors naming the closest known key; known ones are type-checked."""
    for key, value in table.items():
        if key not in fields:
            place = f"key {excerpt(key)} in {what}" if what else f"top-level key {excerpt(key)}"
            raise CardError(f"{ctx}: unknown {place}{did_you_mean(key, fields)}; known keys: "
                            f"{', '.join(sorted(fields))}")
        typed(value, fields[key], f"{what}.{key}" if what else key, ctx)


def list_of(value: list | None, kinds, what: str, ctx: str) -> list:
    for item in value or ():
        typed(item, kinds, f"each item of {what}", ctx)
    return list(value or ())
