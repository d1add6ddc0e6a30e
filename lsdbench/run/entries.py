"""The entries file of the main job (``leaderboard/entries.toml``): encoders, sweeps, claims, controls.

Entries name encoders by spec only (registered names, ``module:attr``, ``file.py:attr``), so the
default benchmark plugs in baselines and reference models exactly as any user's package would.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lsdbench.comparison.hypotheses import Hypothesis
from lsdbench.errors import UserError

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib


class EntriesError(UserError, ValueError):
    """The entries file is missing a field or holds an invalid value."""


@dataclass(frozen=True)
class Entry:
    name: str  # display name on the leaderboard
    spec: str
    options: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)  # training_data, licence, link, description, parameters
    optional: bool = False
    sweep: str | None = None  # the option swept (e.g. "t"); the entry is then scored at its selected level
    # run only with `lsdbench run --extended` or when named by --only: controls and readings that cost hours
    extended: bool = False


@dataclass(frozen=True)
class Plan:
    suite: str
    levels: tuple[float, ...]
    references: tuple[str, ...]
    entries: tuple[Entry, ...]
    hypotheses: tuple[Hypothesis, ...] = ()
    controls: tuple[str, ...] = ()  # entry names whose scores are printed beside every claim


def load_plan(path: str | Path) -> Plan:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise EntriesError(f"{path}: cannot read entries file: {exc}") from exc
    entries = []
    for i, raw in enumerate(data.get("entry", [])):
        where = f"{path}: entry {i + 1}"
        for key in ("name", "spec", "training_data", "licence", "link"):
            if key not in raw:
                raise EntriesError(f"{where} ({raw.get('name', '?')}): missing {key!r}")
        meta = {k: raw[k] for k in ("training_data", "licence", "link", "description", "parameters") if k in raw}
        entries.append(Entry(name=raw["name"], spec=raw["spec"], options=dict(raw.get("options", {})), meta=meta,
                             optional=bool(raw.get("optional", False)), sweep=raw.get("sweep"),
                             extended=bool(raw.get("extended", False))))
    if not entries:
        raise EntriesError(f"{path}: no [[entry]] tables")
    names = {e.name for e in entries}
    hypotheses = []
    for i, raw in enumerate(data.get("hypothesis", [])):
        where = f"{path}: hypothesis {i + 1}"
        for key in ("claim", "better", "than"):
            if key not in raw:
                raise EntriesError(f"{where}: missing {key!r}")
        than = [raw["than"]] if isinstance(raw["than"], str) else list(raw["than"])
        unknown = [n for n in [raw["better"], *than] if n not in names]
        if unknown:
            raise EntriesError(f"{where}: {', '.join(map(repr, unknown))} is not the name of an [[entry]]")
        hypotheses.append(Hypothesis(claim=str(raw["claim"]), better=raw["better"], than=tuple(than),
                                     family=str(raw.get("family", "paper")),
                                     health_gated=bool(raw.get("health_gated", True))))
    controls = tuple(data.get("controls", []))
    unknown = [n for n in controls if n not in names]
    if unknown:
        raise EntriesError(f"{path}: controls: {', '.join(map(repr, unknown))} is not the name of an [[entry]]")
    return Plan(suite=data.get("suite", "open"), levels=tuple(float(t) for t in data.get("levels", [])),
                references=tuple(data.get("references", [])), entries=tuple(entries), hypotheses=tuple(hypotheses),
                controls=controls)
