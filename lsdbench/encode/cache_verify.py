"""``lsdbench cache verify``: whether the embedding cache holds every sequence of tasks, shard by shard.

It only reads. Per cached encoder configuration: every shard file loads, passes its checksum and is named
after it. Per configuration and task (the tasks named by ``--task``, else those with completion markers
of ``--shard`` runs): each marker matches the task's data as it is now (split hashes, number of
sequences, hash of their keys), every shard of the marked count has a marker, and every sequence is
cached; what is missing is named by item id and by the shard that owns it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tabulate import tabulate

from lsdbench import settings
from lsdbench.encode import cache as embed_cache
from lsdbench.encode import distributed
from lsdbench.encode.cache import CacheError, sequence_key
from lsdbench.encode.shards import keys_digest
from lsdbench.settings import SHARD_COUNT
from lsdbench.tasks import registry
from lsdbench.types import Task

SHOWN_IDS = 5  # item ids named per missing shard; the rest are counted


@dataclass
class TaskCheck:
    task: str
    expected: int  # distinct sequences of the task
    cached: int
    count: int | None = None  # N of the markers (None: no marker)
    marked: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@dataclass
class EntryCheck:
    name: str
    key: str  # the entry's folder (config digest)
    sequences: int
    problems: list[str] = field(default_factory=list)  # shard files and unreadable markers
    tasks: list[TaskCheck] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and not any(t.problems for t in self.tasks)


def _marked_count(markers: Sequence[dict]) -> int | None:
    """The shard count N the markers speak of; markers of several counts (runs with other N): the most marked."""
    limit = SHARD_COUNT.value()  # a marker edited to count = 10**9 must not buy a loop of 10**9 turns
    counts = [m["count"] for m in markers if type(m.get("count")) is int and 0 < m["count"] <= limit]
    return max(set(counts), key=lambda n: (counts.count(n), n)) if counts else None


def _marker_problem(m: dict, split_hashes: dict[str, str], first_id: dict[str, str]) -> str | None:
    """What is wrong with one marker against the task as it is now (None: nothing)."""
    index, count = m.get("index"), m.get("count")
    if not isinstance(index, int) or not isinstance(count, int) or not 0 <= index < count:
        return f"a completion marker names no valid shard ({m.get('shard')!r})"
    if count > SHARD_COUNT.value():
        return f"a completion marker counts {count:,} shards, more than one entry may have ({SHARD_COUNT.hint()})"
    if m.get("split_hashes") != split_hashes:
        return f"the marker of shard {index}/{count} was written for other data of the task (split hashes differ): " \
               f"run that shard again"
    owned = [k for k in first_id if distributed.owns(k, index, count)]
    if m.get("sequences") != len(owned) or m.get("keys_sha256") != keys_digest(owned):
        return f"the marker of shard {index}/{count} counts {m.get('sequences')} sequences (keys " \
               f"{str(m.get('keys_sha256'))[:19]}...), the task gives {len(owned)} ({keys_digest(owned)[:19]}...)"
    return None


def _missing_lines(missing: list[str], first_id: dict[str, str], count: int | None) -> list[str]:
    """The missing sequences, by the shard that owns them (when a count is marked), named by item id."""
    groups: dict[str, list[str]] = {}
    for key in missing:
        where = f"shard {int(key[:12], 16) % count}/{count}" if count else "the cache"
        groups.setdefault(where, []).append(first_id[key])
    lines = []
    for where, ids in sorted(groups.items()):
        items = sorted(set(ids))  # both proteins of a pair carry the pair's id
        shown = ", ".join(items[:SHOWN_IDS]) + (f" and {len(items) - SHOWN_IDS} more" if len(items) > SHOWN_IDS else "")
        lines.append(f"{where} lacks {len(ids)} sequence{'s' if len(ids) != 1 else ''} (items {shown})")
    return lines


def check_task(task: Task, keys: dict[str, str], markers: Sequence[dict]) -> TaskCheck:
    """One entry's state for one task: markers, their validity, and the sequences it lacks."""
    first_id: dict[str, str] = {}
    for seq, item in zip(*task.sequences_and_ids(), strict=True):
        first_id.setdefault(sequence_key(seq), item)
    mine = [m for m in markers if m.get("task") == task.name]
    missing = [k for k in first_id if k not in keys]
    count = _marked_count(mine)
    check = TaskCheck(task.name, len(first_id), len(first_id) - len(missing), count)
    check.marked = sorted({m["index"] for m in mine if m.get("count") == count and isinstance(m.get("index"), int)})
    hashes = task.split_hashes()  # once: it reads every item of the task
    check.problems = [p for p in (_marker_problem(m, hashes, first_id) for m in mine) if p]
    if count:
        check.problems += [f"shard {i}/{count} has no completion marker (not run, still running, or stopped)"
                           for i in range(count) if i not in check.marked]
    check.problems += _missing_lines(missing, first_id, count)
    return check


