"""Task cards: TOML files that describe a task as data, read section by section into a ``TaskCard``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from lsdbench.tasks.card_fields import (
    DICTIONARY_FIELDS,
    FORMAT_FIELDS,
    METRICS_BY_TYPE,
    PAIR_POLICIES,
    PARTITION_BY,
    PARTITION_FIELDS,
    READER_KEYS,
    SOURCE_FIELDS,
    SPLIT_FIELDS,
    TASK_FORMAT_KEYS,
    TOP_FIELDS,
    CardError,
    check_keys,
    did_you_mean,
    list_of,
    require,
    typed,
)
from lsdbench.tasks.card_format import (
    check_format_table,
    check_inherited_options,
    check_pair_format,
    source_format,
)
from lsdbench.tasks.card_types import Partition, Source, SplitSpec, TaskCard
from lsdbench.tasks.labels import canonical
from lsdbench.types import SPLIT_NAMES, TASK_TYPES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# The card's model (card_types), keys (card_fields) and [format] checks (card_format) keep their old names here.
__all__ = ["DICTIONARY_FIELDS", "FORMAT_FIELDS", "METRICS_BY_TYPE", "PAIR_POLICIES", "PARTITION_BY", "READER_KEYS",
           "SOURCE_FIELDS", "SPLIT_FIELDS", "TASK_FORMAT_KEYS", "TOP_FIELDS", "CardError", "Partition", "Source",
           "SplitSpec", "TaskCard", "did_you_mean", "load_card", "parse_card"]


def _parse_type(data: dict[str, Any], ctx: str) -> str:
    ttype = require(data, "type", ctx)
    if ttype not in TASK_TYPES:
        raise CardError(f"{ctx}: type {ttype!r} is not one of {TASK_TYPES}")
    return ttype


def _parse_metrics(data: dict[str, Any], ttype: str, ctx: str) -> tuple[str, tuple[str, ...]]:
    """The primary and secondary metrics, each one that applies to the task type."""
    primary = require(data, "primary_metric", ctx)
    secondary = tuple(data.get("secondary_metrics", ()))
    allowed = METRICS_BY_TYPE[ttype]
    for metric in (primary, *secondary):
        if metric not in allowed:
            raise CardError(f"{ctx}: metric {metric!r} does not apply to a {ttype} task (use {allowed})")
    return primary, secondary


def _parse_source(sname: str, sdata: Any, fmt: dict[str, Any], ctx: str) -> Source:
    """One [sources.NAME] table: its keys, how it is read, and exactly one verifiable origin."""
    typed(sdata, dict, f"sources.{sname}", ctx)
    check_keys(sdata, SOURCE_FIELDS, f"[sources.{sname}]", ctx)
    own = dict(sdata.get("format", {}))
    check_format_table(own, f"[sources.{sname}.format]", ctx)
    src = Source(name=sname, url=sdata.get("url"), path=sdata.get("path"), hash=sdata.get("hash"),
                 member=sdata.get("member"), format=source_format(fmt, own, sname, sdata, ctx))
    if bool(src.url) == bool(src.path):
        raise CardError(f"{ctx}: source {sname!r} needs exactly one of 'url' or 'path'")
    if src.url and not src.hash:
        raise CardError(f"{ctx}: source {sname!r} has a URL but no hash; every download is verified")
    if src.hash and src.hash.split(":")[0] not in ("sha256", "md5"):
        raise CardError(f"{ctx}: source {sname!r}: hash must start with 'sha256:' or 'md5:'")
    return src


def _parse_splits(data: dict[str, Any], ttype: str, sources: dict[str, Source],
                  ctx: str) -> tuple[dict[str, SplitSpec], Partition | None]:
    """Either the per-split specs of [splits] or one [partition] (then no split specs)."""
    partition = None
    if "partition" in data:
        if "splits" in data:
            raise CardError(f"{ctx}: give either [splits] or [partition], not both")
        partition = _parse_partition(dict(data["partition"]), ttype, sources, ctx)
    raw_splits = {} if partition else require(data, "splits", ctx)
    splits = {split_name: _parse_split(split_name, raw_splits, ttype, sources, ctx)
              for split_name in (SPLIT_NAMES if partition is None else ())}
    return splits, partition


def _parse_split(split_name: str, raw_splits: dict[str, Any], ttype: str, sources: dict[str, Source],
                 ctx: str) -> SplitSpec:
    """One [splits.NAME] table: a source (optionally filtered) or a share carved from another split."""
    if split_name not in raw_splits:
        raise CardError(f"{ctx}: missing split {split_name!r} (carve valid with carve_from = 'train')")
    s = dict(typed(raw_splits[split_name], dict, f"splits.{split_name}", ctx))
    what = f"splits.{split_name}"
    spec = SplitSpec(name=split_name, source=typed(s.pop("source", None), str, f"{what}.source", ctx),
                     where=typed(s.pop("where", {}), dict, f"{what}.where", ctx),
                     where_not=typed(s.pop("where_not", {}), dict, f"{what}.where_not", ctx),
                     carve_from=typed(s.pop("carve_from", None), str, f"{what}.carve_from", ctx),
                     fraction=float(typed(s.pop("fraction", 0.1), (int, float), f"{what}.fraction", ctx)),
                     seed=typed(s.pop("seed", 0), int, f"{what}.seed", ctx),
                     stratify=typed(s.pop("stratify", ttype != "regression"), bool, f"{what}.stratify", ctx))
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
    return spec


def _parse_partition(table: dict[str, Any], ttype: str, sources: dict[str, Source], ctx: str) -> Partition:
    check_keys(table, PARTITION_FIELDS, "[partition]", ctx)
    source = require(table, "source", f"{ctx} [partition]")
    if source not in sources:
        raise CardError(f"{ctx}: [partition] reads unknown source {source!r}")
    by = table.get("by")
    if by not in PARTITION_BY:
        raise CardError(f"{ctx}: [partition] by must be one of {PARTITION_BY}, got {by!r}")
    if ttype != "pair_binary":
        raise CardError(f"{ctx}: [partition] splits pairs; it needs a pair_binary task")
    fractions = dict(require(table, "fractions", f"{ctx} [partition]"))
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


def _parse_label_names(data: dict[str, Any], ttype: str, ctx: str) -> tuple[str, ...]:
    """Class names: two for binary tasks, at least two for multiclass, each label written once."""
    label_names = tuple(str(x) for x in data.get("label_names", ()))
    if ttype != "regression":
        if len(label_names) < 2:
            raise CardError(f"{ctx}: a {ttype} task needs at least two label_names")
        if ttype in ("binary", "pair_binary") and len(label_names) != 2:
            raise CardError(f"{ctx}: a {ttype} task needs exactly two label_names")
    _one_spelling(label_names, "label_names", ctx)
    return label_names


def _one_spelling(names: tuple[str, ...], what: str, ctx: str) -> None:
    seen: dict[str, str] = {}
    for name in names:
        key = canonical(name)
        if key in seen:
            raise CardError(f"{ctx}: {what} lists {seen[key]!r} and {name!r}, one label written twice "
                            f"(1 and 1.0 are one class)")
        seen[key] = name


def _parse_label_map(data: dict[str, Any], label_names: tuple[str, ...], ctx: str) -> dict[str, str]:
    """Raw label (canonical spelling: 1 and 1.0 are one class, see labels.canonical) -> a label name."""
    label_map: dict[str, str] = {}
    for raw, target in data.get("label_map", {}).items():
        key, target = canonical(str(raw)), str(target)
        if label_map.get(key, target) != target:
            raise CardError(f"{ctx}: label_map sends {key!r} (written {raw!r}) to both {label_map[key]!r} and "
                            f"{target!r}; 1 and 1.0 are one label")
        if target not in label_names:
            raise CardError(f"{ctx}: label_map sends {raw!r} to {target!r}, which is not in label_names")
        label_map[key] = target
    return label_map


def _check_expected_sizes(sizes: dict[str, Any], ctx: str) -> None:
    for split_name, size in sizes.items():
        if split_name not in SPLIT_NAMES:
            raise CardError(f"{ctx}: expected_sizes.{split_name} is not a split{did_you_mean(split_name, SPLIT_NAMES)}")
        typed(size, int, f"expected_sizes.{split_name}", ctx)


def _expected_hashes(table: dict[str, Any], ctx: str) -> dict[str, str]:
    hashes = {str(k): str(v) for k, v in table.items()}
    for name, value in hashes.items():
        if name not in SPLIT_NAMES or not value.startswith("sha256:") or len(value) != 7 + 64:
            raise CardError(f"{ctx}: expected_hashes.{name} must be a split name with a 'sha256:<64 hex>' value")
    return hashes


def parse_card(data: dict[str, Any], *, where: str, path: Path | None = None) -> TaskCard:
    """Build and validate a TaskCard from parsed TOML; ``where`` names the file in errors."""
    name = str(require(data, "name", where))
    ctx = f"{where} (task {name!r})"
    check_keys(data, TOP_FIELDS, "", ctx)
    for key in ("suites", "secondary_metrics"):
        list_of(data.get(key), str, key, ctx)
    for key in ("label_names", "exclude_labels"):
        list_of(data.get(key), (str, int, float), key, ctx)
    ttype = _parse_type(data, ctx)
    primary, secondary = _parse_metrics(data, ttype, ctx)

    fmt = dict(data.get("format", {}))
    check_format_table(fmt, "[format]", ctx)
    sources = {sname: _parse_source(sname, sdata, fmt, ctx)
               for sname, sdata in require(data, "sources", ctx).items()}
    check_inherited_options(fmt, sources, ctx)
    check_pair_format(fmt, ttype, sources, ctx)
    splits, partition = _parse_splits(data, ttype, sources, ctx)

    label_names = _parse_label_names(data, ttype, ctx)
    label_map = _parse_label_map(data, label_names, ctx)
    expected_sizes = data.get("expected_sizes", {})
    _check_expected_sizes(expected_sizes, ctx)

    return TaskCard(
        name=name, version=str(require(data, "version", ctx)), type=ttype,
        description=str(data.get("description", "")).strip(), citation=str(data.get("citation", "")).strip(),
        licence=str(require(data, "licence", ctx)), primary_metric=primary, secondary_metrics=secondary,
        suites=tuple(data.get("suites", ())), sources=sources, format=fmt, splits=splits,
        label_names=label_names, label_map=label_map,
        exclude_labels=tuple(canonical(str(x)) for x in data.get("exclude_labels", ())), unit=data.get("unit"),
        expected_sizes={k: int(v) for k, v in expected_sizes.items()},
        notes=str(data.get("notes", "")).strip(), partition=partition,
        expected_hashes=_expected_hashes(data.get("expected_hashes", {}), ctx), path=path,
        replaces_packaged=bool(data.get("replaces_packaged", False)),
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
