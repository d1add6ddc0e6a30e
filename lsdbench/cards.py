"""Task cards: TOML files that describe a task as data (sources, format, splits, labels, metrics)."""

from __future__ import annotations

import difflib
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import UserError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from .formats import FIELD_KEYS, FORMATS, KIND_OPTIONS
from .labels import canonical
from .text import excerpt
from .types import SPLIT_NAMES, TASK_TYPES

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
TASK_FORMAT_KEYS = ("id_a", "id_b", "dictionary", "duplicate_pairs", "self_pairs")  # top-level [format] only
READER_KEYS = sorted({k for options in KIND_OPTIONS.values() for k in options})


class CardError(UserError, ValueError):
    """A task card is missing a field or holds an invalid value."""


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


def _check_keys(table: dict, fields: dict[str, Any], what: str, ctx: str) -> None:
    """Unknown keys of ``table`` are errors naming the closest known key; known ones are type-checked."""
    for key, value in table.items():
        if key not in fields:
            place = f"key {excerpt(key)} in {what}" if what else f"top-level key {excerpt(key)}"
            raise CardError(f"{ctx}: unknown {place}{did_you_mean(key, fields)}; known keys: "
                            f"{', '.join(sorted(fields))}")
        _typed(value, fields[key], f"{what}.{key}" if what else key, ctx)


def _list_of(value: list | None, kinds, what: str, ctx: str) -> list:
    for item in value or ():
        _typed(item, kinds, f"each item of {what}", ctx)
    return list(value or ())


def _parse_type(data: dict[str, Any], ctx: str) -> str:
    ttype = _require(data, "type", ctx)
    if ttype not in TASK_TYPES:
        raise CardError(f"{ctx}: type {ttype!r} is not one of {TASK_TYPES}")
    return ttype


def _parse_metrics(data: dict[str, Any], ttype: str, ctx: str) -> tuple[str, tuple[str, ...]]:
    """The primary and secondary metrics, each one that applies to the task type."""
    primary = _require(data, "primary_metric", ctx)
    secondary = tuple(data.get("secondary_metrics", ()))
    allowed = METRICS_BY_TYPE[ttype]
    for metric in (primary, *secondary):
        if metric not in allowed:
            raise CardError(f"{ctx}: metric {metric!r} does not apply to a {ttype} task (use {allowed})")
    return primary, secondary


def _parse_source(sname: str, sdata: Any, fmt: dict[str, Any], ctx: str) -> Source:
    """One [sources.NAME] table: its keys, how it is read, and exactly one verifiable origin."""
    _typed(sdata, dict, f"sources.{sname}", ctx)
    _check_keys(sdata, SOURCE_FIELDS, f"[sources.{sname}]", ctx)
    own = dict(sdata.get("format", {}))
    _check_format_table(own, f"[sources.{sname}.format]", ctx)
    src = Source(name=sname, url=sdata.get("url"), path=sdata.get("path"), hash=sdata.get("hash"),
                 member=sdata.get("member"), format=_source_format(fmt, own, sname, sdata, ctx))
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
    raw_splits = {} if partition else _require(data, "splits", ctx)
    splits = {split_name: _parse_split(split_name, raw_splits, ttype, sources, ctx)
              for split_name in (SPLIT_NAMES if partition is None else ())}
    return splits, partition


def _parse_split(split_name: str, raw_splits: dict[str, Any], ttype: str, sources: dict[str, Source],
                 ctx: str) -> SplitSpec:
    """One [splits.NAME] table: a source (optionally filtered) or a share carved from another split."""
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
    return spec


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
        _typed(size, int, f"expected_sizes.{split_name}", ctx)


