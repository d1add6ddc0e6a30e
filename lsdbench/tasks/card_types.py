"""What a parsed task card holds: ``TaskCard`` with its sources, split specs and partition."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Source:
    """One file a task reads: a canonical URL (or a local path) with its hash."""

    name: str
    url: str | None = None
    path: str | None = None  # local file, relative to the card's folder
    hash: str | None = None  # "sha256:..." or "md5:..."; required for URLs
    member: str | None = None  # member inside a zip/tar archive (a file, or an LMDB folder)
    format: dict[str, Any] = field(default_factory=dict)  # how to read it: [format] merged with its own table


@dataclass(frozen=True)
class SplitSpec:
    """How one split is built: rows of a source, filtered, or carved from another split."""

    name: str
    source: str | None = None
    where: dict[str, Any] = field(default_factory=dict)
    where_not: dict[str, Any] = field(default_factory=dict)
    carve_from: str | None = None
    fraction: float = 0.1
    seed: int = 0
    stratify: bool = True


@dataclass(frozen=True)
class Partition:
    """All three splits drawn from one source by hashing: proteins (disjoint splits) or pairs (leaky)."""

    source: str
    by: str  # "protein": each distinct sequence goes to one split, pairs straddling splits are dropped
    seed: int
    fractions: dict[str, float]  # train/valid/test shares of the hashed items; the rest is left out


@dataclass(frozen=True)
class TaskCard:
    """A task as data: where its files are, how to read and split them, its labels and metrics."""

    name: str
    version: str
    type: str
    description: str
    citation: str
    licence: str
    primary_metric: str
    secondary_metrics: tuple[str, ...]
    suites: tuple[str, ...]
    sources: dict[str, Source]
    format: dict[str, Any]
    splits: dict[str, SplitSpec]
    label_names: tuple[str, ...] = ()
    label_map: dict[str, str] = field(default_factory=dict)
    exclude_labels: tuple[str, ...] = ()
    unit: str | None = None
    expected_sizes: dict[str, int] = field(default_factory=dict)
    notes: str = ""
    partition: Partition | None = None  # replaces per-split specs: splits is then empty
    expected_hashes: dict[str, str] = field(default_factory=dict)  # split content hashes, checked at load
    path: Path | None = None  # file the card was read from
    replaces_packaged: bool = False  # a user card may take a packaged task's name only when it says so

    @property
    def metrics(self) -> tuple[str, ...]:
        return (self.primary_metric, *self.secondary_metrics)

    @property
    def n_classes(self) -> int | None:
        return None if self.type == "regression" else len(self.label_names)

    def describe_source(self) -> str:
        first = next(iter(self.sources.values()))
        return first.url or str(first.path)
