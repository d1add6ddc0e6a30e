"""Find task cards (packaged and the user's own) and load tasks into hashed splits."""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from importlib import resources
from pathlib import Path

import numpy as np

from . import fetch, formats
from .cards import CardError, TaskCard, load_card
from .errors import UserError
from .labels import canonical
from .sequences import normalize
from .text import excerpt
from .types import SPLIT_NAMES, Split, Task

TASKS_ENV = "LSDBENCH_TASKS"  # extra card files or folders, separated by os.pathsep
TRUST_PATHS_ENV = "LSDBENCH_TRUST_CARD_PATHS"  # "1": local card paths may leave the card's folder
_user_cards: dict[str, TaskCard] = {}


class TaskError(UserError, ValueError):
    """A task's data does not match what its card promises (labels, sizes)."""


def _packaged_cards() -> dict[str, TaskCard]:
    cards = {}
    for entry in sorted(resources.files("lsdbench._cards").iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            with resources.as_file(entry) as path:
                card = load_card(path)
            cards[card.name] = card
    return cards


def _check_shadowing(card: TaskCard, packaged: dict[str, TaskCard]) -> TaskCard:
    """A user's card named like a packaged task would silently change what that name means in `eval`,
    suites and `leaderboard validate`: refused unless the card says ``replaces_packaged = true``."""
    if card.name in packaged and not card.replaces_packaged:
        raise CardError(f"{card.path or 'card'}: its name {card.name!r} is a packaged task's; rename the card, or "
                        f"add `replaces_packaged = true` to it to use it instead of the packaged one")
    return card


def _env_cards(packaged: dict[str, TaskCard]) -> dict[str, TaskCard]:
    cards = {}
    for item in filter(None, os.environ.get(TASKS_ENV, "").split(os.pathsep)):
        path = Path(item)
        for file in sorted(path.glob("*.toml")) if path.is_dir() else [path]:
            card = _check_shadowing(load_card(file), packaged)
            cards[card.name] = card
    return cards


def register_card(card: TaskCard | str | os.PathLike) -> TaskCard:
    """Make a user's card (object or TOML path) available by name for this process."""
    if not isinstance(card, TaskCard):
        card = load_card(card)
    _user_cards[card.name] = _check_shadowing(card, _packaged_cards())
    return card


def all_cards() -> dict[str, TaskCard]:
    packaged = _packaged_cards()
    return {**packaged, **_env_cards(packaged), **_user_cards}


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
        return _check_shadowing(load_card(text), _packaged_cards())
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
        path = local_source_path(card, src)
        if src.hash:
            actual = fetch.file_hash(path, src.hash.split(":")[0])
            if actual != src.hash:
                raise fetch.HashMismatchError(str(path), src.hash, actual)
    if src.member:
        path = fetch.extract_member(path, src.member, cache_dir=cache_dir)
    return path


def local_source_path(card: TaskCard, src) -> Path:
    """A card's local ``path``, confined to the card's folder unless the user trusts card paths.

    A card is data that may come from anyone: without confinement ``path = "/proc/self/environ"``
    would be read and its content quoted in errors. Symbolic links are resolved before the check, so
    a link cannot lead out either. Only regular files (and, for LMDB, folders) are read.
    """
    base = (card.path.parent if card.path else Path.cwd()).resolve()
    path = (base / src.path).resolve()
    trusted = os.environ.get(TRUST_PATHS_ENV, "") == "1"
    if not trusted and not path.is_relative_to(base):
        raise fetch.FetchError(f"task {card.name!r}: source {src.name!r} path {excerpt(src.path)} leads outside "
                               f"the card's folder {base}; move the file next to the card, or set "
                               f"{TRUST_PATHS_ENV}=1 if you trust this card")
    if not path.exists():
        raise fetch.FetchError(f"task {card.name!r}: local source {path} does not exist")
    lmdb_dir = path.is_dir() and src.format.get("kind") == "lmdb"
    if not (path.is_file() or lmdb_dir):
        raise fetch.FetchError(f"task {card.name!r}: local source {path} is not a regular file")
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
    kept = [row for row in rows
            if _matches(row, spec.where) and not (spec.where_not and _matches(row, spec.where_not))]
    return _make_split(card, name, kept, display)


def _make_split(card: TaskCard, name: str, rows: list[dict], display: str) -> Split:
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


def _check_splits(card: TaskCard, splits: dict[str, Split]) -> None:
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


def _join_dictionary(card: TaskCard, rows: list[dict], display: str, *, cache_dir, mirror, progress) -> None:
    """Fill ``sequence`` / ``sequence_b`` of pair rows from the card's id -> sequence dictionary."""
    table = card.format["dictionary"]
    dfmt = {k: v for k, v in table.items() if k != "source"}
    dfmt.setdefault("kind", card.sources[table["source"]].format["kind"])
    path = source_path(card, table["source"], cache_dir=cache_dir, mirror=mirror, progress=progress)
    src = card.sources[table["source"]]
    ddisplay = f"{src.url or path}" + (f" [{src.member}]" if src.member else "")
    lookup: dict[str, str] = {}
    for entry in formats.read_rows(path, dfmt, prefix=table["source"], display=ddisplay):
        pid = entry["id"]
        seq = normalize(entry.get("sequence", ""), source=ddisplay, record=pid)
        if lookup.get(pid, seq) != seq:
            raise TaskError(f"task {card.name!r}: {ddisplay}: protein id {excerpt(pid)} appears twice with different "
                            f"sequences")
        lookup[pid] = seq
    id_a, id_b = card.format["id_a"], card.format["id_b"]
    for row in rows[:1]:
        for column in (id_a, id_b):
            if column not in row:
                raise formats.FormatError(f"{display}: no column {column!r} (format.id_a / id_b) among {excerpt(sorted(row), 120)}")
    missing = sorted({row[c] for row in rows for c in (id_a, id_b)} - set(lookup))
    if missing:
        shown = ", ".join(excerpt(m) for m in missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
        raise TaskError(f"task {card.name!r}: {len(missing)} protein id(s) named in {display} are not in the "
                        f"dictionary {ddisplay}: {shown}")
    for row in rows:
        row["sequence"], row["sequence_b"] = lookup[row[id_a]], lookup[row[id_b]]


def _pair_checks(card: TaskCard, rows: list[dict], display: str) -> tuple[list[dict], dict]:
    """Count (and, as the card says, drop) duplicated pairs, A-B and B-A alike, and self-pairs.

    Pairs are compared by their normalised sequences, so two ids of one sequence count as one protein.
    Of duplicated pairs the first in file order is kept; duplicates whose labels disagree cannot be
    dropped silently and stop the load.
    """
    dup_policy = card.format.get("duplicate_pairs", "keep")
    self_policy = card.format.get("self_pairs", "keep")
    first: dict[tuple[str, str], dict] = {}
    kept, n_dup, n_self, conflicts = [], 0, 0, []
    for row in rows:
        a = row["sequence"] = normalize(row.get("sequence", ""), source=display, record=row["id"])
        b = row["sequence_b"] = normalize(row.get("sequence_b", ""), source=display, record=row["id"])
        if a == b:
            n_self += 1
            if self_policy == "drop":
                continue
        key = (min(a, b), max(a, b))
        if key in first:
            n_dup += 1
            if canonical(first[key].get("label", "")) != canonical(row.get("label", "")):
                conflicts.append((first[key]["id"], row["id"]))
            if dup_policy == "drop":
                continue
        else:
            first[key] = row
        kept.append(row)
    if conflicts and dup_policy == "drop":
        shown = ", ".join(f"{excerpt(x)} and {excerpt(y)}" for x, y in conflicts[:5])
        raise TaskError(f"task {card.name!r}: {display}: {len(conflicts)} duplicated pair(s) carry different "
                        f"labels ({shown}{' ...' if len(conflicts) > 5 else ''}); cannot pick one")
    return kept, {"rows": len(rows), "pairs": len(kept), "duplicate_pairs": n_dup,
                  "duplicate_pairs_policy": dup_policy, "conflicting_duplicates": len(conflicts),
                  "self_pairs": n_self, "self_pairs_policy": self_policy}


def _pair_key(row: dict) -> str:
    a, b = row["sequence"], row["sequence_b"]
    return f"{min(a, b)}:{max(a, b)}"


def _assign(items: set[str], fractions: dict[str, float], seed: int) -> dict[str, str]:
    """Rank items by sha256(seed:item) and cut consecutive blocks: test, valid, train; the rest unassigned."""
    ranked = sorted(items, key=lambda item: (_carve_key(seed, item), item))
    n = len(ranked)
    counts = {name: int(round(fractions[name] * n)) for name in SPLIT_NAMES}
    if abs(sum(fractions.values()) - 1.0) < 1e-9:
        counts["train"] = n - counts["valid"] - counts["test"]
    where, start = {}, 0
    for name in ("test", "valid", "train"):
        for item in ranked[start:start + counts[name]]:
            where[item] = name
        start += counts[name]
    return where


def partition(card: TaskCard, rows: list[dict]) -> tuple[dict[str, list[dict]], dict]:
    """Split pair rows as ``card.partition`` says; return rows per split and what was kept and dropped.

    ``by = "protein"``: every distinct sequence goes to one split; a pair is kept when both its proteins
    are in the same split, so no protein of a test pair is in any train or valid pair. ``by = "pair"``:
    each pair (unordered) goes to one split: the leaky random-pair split.
    """
    spec = card.partition
    out: dict[str, list[dict]] = {name: [] for name in SPLIT_NAMES}
    straddling = left_out = 0
    if spec.by == "protein":
        where = _assign({s for row in rows for s in (row["sequence"], row["sequence_b"])}, spec.fractions,
                        spec.seed)
        for row in rows:
            a, b = where.get(row["sequence"]), where.get(row["sequence_b"])
            if a is None or b is None:
                left_out += 1
            elif a != b:
                straddling += 1
            else:
                out[a].append(row)
        proteins = {name: sum(1 for v in where.values() if v == name) for name in SPLIT_NAMES}
    else:
        where = _assign({_pair_key(row) for row in rows}, spec.fractions, spec.seed)
        for row in rows:
            name = where.get(_pair_key(row))
            if name is None:
                left_out += 1
            else:
                out[name].append(row)
        proteins = None
    report = {"by": spec.by, "seed": spec.seed, "fractions": dict(spec.fractions), "pairs": len(rows),
              "kept": {name: len(v) for name, v in out.items()}, "dropped_straddling": straddling,
              "dropped_unassigned": left_out}
    if proteins is not None:
        report["proteins_assigned"] = proteins
    return out, report


class _Sources:
    """A task's sources, each read once: fetched (verified), parsed, joined to its dictionary and, for a pair
    task, checked (what the checks found goes into ``report["sources"]``)."""

    def __init__(self, card: TaskCard, report: dict, *, cache_dir, mirror, progress: bool):
        self.card, self.report = card, report
        self.cache_dir, self.mirror, self.progress = cache_dir, mirror, progress
        self.loaded: dict[str, tuple[list[dict], str]] = {}

    def rows(self, source: str) -> tuple[list[dict], str]:
        """The rows of ``source`` and how errors name it."""
        if source not in self.loaded:
            self.loaded[source] = self._read(source)
        return self.loaded[source]

    def _read(self, source: str) -> tuple[list[dict], str]:
        card = self.card
        path = source_path(card, source, cache_dir=self.cache_dir, mirror=self.mirror, progress=self.progress)
        src = card.sources[source]
        display = f"{src.url or path}" + (f" [{src.member}]" if src.member else "")
        rows = formats.read_rows(path, src.format, prefix=source, display=display)
        if "dictionary" in card.format:
            _join_dictionary(card, rows, display, cache_dir=self.cache_dir, mirror=self.mirror, progress=self.progress)
        if card.type == "pair_binary":
            rows, self.report.setdefault("sources", {})[source] = _pair_checks(card, rows, display)
        return rows, f"{src.url or src.path}" + (f" [{src.member}]" if src.member else "")


def _partitioned_splits(card: TaskCard, sources: _Sources, report: dict) -> dict[str, Split]:
    """Every split from the one source ``card.partition`` names, its rows assigned as it says."""
    rows, display = sources.rows(card.partition.source)
    parts, report["partition"] = partition(card, rows)
    return {name: _make_split(card, name, parts[name], display) for name in SPLIT_NAMES}


def _declared_splits(card: TaskCard, sources: _Sources) -> dict[str, Split]:
    """The splits read from the sources the card names, then those carved from them."""
    splits: dict[str, Split] = {}
    for name in SPLIT_NAMES:
        spec = card.splits[name]
        if spec.source is not None:
            splits[name] = _build_split(card, name, *sources.rows(spec.source))
    for name in SPLIT_NAMES:
        spec = card.splits[name]
        if spec.carve_from is not None:
            if spec.carve_from not in splits:
                raise CardError(f"task {card.name!r}: split {name!r} carves from {spec.carve_from!r}, "
                                f"which is itself carved")
            splits[spec.carve_from], splits[name] = carve(splits[spec.carve_from], spec.fraction, spec.seed,
                                                          spec.stratify, name)
    return splits


def _check_expectations(card: TaskCard, splits: dict[str, Split]) -> None:
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


def load_task(task: str | os.PathLike | TaskCard, *, cache_dir=None, mirror=None, progress: bool = True) -> Task:
    """Fetch (verified), parse and split a task. ``task`` is a registered name, a card path or a card."""
    card = get_card(task)
    report: dict = {}
    sources = _Sources(card, report, cache_dir=cache_dir, mirror=mirror, progress=progress)
    if card.partition is not None:
        splits = _partitioned_splits(card, sources, report)
    else:
        splits = _declared_splits(card, sources)
    _check_splits(card, splits)
    _check_expectations(card, splits)
    return Task(card=card, splits={n: splits[n] for n in SPLIT_NAMES}, report=report)
