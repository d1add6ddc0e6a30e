"""Filling the embedding cache in shards, without a launcher: ``lsdbench eval|sweep --shard I/N``.

Shard I of N owns the sequences whose key ``distributed.owns`` gives it (the rule torchrun's ranks use).
A shard run embeds what it owns into the ordinary cache, writes a completion marker per encoder
configuration, task and shard, and fits no probe. Every cache file has a name of its own, so shards
started at once need no lock and no shared database. ``lsdbench cache verify`` checks the markers and
the shards; a final run without ``--shard`` finds everything cached and probes.

Defaults when ``--shard`` is not given: a Slurm array (``SLURM_ARRAY_TASK_ID`` counted from
``SLURM_ARRAY_TASK_MIN`` in steps of ``SLURM_ARRAY_TASK_STEP``, of ``SLURM_ARRAY_TASK_COUNT``), else
``RANK``/``WORLD_SIZE`` of processes torchrun did not start; one shard of one is no shard. Under
torchrun the ranks split their shard among themselves and rank 0 writes the marker.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from lsdbench import __version__
from lsdbench.encode import distributed
from lsdbench.encode.cache import sequence_key
from lsdbench.encode.embedding import cache_for, embed
from lsdbench.encode.encoders import policy_for
from lsdbench.errors import UserError
from lsdbench.settings import SHARD_COUNT
from lsdbench.tasks import registry
from lsdbench.terminal import plural
from lsdbench.types import Encoder, Task

SCHEMA = "lsdbench-shard-1"
NONE = "none"  # --shard none: one whole run, whatever the environment says


class ShardError(UserError, ValueError):
    """A shard given on the command line or by the environment cannot be used."""


@dataclass(frozen=True)
class Shard:
    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def owns(self, key: str) -> bool:
        return distributed.owns(key, self.index, self.count)

    def part(self, rank: int, size: int) -> Shard:
        """The part of torchrun rank ``rank`` of ``size``: key % (count * size) == index + rank * count, so
        together the ranks own exactly this shard's keys (key % count == index)."""
        return Shard(self.index + rank * self.count, self.count * size)


def _checked(index: int, count: int, source: str) -> Shard:
    if count > SHARD_COUNT.value():  # every shard is a marker file and a loop turn: a count must stay small
        raise ShardError(f"{source}: {count:,} shards is more than one cache entry may have "
                         f"({SHARD_COUNT.hint()})")
    if count < 1 or not 0 <= index < count:
        raise ShardError(f"{source}: shard {index} of {count} does not exist (shards are numbered 0 to N-1)")
    return Shard(index, count)


def parse(text: str) -> Shard | str:
    """``--shard`` as argparse reads it: ``I/N`` (0 <= I < N) or ``none``."""
    if text.strip().lower() == NONE:
        return NONE
    index, sep, count = text.partition("/")
    try:
        return _checked(int(index), int(count), f"--shard {text}")
    except ValueError as exc:
        if isinstance(exc, ShardError):
            raise
        raise ShardError(f"--shard {text!r} is not of the form I/N (for example 0/3), nor 'none'") from None


def _env_int(name: str, default: int | None = None) -> int:
    value = os.environ.get(name)
    if value is None and default is not None:
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ShardError(f"{name}={value!r} is not an integer; pass --shard I/N instead") from None


def from_env() -> Shard | None:
    """The shard a Slurm array task or a RANK/WORLD_SIZE process (outside torchrun) is, if any."""
    if "SLURM_ARRAY_TASK_ID" in os.environ and "SLURM_ARRAY_TASK_COUNT" in os.environ:
        offset = _env_int("SLURM_ARRAY_TASK_ID") - _env_int("SLURM_ARRAY_TASK_MIN", 0)
        step = _env_int("SLURM_ARRAY_TASK_STEP", 1)
        if step < 1:
            raise ShardError(f"SLURM_ARRAY_TASK_STEP={step} is not a positive step; pass --shard I/N instead")
        index, rest = divmod(offset, step)
        shard = _checked(index if not rest else -1, _env_int("SLURM_ARRAY_TASK_COUNT"),
                         "SLURM_ARRAY_TASK_ID (an --array that is not a range: pass --shard I/N)")
    elif "RANK" in os.environ and "WORLD_SIZE" in os.environ and not distributed.launched():
        shard = _checked(_env_int("RANK"), _env_int("WORLD_SIZE"), "RANK and WORLD_SIZE")
    else:
        return None
    return shard if shard.count > 1 else None


def chosen(arg: Shard | str | None) -> Shard | None:
    """The shard of this run: ``--shard`` when given (``none``: no shard), else the environment's."""
    if arg == NONE:
        return None
    return arg if isinstance(arg, Shard) else from_env()


def keys_digest(keys: Sequence[str]) -> str:
    return "sha256:" + hashlib.sha256("\n".join(sorted(keys)).encode()).hexdigest()


def marker(task: Task, shard: Shard, owned: Sequence[str]) -> dict:
    """What a completion marker records: the task's data (split hashes), the shard, and the keys it owns."""
    return {"schema": SCHEMA, "lsdbench_version": __version__, "task": task.name, "task_version": task.card.version,
            "split_hashes": task.split_hashes(), "shard": str(shard), "index": shard.index, "count": shard.count,
            "sequences": len(owned), "keys_sha256": keys_digest(owned)}


