"""A task's source files: fetched and verified (or local, kept in the card's folder), parsed, joined."""

from __future__ import annotations

import os
from pathlib import Path

from lsdbench.tasks import fetch, formats
from lsdbench.tasks.cards import Source, TaskCard
from lsdbench.tasks.pairs import pair_checks
from lsdbench.tasks.sequences import normalize
from lsdbench.tasks.splits import TaskError
from lsdbench.text import excerpt

TRUST_PATHS_ENV = "LSDBENCH_TRUST_CARD_PATHS"  # "1": local card paths may leave the card's folder


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


def local_source_path(card: TaskCard, src: Source) -> Path:
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


def _display(src: Source, where) -> str:
    """How errors name a source read from ``where`` (its URL when it has one), with its archive member."""
    return f"{src.url or where}" + (f" [{src.member}]" if src.member else "")


def _join_dictionary(card: TaskCard, rows: list[dict], display: str, *, cache_dir, mirror, progress) -> None:
    """Fill ``sequence`` / ``sequence_b`` of pair rows from the card's id -> sequence dictionary."""
    table = card.format["dictionary"]
    dfmt = {k: v for k, v in table.items() if k != "source"}
    dfmt.setdefault("kind", card.sources[table["source"]].format["kind"])
    path = source_path(card, table["source"], cache_dir=cache_dir, mirror=mirror, progress=progress)
    src = card.sources[table["source"]]
    ddisplay = _display(src, path)
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


class Sources:
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
        display = _display(src, path)
        rows = formats.read_rows(path, src.format, prefix=source, display=display)
        if "dictionary" in card.format:
            _join_dictionary(card, rows, display, cache_dir=self.cache_dir, mirror=self.mirror, progress=self.progress)
        if card.type == "pair_binary":
            rows, self.report.setdefault("sources", {})[source] = pair_checks(card, rows, display)
        return rows, _display(src, src.path)
