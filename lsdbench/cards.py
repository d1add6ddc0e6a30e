"""Task cards: TOML files that describe a task as data (sources, format, splits, labels, metrics)."""

from __future__ import annotations

import difflib
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from .text import excerpt
from .types import SPLIT_NAMES, TASK_TYPES

METRICS_BY_TYPE = {
    "regression": ("spearman", "pearson", "mae"),
    "binary": ("accuracy", "auroc", "mcc", "macro_f1"),
    "pair_binary": ("accuracy", "auroc", "mcc", "macro_f1"),
    "multiclass": ("accuracy", "macro_f1"),
}
FORMATS = ("tsv", "csv", "fasta", "lmdb")
PARTITION_BY = ("protein", "pair")
PAIR_POLICIES = {"duplicate_pairs": ("keep", "drop"), "self_pairs": ("keep", "drop")}
DICTIONARY_FIELDS = {"source", "kind", "columns", "header", "header_regex", "id", "sequence"}


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
class Partition:
    """All three splits drawn from one source by hashing: proteins (disjoint splits) or pairs (leaky)."""

    source: str
    by: str  # "protein": each distinct sequence goes to one split, pairs straddling splits are dropped
    seed: int
    fractions: dict[str, float]  # train/valid/test shares of the hashed items; the rest is left out


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
    partition: Partition | None = None  # replaces per-split specs: splits is then empty
    expected_hashes: dict[str, str] = field(default_factory=dict)  # split content hashes, checked at load
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


_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false", dict: "a table",
               list: "an array"}
SPLIT_FIELDS = ("source", "where", "where_not", "carve_from", "fraction", "seed", "stratify")


def _typed(value: Any, kinds, what: str, ctx: str) -> Any:
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
    _check_pair_format(fmt, ttype, sources, ctx)

    splits: dict[str, SplitSpec] = {}
    partition = None
    if "partition" in data:
        if "splits" in data:
            raise CardError(f"{ctx}: give either [splits] or [partition], not both")
        partition = _parse_partition(dict(data["partition"]), ttype, sources, ctx)
    raw_splits = {} if partition else _require(data, "splits", ctx)
    for split_name in SPLIT_NAMES if partition is None else ():
        if split_name not in raw_splits:
            raise CardError(f"{ctx}: missing split {split_name!r} (carve valid with carve_from = 'train')")
        s = dict(_typed(raw_splits[split_name], dict, f"splits.{split_name}", ctx))
        what = f"splits.{split_name}"
        spec = SplitSpec(name=split_name, source=_typed(s.pop("source", None), str, f"{what}.source", ctx),
                         where=_typed(s.pop("where", {}), dict, f"{what}.where", ctx),
                         where_not=_typed(s.pop("where_not", {}), dict, f"{what}.where_not", ctx),
                         carve_from=_typed(s.pop("carve_from", None), str, f"{what}.carve_from", ctx),
                         fraction=float(_typed(s.pop("fraction", 0.1), (int, float), f"{what}.fraction", ctx)),
                         seed=_typed(s.pop("seed", 0), int, f"{what}.seed", ctx),
                         stratify=_typed(s.pop("stratify", ttype != "regression"), bool, f"{what}.stratify", ctx))
        if s:
            raise CardError(f"{ctx}: split {split_name!r} has unknown fields {sorted(s)}"
                            f"{did_you_mean(next(iter(s)), SPLIT_FIELDS)}")
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
        notes=str(data.get("notes", "")).strip(), partition=partition,
        expected_hashes=_expected_hashes(data.get("expected_hashes", {}), ctx), path=path,
    )


def _check_pair_format(fmt: dict[str, Any], ttype: str, sources: dict[str, Source], ctx: str) -> None:
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
    if "sequence" in fmt or "sequence_b" in fmt:
        raise CardError(f"{ctx}: format names sequences both directly (sequence / sequence_b) and by id "
                        f"(id_a / id_b); use one")
    for key in ("id_a", "id_b", "dictionary"):
        if key not in fmt:
            raise CardError(f"{ctx}: a dictionary join needs format.id_a, format.id_b and [format.dictionary] "
                            f"(missing {key!r})")
    columns = fmt.get("columns")
    for key in ("id_a", "id_b"):
        if columns is not None and fmt[key] not in columns:
            raise CardError(f"{ctx}: format.{key} = {fmt[key]!r} is not one of format.columns {columns}")
    table = fmt["dictionary"]
    if not isinstance(table, dict):
        raise CardError(f"{ctx}: format.dictionary must be a table ([format.dictionary])")
    unknown = sorted(set(table) - DICTIONARY_FIELDS)
    if unknown:
        raise CardError(f"{ctx}: [format.dictionary] has unknown fields {unknown} (allowed: {sorted(DICTIONARY_FIELDS)})")
    for key in ("source", "id", "sequence"):
        if key not in table:
            raise CardError(f"{ctx}: [format.dictionary] needs {key!r} (the source, its id column and its "
                            f"sequence column)")
    if table["source"] not in sources:
        raise CardError(f"{ctx}: [format.dictionary] reads unknown source {table['source']!r}")
    if table.get("kind", fmt["kind"]) not in FORMATS:
        raise CardError(f"{ctx}: [format.dictionary] kind must be one of {FORMATS}, got {table['kind']!r}")
    dcols = table.get("columns")
    for key in ("id", "sequence"):
        if dcols is not None and table[key] not in dcols:
            raise CardError(f"{ctx}: [format.dictionary] {key} = {table[key]!r} is not one of its columns {dcols}")


def _parse_partition(table: dict[str, Any], ttype: str, sources: dict[str, Source], ctx: str) -> Partition:
    unknown = sorted(set(table) - {"source", "by", "seed", "fractions"})
    if unknown:
        raise CardError(f"{ctx}: [partition] has unknown fields {unknown}")
    source = _require(table, "source", f"{ctx} [partition]")
    if source not in sources:
        raise CardError(f"{ctx}: [partition] reads unknown source {source!r}")
    by = table.get("by")
    if by not in PARTITION_BY:
        raise CardError(f"{ctx}: [partition] by must be one of {PARTITION_BY}, got {by!r}")
    if ttype != "pair_binary":
        raise CardError(f"{ctx}: [partition] splits pairs; it needs a pair_binary task")
    fractions = dict(_require(table, "fractions", f"{ctx} [partition]"))
    if set(fractions) != set(SPLIT_NAMES):
        raise CardError(f"{ctx}: [partition] fractions must name exactly {SPLIT_NAMES}, got {sorted(fractions)}")
    try:
        fractions = {k: float(fractions[k]) for k in SPLIT_NAMES}
    except (TypeError, ValueError):
        raise CardError(f"{ctx}: [partition] fractions must be numbers") from None
    if not all(0.0 < f < 1.0 for f in fractions.values()) or sum(fractions.values()) > 1.0 + 1e-9:
        raise CardError(f"{ctx}: [partition] fractions must each be in (0, 1) and sum to at most 1, "
                        f"got {fractions}")
    seed = table.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise CardError(f"{ctx}: [partition] seed must be an integer, got {seed!r}")
    return Partition(source=str(source), by=by, seed=seed, fractions=fractions)


def _expected_hashes(table: dict[str, Any], ctx: str) -> dict[str, str]:
    hashes = {str(k): str(v) for k, v in table.items()}
    for name, value in hashes.items():
        if name not in SPLIT_NAMES or not value.startswith("sha256:") or len(value) != 7 + 64:
            raise CardError(f"{ctx}: expected_hashes.{name} must be a split name with a 'sha256:<64 hex>' value")
    return hashes


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
