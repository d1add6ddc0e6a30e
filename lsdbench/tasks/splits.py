"""A task's rows -> its splits: filtered as the card says, labels as class indices, carved by hash, checked."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable

import numpy as np

from lsdbench.errors import UserError
from lsdbench.tasks import formats
from lsdbench.tasks.cards import CardError, TaskCard
from lsdbench.tasks.labels import canonical
from lsdbench.tasks.sequences import normalize
from lsdbench.text import excerpt
from lsdbench.types import SPLIT_NAMES, Split

# The rows of a source and how errors name it (task_sources.Sources.rows).
RowsOf = Callable[[str], tuple[list[dict], str]]


class TaskError(UserError, ValueError):
    """A task's data does not match what its card promises (labels, sizes)."""


def _matches(row: dict, conditions: dict) -> bool:
    for column, wanted in conditions.items():
        values = wanted if isinstance(wanted, list) else [wanted]
        if row.get(column) not in {str(v) for v in values}:
            return False
    return True


def _label(card: TaskCard, raw: str, display: str):
    if card.type == "regression":
        try:
            value = float(raw)
        except ValueError:
            raise TaskError(f"{display}: label {excerpt(raw)} is not a number") from None
        if not np.isfinite(value):
            raise TaskError(f"{display}: label {excerpt(raw)} is not finite")
        return value
    key = canonical(raw)  # "1.0" and "1" are one class, whichever file wrote which
    name = canonical(card.label_map.get(key, key))
    names = [canonical(n) for n in card.label_names]
    if name in names:
        return names.index(name)
    if key.isascii() and key.isdigit() and int(key) < len(card.label_names):
        return int(key)
    raise TaskError(f"{display}: label {excerpt(raw)} is not one of {list(card.label_names)} "
                    f"(nor a class index below {len(card.label_names)})")


def carve_key(seed: int, item_id: str) -> str:
    # Hash order, not a RNG stream: identical across numpy/sklearn versions, so split hashes never change.
    return hashlib.sha256(f"{seed}:{item_id}".encode()).hexdigest()


def carve(split: Split, spec_fraction: float, seed: int, stratify: bool, name: str) -> tuple[Split, Split]:
    """Deterministically move ``fraction`` of ``split`` into a new split (per class when stratified)."""
    groups = [np.arange(len(split))]
    if stratify:
        groups = [np.flatnonzero(split.labels == c) for c in np.unique(split.labels)]
    chosen: set[int] = set()
    for idx in groups:
        k = int(round(spec_fraction * len(idx)))
        ranked = sorted(idx.tolist(), key=lambda i: carve_key(seed, split.ids[i]))
        chosen.update(ranked[:k])
    keep = [i for i in range(len(split)) if i not in chosen]
    take = sorted(chosen)
    return _subset(split, keep, split.name), _subset(split, take, name)


def _subset(split: Split, index: list[int], name: str) -> Split:
    return Split(
        name=name, ids=[split.ids[i] for i in index], sequences=[split.sequences[i] for i in index],
        labels=split.labels[np.asarray(index, dtype=np.int64)],
        sequences_b=None if split.sequences_b is None else [split.sequences_b[i] for i in index],
    )


def _build_split(card: TaskCard, name: str, rows: list[dict], display: str) -> Split:
    spec = card.splits[name]
    kept = [row for row in rows
            if _matches(row, spec.where) and not (spec.where_not and _matches(row, spec.where_not))]
    return make_split(card, name, kept, display)


def make_split(card: TaskCard, name: str, rows: list[dict], display: str) -> Split:
    ids, seqs, seqs_b, labels = [], [], [], []
    for row in rows:
        record = row["id"]
        if "label" not in row:
            raise formats.FormatError(f"{display}: record {excerpt(record)} has no label; set label = \"COLUMN\" "
                                      f"in [format] to the column that holds it (the record has "
                                      f"{excerpt(sorted(row), 120)})")
        if canonical(row["label"]) in card.exclude_labels:
            continue
        ids.append(record)
        seqs.append(normalize(row.get("sequence", ""), source=display, record=record))
        if card.type == "pair_binary":
            seqs_b.append(normalize(row.get("sequence_b", ""), source=display, record=record))
        labels.append(_label(card, row.get("label", ""), f"{display}: record {excerpt(record)}"))
    dtype = np.float64 if card.type == "regression" else np.int64
    if not ids:
        raise TaskError(f"task {card.name!r}: split {name!r} is empty after filtering {display}")
    _check_unique(card, name, ids, display)
    return Split(name=name, ids=ids, sequences=seqs, labels=np.asarray(labels, dtype=dtype),
                 sequences_b=seqs_b if card.type == "pair_binary" else None)


def _check_unique(card: TaskCard, name: str, ids: list[str], display: str) -> None:
    repeated = sorted(i for i, n in Counter(ids).items() if n > 1)
    if repeated:
        shown = ", ".join(excerpt(i) for i in repeated[:5]) + (" ..." if len(repeated) > 5 else "")
        raise TaskError(f"task {card.name!r}: split {name!r}: {len(repeated)} id(s) occur more than once in "
                        f"{display}: {shown}; ids must be unique (check format.id)")


def check_splits(card: TaskCard, splits: dict[str, Split]) -> None:
    """What a probe cannot be fitted or scored on is a data error, found before any encoding."""
    for name, split in splits.items():
        if not len(split):
            raise TaskError(f"task {card.name!r}: split {name!r} is empty (a carved fraction of too few items?); "
                            f"raise its fraction or add data")
    if card.type != "regression":
        classes = np.unique(splits["train"].labels)
        if len(classes) < 2:
            only = card.label_names[int(classes[0])] if len(classes) else "none"
            raise TaskError(f"task {card.name!r}: the train split holds one class only ({only!r}); a classifier "
                            f"needs at least two")


def declared_splits(card: TaskCard, rows_of: RowsOf) -> dict[str, Split]:
    """The splits read from the sources the card names, then those carved from them."""
    splits: dict[str, Split] = {}
    for name in SPLIT_NAMES:
        spec = card.splits[name]
        if spec.source is not None:
            splits[name] = _build_split(card, name, *rows_of(spec.source))
    for name in SPLIT_NAMES:
        spec = card.splits[name]
        if spec.carve_from is not None:
            if spec.carve_from not in splits:
                raise CardError(f"task {card.name!r}: split {name!r} carves from {spec.carve_from!r}, "
                                f"which is itself carved")
            splits[spec.carve_from], splits[name] = carve(splits[spec.carve_from], spec.fraction, spec.seed,
                                                          spec.stratify, name)
    return splits


def check_expectations(card: TaskCard, splits: dict[str, Split]) -> None:
    """The sizes and content hashes the card pins, and second sequences in every split of a pair task."""
    for name, expected in card.expected_sizes.items():
        if name in splits and len(splits[name]) != expected:
            raise TaskError(f"task {card.name!r}: split {name!r} has {len(splits[name])} items but the card "
                            f"expects {expected}; the source data or its parsing changed")
    for name, expected in card.expected_hashes.items():
        actual = splits[name].content_hash()
        if actual != expected:
            raise TaskError(f"task {card.name!r}: split {name!r} has content hash {actual} but the card expects "
                            f"{expected}; the source data, its parsing or the split procedure changed")
    for name, split in splits.items():
        if split.sequences_b is None and card.type == "pair_binary":
            raise TaskError(f"task {card.name!r}: split {name!r} has no second sequences")
