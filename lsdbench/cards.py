"""Task cards: TOML files that describe a task as data (sources, format, splits, labels, metrics)."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from .types import SPLIT_NAMES, TASK_TYPES

METRICS_BY_TYPE = {
    "regression": ("spearman", "pearson", "mae"),
    "binary": ("accuracy", "auroc", "mcc", "macro_f1"),
    "pair_binary": ("accuracy", "auroc", "mcc", "macro_f1"),
    "multiclass": ("accuracy", "macro_f1"),
}
FORMATS = ("tsv", "csv", "fasta", "lmdb")


class CardError(ValueError):
    """A task card is missing a field or holds an invalid value."""


@dataclass(frozen=True)
class Source:
    """One file a task reads: a canonical URL (or a local path) with its hash."""

    name: str
    url: str | None = None
    path: str | None = None  # local file, relative to the card's folder
    hash: str | None = None  # "sha256:..." or "md5:..."; required for URLs
    member: str | None = None  # member inside a zip/tar archive (a file, or an LMDB folder)


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
class TaskCard:
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
    path: Path | None = None  # file the card was read from

    @property
    def metrics(self) -> tuple[str, ...]:
        return (self.primary_metric, *self.secondary_metrics)

    @property
    def n_classes(self) -> int | None:
        return None if self.type == "regression" else len(self.label_names)

    def describe_source(self) -> str:
        first = next(iter(self.sources.values()))
        return first.url or str(first.path)


def _require(data: dict, key: str, where: str) -> Any:
    if key not in data:
        raise CardError(f"{where}: missing required field {key!r}")
    return data[key]


def parse_card(data: dict[str, Any], *, where: str, path: Path | None = None) -> TaskCard:
    """Build and validate a TaskCard from parsed TOML; ``where`` names the file in errors."""
    name = str(_require(data, "name", where))
    ctx = f"{where} (task {name!r})"
    ttype = _require(data, "type", ctx)
    if ttype not in TASK_TYPES:
        raise CardError(f"{ctx}: type {ttype!r} is not one of {TASK_TYPES}")
    primary = _require(data, "primary_metric", ctx)
    secondary = tuple(data.get("secondary_metrics", ()))
    allowed = METRICS_BY_TYPE[ttype]
    for metric in (primary, *secondary):
        if metric not in allowed:
            raise CardError(f"{ctx}: metric {metric!r} does not apply to a {ttype} task (use {allowed})")

    sources: dict[str, Source] = {}
    for sname, sdata in _require(data, "sources", ctx).items():
        src = Source(name=sname, url=sdata.get("url"), path=sdata.get("path"), hash=sdata.get("hash"),
                     member=sdata.get("member"))
        if bool(src.url) == bool(src.path):
            raise CardError(f"{ctx}: source {sname!r} needs exactly one of 'url' or 'path'")
        if src.url and not src.hash:
            raise CardError(f"{ctx}: source {sname!r} has a URL but no hash; every download is verified")
        if src.hash and src.hash.split(":")[0] not in ("sha256", "md5"):
            raise CardError(f"{ctx}: source {sname!r}: hash must start with 'sha256:' or 'md5:'")
        sources[sname] = src

    fmt = dict(_require(data, "format", ctx))
    if fmt.get("kind") not in FORMATS:
        raise CardError(f"{ctx}: format.kind must be one of {FORMATS}, got {fmt.get('kind')!r}")
    if ttype == "pair_binary" and "sequence_b" not in fmt:
        raise CardError(f"{ctx}: a pair_binary task needs format.sequence_b")

    splits: dict[str, SplitSpec] = {}
    raw_splits = _require(data, "splits", ctx)
    for split_name in SPLIT_NAMES:
        if split_name not in raw_splits:
            raise CardError(f"{ctx}: missing split {split_name!r} (carve valid with carve_from = 'train')")
        s = dict(raw_splits[split_name])
        spec = SplitSpec(name=split_name, source=s.pop("source", None), where=s.pop("where", {}),
                         where_not=s.pop("where_not", {}), carve_from=s.pop("carve_from", None),
                         fraction=float(s.pop("fraction", 0.1)), seed=int(s.pop("seed", 0)),
                         stratify=bool(s.pop("stratify", ttype != "regression")))
        if s:
            raise CardError(f"{ctx}: split {split_name!r} has unknown fields {sorted(s)}")
        if bool(spec.source) == bool(spec.carve_from):
            raise CardError(f"{ctx}: split {split_name!r} needs exactly one of 'source' or 'carve_from'")
        if spec.source and spec.source not in sources:
            raise CardError(f"{ctx}: split {split_name!r} reads unknown source {spec.source!r}")
        if spec.carve_from and (spec.carve_from not in raw_splits or spec.carve_from == split_name):
            raise CardError(f"{ctx}: split {split_name!r} carves from unknown split {spec.carve_from!r}")
        if not 0.0 < spec.fraction < 1.0:
            raise CardError(f"{ctx}: split {split_name!r}: fraction must be in (0, 1)")
        splits[split_name] = spec

    label_names = tuple(str(x) for x in data.get("label_names", ()))
    if ttype != "regression":
        if len(label_names) < 2:
            raise CardError(f"{ctx}: a {ttype} task needs at least two label_names")
        if ttype in ("binary", "pair_binary") and len(label_names) != 2:
            raise CardError(f"{ctx}: a {ttype} task needs exactly two label_names")
    label_map = {str(k): str(v) for k, v in data.get("label_map", {}).items()}
    for raw, target in label_map.items():
        if target not in label_names:
            raise CardError(f"{ctx}: label_map sends {raw!r} to {target!r}, which is not in label_names")

    return TaskCard(
        name=name, version=str(_require(data, "version", ctx)), type=ttype,
        description=str(data.get("description", "")).strip(), citation=str(data.get("citation", "")).strip(),
        licence=str(_require(data, "licence", ctx)), primary_metric=primary, secondary_metrics=secondary,
        suites=tuple(data.get("suites", ())), sources=sources, format=fmt, splits=splits,
        label_names=label_names, label_map=label_map,
        exclude_labels=tuple(str(x) for x in data.get("exclude_labels", ())), unit=data.get("unit"),
        expected_sizes={k: int(v) for k, v in data.get("expected_sizes", {}).items()},
        notes=str(data.get("notes", "")).strip(), path=path,
    )


def load_card(path: str | Path) -> TaskCard:
    """Read a card file; errors name the file."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CardError(f"task card {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise CardError(f"{path}: not valid TOML: {exc}") from None
    return parse_card(data, where=str(path), path=path)
