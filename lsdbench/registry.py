"""Find task cards (packaged and the user's own) and load tasks into hashed splits."""

from __future__ import annotations

import hashlib
import os
from importlib import resources
from pathlib import Path

import numpy as np

from . import fetch, formats
from .cards import CardError, TaskCard, load_card
from .sequences import normalize
from .types import SPLIT_NAMES, Split, Task

TASKS_ENV = "LSDBENCH_TASKS"  # extra card files or folders, separated by os.pathsep
_user_cards: dict[str, TaskCard] = {}


class TaskError(ValueError):
    """A task's data does not match what its card promises (labels, sizes)."""


def _packaged_cards() -> dict[str, TaskCard]:
    cards = {}
    for entry in sorted(resources.files("lsdbench._cards").iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            with resources.as_file(entry) as path:
                card = load_card(path)
            cards[card.name] = card
    return cards


def _env_cards() -> dict[str, TaskCard]:
    cards = {}
    for item in filter(None, os.environ.get(TASKS_ENV, "").split(os.pathsep)):
        path = Path(item)
        for file in sorted(path.glob("*.toml")) if path.is_dir() else [path]:
            card = load_card(file)
            cards[card.name] = card
    return cards


def register_card(card: TaskCard | str | os.PathLike) -> TaskCard:
    """Make a user's card (object or TOML path) available by name for this process."""
    if not isinstance(card, TaskCard):
        card = load_card(card)
    _user_cards[card.name] = card
    return card


def all_cards() -> dict[str, TaskCard]:
    return {**_packaged_cards(), **_env_cards(), **_user_cards}


def list_cards(suite: str | None = None) -> list[TaskCard]:
    cards = list(all_cards().values())
    if suite is not None:
        cards = [c for c in cards if suite in c.suites]
        if not cards:
            raise CardError(f"no tasks in suite {suite!r}; suites: {', '.join(suites())}")
    return cards


def suites() -> list[str]:
    return sorted({s for c in all_cards().values() for s in c.suites})


def get_card(name_or_path: str | os.PathLike | TaskCard) -> TaskCard:
    """A card by registered name, or read from a ``.toml`` path."""
    if isinstance(name_or_path, TaskCard):
        return name_or_path
    text = str(name_or_path)
    if text.endswith(".toml") or os.sep in text:
        return load_card(text)
    cards = all_cards()
    if text not in cards:
        raise CardError(f"unknown task {text!r}; known tasks: {', '.join(sorted(cards))} "
                        f"(or pass a path to a .toml card)")
    return cards[text]


def source_path(card: TaskCard, source_name: str, *, cache_dir=None, mirror=None, progress=True) -> Path:
    """Verified local path of one source of a card (archive members extracted)."""
    src = card.sources[source_name]
    if src.url:
        path = fetch.fetch_url(src.url, src.hash, cache_dir=cache_dir, mirror=mirror, progress=progress)
    else:
        base = card.path.parent if card.path else Path.cwd()
        path = (base / src.path).resolve()
        if not path.exists():
            raise fetch.FetchError(f"task {card.name!r}: local source {path} does not exist")
        if src.hash:
            actual = fetch.file_hash(path, src.hash.split(":")[0])
            if actual != src.hash:
                raise fetch.HashMismatchError(str(path), src.hash, actual)
    if src.member:
        path = fetch.extract_member(path, src.member, cache_dir=cache_dir)
    return path


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
            raise TaskError(f"{display}: label {raw!r} is not a number") from None
        if not np.isfinite(value):
            raise TaskError(f"{display}: label {raw!r} is not finite")
        return value
    name = card.label_map.get(raw, raw)
    if name in card.label_names:
        return card.label_names.index(name)
    if raw.lstrip("-").isdigit() and 0 <= int(raw) < len(card.label_names):
        return int(raw)
    raise TaskError(f"{display}: label {raw!r} is not one of {list(card.label_names)} "
                    f"(nor a class index below {len(card.label_names)})")


def _carve_key(seed: int, item_id: str) -> str:
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
        ranked = sorted(idx.tolist(), key=lambda i: _carve_key(seed, split.ids[i]))
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
    ids, seqs, seqs_b, labels = [], [], [], []
    for row in rows:
        if not _matches(row, spec.where) or (spec.where_not and _matches(row, spec.where_not)):
            continue
        if row.get("label") in card.exclude_labels:
            continue
        record = row["id"]
        ids.append(record)
        seqs.append(normalize(row.get("sequence", ""), source=display, record=record))
        if card.type == "pair_binary":
            seqs_b.append(normalize(row.get("sequence_b", ""), source=display, record=record))
        labels.append(_label(card, row.get("label", ""), f"{display}: record {record!r}"))
    dtype = np.float64 if card.type == "regression" else np.int64
    if not ids:
        raise TaskError(f"task {card.name!r}: split {name!r} is empty after filtering {display}")
    return Split(name=name, ids=ids, sequences=seqs, labels=np.asarray(labels, dtype=dtype),
                 sequences_b=seqs_b if card.type == "pair_binary" else None)


def load_task(task: str | os.PathLike | TaskCard, *, cache_dir=None, mirror=None, progress: bool = True) -> Task:
    """Fetch (verified), parse and split a task. ``task`` is a registered name, a card path or a card."""
    card = get_card(task)
    rows_by_source: dict[str, list[dict]] = {}
    splits: dict[str, Split] = {}
    for name in SPLIT_NAMES:
        spec = card.splits[name]
        if spec.source is None:
            continue
        if spec.source not in rows_by_source:
            path = source_path(card, spec.source, cache_dir=cache_dir, mirror=mirror, progress=progress)
            src = card.sources[spec.source]
            display = f"{src.url or path}" + (f" [{src.member}]" if src.member else "")
            rows_by_source[spec.source] = formats.read_rows(path, card.format, prefix=spec.source,
                                                            display=display)
        src = card.sources[spec.source]
        display = f"{src.url or src.path}" + (f" [{src.member}]" if src.member else "")
        splits[name] = _build_split(card, name, rows_by_source[spec.source], display)
    for name in SPLIT_NAMES:
        spec = card.splits[name]
        if spec.carve_from is not None:
            if spec.carve_from not in splits:
                raise CardError(f"task {card.name!r}: split {name!r} carves from {spec.carve_from!r}, "
                                f"which is itself carved")
            splits[spec.carve_from], splits[name] = carve(splits[spec.carve_from], spec.fraction, spec.seed,
                                                          spec.stratify, name)
    for name, expected in card.expected_sizes.items():
        if name in splits and len(splits[name]) != expected:
            raise TaskError(f"task {card.name!r}: split {name!r} has {len(splits[name])} items but the card "
                            f"expects {expected}; the source data or its parsing changed")
    for name, split in splits.items():
        if split.sequences_b is None and card.type == "pair_binary":
            raise TaskError(f"task {card.name!r}: split {name!r} has no second sequences")
    return Task(card=card, splits={n: splits[n] for n in SPLIT_NAMES})