def parse_card(data: dict[str, Any], *, where: str, path: Path | None = None) -> TaskCard:
    """Build and validate a TaskCard from parsed TOML; ``where`` names the file in errors."""
    name = str(_require(data, "name", where))
    ctx = f"{where} (task {name!r})"
    _check_keys(data, TOP_FIELDS, "", ctx)
    for key in ("suites", "secondary_metrics"):
        _list_of(data.get(key), str, key, ctx)
    for key in ("label_names", "exclude_labels"):
        _list_of(data.get(key), (str, int, float), key, ctx)
    ttype = _parse_type(data, ctx)
    primary, secondary = _parse_metrics(data, ttype, ctx)

    fmt = dict(data.get("format", {}))
    _check_format_table(fmt, "[format]", ctx)
    sources = {sname: _parse_source(sname, sdata, fmt, ctx)
               for sname, sdata in _require(data, "sources", ctx).items()}
    _check_inherited_options(fmt, sources, ctx)
    _check_pair_format(fmt, ttype, sources, ctx)
    splits, partition = _parse_splits(data, ttype, sources, ctx)

    label_names = _parse_label_names(data, ttype, ctx)
    label_map = _parse_label_map(data, label_names, ctx)
    expected_sizes = data.get("expected_sizes", {})
    _check_expected_sizes(expected_sizes, ctx)

    return TaskCard(
        name=name, version=str(_require(data, "version", ctx)), type=ttype,
        description=str(data.get("description", "")).strip(), citation=str(data.get("citation", "")).strip(),
        licence=str(_require(data, "licence", ctx)), primary_metric=primary, secondary_metrics=secondary,
        suites=tuple(data.get("suites", ())), sources=sources, format=fmt, splits=splits,
        label_names=label_names, label_map=label_map,
        exclude_labels=tuple(canonical(str(x)) for x in data.get("exclude_labels", ())), unit=data.get("unit"),
        expected_sizes={k: int(v) for k, v in expected_sizes.items()},
        notes=str(data.get("notes", "")).strip(), partition=partition,
        expected_hashes=_expected_hashes(data.get("expected_hashes", {}), ctx), path=path,
        replaces_packaged=bool(data.get("replaces_packaged", False)),
    )


def _check_format_table(fmt: dict[str, Any], what: str, ctx: str) -> None:
    """Keys, types and values of a [format] table (the card's, a source's or the dictionary's)."""
    _check_keys(fmt, DICTIONARY_FIELDS if what == "[format.dictionary]" else FORMAT_FIELDS, what, ctx)
    if "kind" in fmt and fmt["kind"] not in FORMATS:
        raise CardError(f"{ctx}: {what} kind must be one of {FORMATS}, got {excerpt(fmt['kind'])}"
                        f"{did_you_mean(fmt['kind'], FORMATS)}")
    if "columns" in fmt:
        columns = _list_of(fmt["columns"], str, f"{what}.columns", ctx)
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


def _source_format(top: dict[str, Any], own: dict[str, Any], sname: str, sdata: dict, ctx: str) -> dict[str, Any]:
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


def _check_inherited_options(fmt: dict[str, Any], sources: dict[str, Source], ctx: str) -> None:
    """A reader option in [format] must apply to its kind, or (no default kind) to some source's kind."""
    kinds = [fmt["kind"]] if "kind" in fmt else [src.format["kind"] for src in sources.values()]
    for key in fmt:
        if key in READER_KEYS and not any(key in KIND_OPTIONS[k] for k in kinds):
            raise CardError(f"{ctx}: [format].{key} does not apply to kind = {kinds[0]!r} "
                            f"({_options_text(kinds[0])})")


def _one_spelling(names: tuple[str, ...], what: str, ctx: str) -> None:
    seen: dict[str, str] = {}
    for name in names:
        key = canonical(name)
        if key in seen:
            raise CardError(f"{ctx}: {what} lists {seen[key]!r} and {name!r}, one label written twice "
                            f"(1 and 1.0 are one class)")
        seen[key] = name


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
    _check_join_keys(fmt, ctx)
    _check_dictionary(fmt["dictionary"], sources, ctx)


def _check_join_keys(fmt: dict[str, Any], ctx: str) -> None:
    """A join names its pairs by id_a and id_b (columns of the pair file), never by sequence as well."""
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


def _check_dictionary(table: dict[str, Any], sources: dict[str, Source], ctx: str) -> None:
    """The [format.dictionary] table: a known source, its id and sequence columns, options its kind reads."""
    _check_format_table(table, "[format.dictionary]", ctx)
    for key in ("source", "id", "sequence"):
        if key not in table:
            raise CardError(f"{ctx}: [format.dictionary] needs {key!r} (the source, its id column and its "
                            f"sequence column)")
    if table["source"] not in sources:
        raise CardError(f"{ctx}: [format.dictionary] reads unknown source {table['source']!r}")
    kind = table.get("kind", sources[table["source"]].format["kind"])
    for key in READER_KEYS:
        if key in table and key not in KIND_OPTIONS[kind]:
            raise CardError(f"{ctx}: [format.dictionary].{key} does not apply to kind = {kind!r} "
                            f"({_options_text(kind)})")
    dcols = table.get("columns")
    for key in ("id", "sequence"):
        if dcols is not None and table[key] not in dcols:
            raise CardError(f"{ctx}: [format.dictionary] {key} = {table[key]!r} is not one of its columns {dcols}")


def _parse_partition(table: dict[str, Any], ttype: str, sources: dict[str, Source], ctx: str) -> Partition:
    _check_keys(table, {"source": str, "by": str, "seed": int, "fractions": dict}, "[partition]", ctx)
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