def check_entry(info: dict, folder: Path, tasks: Sequence[str], load) -> EntryCheck:
    keys, problems = embed_cache.scan_entry(folder)
    problems += [info["problem"]] if "problem" in info else []
    markers = embed_cache.read_markers(folder)
    problems += [f"completion marker {embed_cache.MARKERS}/{name} does not parse" for name, m in markers if m is None]
    records = [m for _, m in markers if m is not None]
    names = list(tasks) or sorted({m["task"] for m in records if isinstance(m.get("task"), str)})
    entry = EntryCheck(info["name"], folder.name, len(keys), problems)
    entry.tasks = [check_task(load(name), keys, records) for name in names]
    return entry


def verify(name: str | None = None, tasks: Sequence[str] = (), cache_dir=None, mirror=None) -> list[EntryCheck]:
    """Check every cache entry (of encoder ``name``) against ``tasks`` (default: the tasks its markers name)."""
    found = [(info, folder) for info, folder in embed_cache.entries(cache_dir) if name in (None, info.get("name"))]
    if not found:
        what = f"of encoder {name!r} " if name else ""
        raise CacheError(f"the embedding cache under {settings.cache_dir(cache_dir)} holds no entry "
                         f"{what}(lsdbench cache info lists what it holds)")
    loaded: dict[str, Task] = {}

    def load(task: str) -> Task:  # each task once, whatever the number of entries
        if task not in loaded:
            loaded[task] = registry.load_task(task, cache_dir=cache_dir, mirror=mirror, progress=False)
        return loaded[task]

    names = [load(t).name for t in tasks]  # a card path is checked under its task's name
    for t, n in zip(tasks, names, strict=True):
        loaded[n] = loaded[t]
    return [check_entry(info, folder, names, load) for info, folder in found]


def report(checks: Sequence[EntryCheck]) -> str:
    rows, problems = [], []
    for e in checks:
        problems += [f"  {e.name} {e.key[:12]}: {p}" for p in e.problems]
        if not e.tasks:
            rows.append([e.name, e.key[:12], "-", "none", f"{e.sequences:,}",
                         "no marker: name tasks with --task" if not e.problems else "INCOMPLETE"])
        for t in e.tasks:
            marked = f"{len(t.marked)} of {t.count}" if t.count else "none"
            rows.append([e.name, e.key[:12], t.task, marked, f"{t.cached:,} of {t.expected:,}",
                         "complete" if not (t.problems or e.problems) else "INCOMPLETE"])
            problems += [f"  {e.name} {e.key[:12]} {t.task}: {p}" for p in t.problems]
    lines = [tabulate(rows, headers=["encoder", "cache key", "task", "shards marked", "sequences cached", "status"],
                      tablefmt="github", disable_numparse=True)]
    if problems:
        lines += ["", "problems:", *problems]
    good = sum(e.ok for e in checks)
    lines += ["", f"{good} of {len(checks)} cached encoder configurations complete"]
    return "\n".join(lines)