@dataclass
class Filled:
    """What one shard run did for one encoder (or sweep) on one task (rank 0's view under torchrun)."""

    what: str  # the encoder, or the swept family
    task: str
    shard: Shard
    owned: int  # distinct sequences of the task in this shard
    embedded: int  # of them, not cached before this run
    total: int  # distinct sequences of the task
    remaining: int  # of the task's, still missing in some encoder configuration's cache (other shards')
    marked: list[int]  # shards (of count) with a completion marker, this one included

    def line(self) -> str:
        waiting = sorted(set(range(self.shard.count)) - set(self.marked))
        rest = "every shard is marked done" if not waiting else \
            f"shards not marked done: {', '.join(f'{i}/{self.shard.count}' for i in waiting)}"
        return (f"  {self.what} on {self.task}: owns {self.owned:,} of {self.total:,} sequences, embedded "
                f"{self.embedded:,} ({self.owned - self.embedded:,} were cached); {self.remaining:,} of the task's "
                f"remain uncached; {rest}")


def fill_task(encoders: Sequence[Encoder], fill: Callable[[list[str], list[str]], None], task: Task, shard: Shard,
              *, policy, cache_dir=None, what: str | None = None) -> Filled | None:
    """Embed what ``shard`` owns of ``task`` into the caches of ``encoders`` (``fill(sequences, ids)`` does the
    embedding) and mark the shard done in each. Under torchrun each rank embeds its part; rank 0 marks and
    reports, the others return None."""
    seqs, ids = task.sequences_and_ids()
    keys = [sequence_key(s) for s in seqs]
    owned = sorted({k for k in keys if shard.owns(k)})
    lacking = {k for enc in encoders for k in cache_for(enc, policy, cache_dir).missing(owned)}
    rank, size = distributed.world()
    mine = shard.part(rank, size)
    pick = [i for i, k in enumerate(keys) if mine.owns(k)]
    fill([seqs[i] for i in pick], [ids[i] for i in pick])
    distributed.barrier()
    if rank != 0:
        return None
    remaining, marked = _mark_done(encoders, task, shard, owned, set(keys), policy=policy, cache_dir=cache_dir)
    return Filled(what or encoders[0].name, task.name, shard, len(owned), len(lacking), len(set(keys)),
                  remaining, marked)


def _mark_done(encoders: Sequence[Encoder], task: Task, shard: Shard, owned: list[str], keys: set[str], *, policy,
               cache_dir) -> tuple[int, list[int]]:
    """Write the shard's marker into each encoder's entry; (sequences of the task some entry still lacks, the
    shards marked done so far)."""
    remaining: set[str] = set()
    for enc in encoders:
        cache = cache_for(enc, policy, cache_dir)  # a fresh index: it sees what every rank wrote
        if cache.missing(owned):  # fill stores everything or raises: reaching this is a bug, never a marker
            raise RuntimeError(f"shard {shard} of {enc.name} on {task.name}: sequences missing after filling")
        cache.write_marker(task.name, shard.index, shard.count, marker(task, shard, owned))
        remaining.update(cache.missing(keys))
    first = cache_for(encoders[0], policy, cache_dir)
    return len(remaining), [i for i in range(shard.count) if first.marker_path(task.name, i, shard.count).exists()]


def fill_encoder(encoder: Encoder, task: Task, shard: Shard, *, long_sequences: str = "window", cache_dir=None,
                 batch_residues: int | None = None, progress: bool = True) -> Filled | None:
    """``fill_task`` for one encoder, embedding as ``lsdbench eval`` would (same policy and batches)."""
    policy = policy_for(encoder, long_sequences)

    def fill(seqs: list[str], ids: list[str]) -> None:
        embed(encoder, seqs, ids=ids, task=task.name, policy=policy, cache_dir=cache_dir,
              batch_residues=batch_residues, progress=progress and distributed.is_main())

    return fill_task([encoder], fill, task, shard, policy=policy, cache_dir=cache_dir)


def fill_eval(encoder: Encoder, cards: Sequence, shard: Shard, *, cache_dir=None, mirror=None, progress: bool = True,
              **embedding) -> list[Filled]:
    """``lsdbench eval --shard``: fill the shard on every task; ``embedding``: long_sequences, batch_residues."""
    filled = []
    for card in cards:
        task = registry.load_task(card, cache_dir=cache_dir, mirror=mirror, progress=progress)
        filled.append(fill_encoder(encoder, task, shard, cache_dir=cache_dir, progress=progress, **embedding))
    return [f for f in filled if f is not None]


def summary(shard: Shard, filled: Sequence[Filled], command: str) -> str:
    """What a shard run prints: per encoder and task what it filled and what remains, and what to run next."""
    lines = [f"shard {shard}: filled the embedding cache ({plural(len(filled), 'encoder-task pair')}); no probe "
             f"is fitted in a shard run"]
    lines += [f.line() for f in filled]
    if all(f.remaining == 0 for f in filled):
        lines.append(f"every sequence is cached: run the same `lsdbench {command}` without --shard to probe")
    else:
        lines.append(f"when every shard is done: `lsdbench cache verify`, then the same `lsdbench {command}` "
                     f"without --shard probes")
    return "\n".join(lines)
