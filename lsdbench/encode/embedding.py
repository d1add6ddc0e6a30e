"""Sequences -> pooled embeddings through the cache: only sequences the cache lacks are encoded.

Sequences are deduplicated, cut by the long-sequence policy, sorted by length and grouped into
token-budget batches (``count * longest <= budget``), so padding stays small and each ``encode``
call has about the same cost. Finished sequences are flushed to the cache in shards as they
complete, so a killed run keeps what it had done.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

import numpy as np
from tqdm.auto import tqdm

from lsdbench.encode import cache as embed_cache
from lsdbench.encode import cost, distributed, threads
from lsdbench.encode.batching import token_budget_batches
from lsdbench.encode.cache import EmbeddingCache, config_digest, sequence_key
from lsdbench.encode.encoders import EncoderError, LongSequencePolicy, describe, pool_output, source_file
from lsdbench.types import Encoder

log = logging.getLogger(__name__)
DEFAULT_BATCH_RESIDUES = 16384
FLUSH_EVERY = 512  # sequences per cache shard: bounds the work a killed run loses


def cache_config(encoder: Encoder, policy: LongSequencePolicy) -> dict:
    """What keys the encoder's cache entry: its config, the long-sequence policy (it changes embeddings)
    and its optional ``cache_inputs`` (absent or empty: the key is what it was before they existed)."""
    config = {**encoder.config, "_long_sequences": policy.record()}
    inputs = getattr(encoder, "cache_inputs", None)
    if inputs:
        config["_inputs"] = inputs
    return config


def cache_for(encoder: Encoder, policy: LongSequencePolicy, cache_dir=None) -> EmbeddingCache:
    return EmbeddingCache(encoder.name, cache_config(encoder, policy), cache_dir=cache_dir)


class CachedRun:
    """What a run does with the cached embeddings of each encoder configuration, once, before embedding it.

    The cache key is the encoder's name and config (plus the policy and ``cache_inputs``): editing an
    encoder's code without changing its config would reuse embeddings of the old code. With ``recompute``
    (``--recompute``) the configuration's cached embeddings are deleted, so this run computes them all
    again (once, however many tasks it spans); without it, a ``file.py:Class`` encoder whose file is newer
    than its cached embeddings is warned about.
    """

    def __init__(self, recompute: bool = False, cache_dir=None):
        self.recompute, self.cache_dir = recompute, cache_dir
        self._seen: set[str] = set()

    def prepare(self, encoder: Encoder, spec=None) -> None:
        key = config_digest(encoder.name, encoder.config)
        if key in self._seen:
            return
        self._seen.add(key)
        if self.recompute:
            if distributed.is_main():  # one rank clears, then all embed into the empty entry
                removed = embed_cache.clear_config(encoder.name, encoder.config, self.cache_dir)
                log.info("--recompute: deleted %d cached embedding entr%s of %s", removed,
                         "y" if removed == 1 else "ies", encoder.name)
            distributed.barrier()
            return
        source = source_file(spec)
        if source is None or not source.is_file():
            return
        edited = source.stat().st_mtime
        for entry in embed_cache.entries_of(encoder.name, encoder.config, self.cache_dir):
            shards = [p.stat().st_mtime for p in entry.glob("shard-*.npz")]
            if shards and min(shards) < edited:
                log.warning("encoder file %s was modified after the cached embeddings in %s were computed; they "
                            "are reused, since the cache key is the encoder's name and config: if the edit changes "
                            "the output, rerun with --recompute (or change the config)", source, entry)


def _fill(caches: list[EmbeddingCache], names: list[str], encode_batch: Callable[[list[str]], list],
          sequences: Sequence[str], ids: Sequence[str], *, task: str, policy: LongSequencePolicy, budget: int,
          progress: bool, tally: cost.Tally | None = None) -> None:
    """Encode what any of ``caches`` lacks; ``encode_batch`` returns one raw output per cache.

    ``tally`` adds up what was encoded and how long it took (a result's ``cost``)."""
    unique, first_id = _unique(sequences, ids)
    todo = sorted({k for c in caches for k in c.missing(unique)})
    if not todo:
        if tally is not None:
            tally.add(0, 0.0, 0, len(unique))
        return
    pieces, owner = _pieces(todo, unique, policy)
    pending = _Pending(caches, owner)
    total = sum(map(len, pieces))
    bar = tqdm(total=total, unit="res", unit_scale=True, disable=not progress, desc=f"{names[0]} on {task}",
               leave=False)
    threads.apply()  # an encoder may load torch only when it first encodes
    started = time.perf_counter()
    for batch in token_budget_batches([len(p) for p in pieces], budget, longest_first=True):
        batch_seqs = [pieces[i] for i in batch]
        pooled = _encode(encode_batch, batch_seqs, [first_id[owner[i]] for i in batch], names=names, task=task,
                         pending=pending)
        for row, i in enumerate(batch):
            pending.add(owner[i], pooled, row, len(pieces[i]))
        if len(pending.done) >= FLUSH_EVERY:
            pending.flush()
        bar.update(sum(len(s) for s in batch_seqs))
    bar.close()
    pending.flush()
    seconds = time.perf_counter() - started
    measured = cost.measure()
    if tally is not None:
        tally.add(total, seconds, len(todo), len(unique) - len(todo), measured)
    for c in caches:  # a later run that only reads these embeddings reports what they cost; plans read rates
        cost.record_pass(c.dir, task, total, seconds, len(caches), measured)


def _unique(sequences: Sequence[str], ids: Sequence[str]) -> tuple[dict[str, str], dict[str, str]]:
    """Each distinct sequence by its cache key, and the id of its first occurrence (named in errors)."""
    unique: dict[str, str] = {}
    first_id: dict[str, str] = {}
    for seq, item in zip(sequences, ids, strict=False):
        key = sequence_key(seq)
        unique.setdefault(key, seq)
        first_id.setdefault(key, item)
    return unique, first_id


def _pieces(todo: list[str], unique: dict[str, str], policy: LongSequencePolicy) -> tuple[list[str], list[str]]:
    """What is encoded: the long-sequence policy's pieces of each sequence to do, and the key each belongs to."""
    pieces, owner = [], []
    for key in todo:
        for piece in policy.pieces(unique[key]):
            pieces.append(piece)
            owner.append(key)
    return pieces, owner


class _Pending:
    """Pooled pieces on their way to the caches: a sequence's pieces average weighted by their length, and a
    sequence whose last piece is in is done, stored by the next ``flush``."""

    def __init__(self, caches: list[EmbeddingCache], owner: list[str]):
        self.caches = caches
        self.remaining: dict[str, int] = {}
        for key in owner:
            self.remaining[key] = self.remaining.get(key, 0) + 1
        self.sums: list[dict[str, np.ndarray]] = [{} for _ in caches]
        self.weight: dict[str, int] = {}
        self.done: list[str] = []
        self.done_rows: list[list[np.ndarray]] = [[] for _ in caches]

    def add(self, key: str, pooled: list, row: int, w: int) -> None:
        """Row ``row`` of each cache's ``pooled`` batch: a piece of ``key``, ``w`` residues long."""
        for j in range(len(self.caches)):  # windows of one sequence average weighted by their length
            self.sums[j][key] = self.sums[j].get(key, 0.0) + pooled[j][row].astype(np.float64) * w
        self.weight[key] = self.weight.get(key, 0) + w
        self.remaining[key] -= 1
        if self.remaining[key] == 0:
            self.done.append(key)
            for j in range(len(self.caches)):
                self.done_rows[j].append((self.sums[j].pop(key) / self.weight[key]).astype(np.float32))
            del self.weight[key]

    def flush(self) -> None:
        if self.done:
            for cache, rows in zip(self.caches, self.done_rows, strict=False):
                cache.put(self.done, np.stack(rows))
        self.done, self.done_rows = [], [[] for _ in self.caches]


def _encode(encode_batch: Callable[[list[str]], list], batch_seqs: list[str], batch_ids: list[str], *,
            names: list[str], task: str, pending: _Pending) -> list:
    """One pooled output per cache, every one checked before anything of this batch is stored; on any failure
    what finished before it is stored and an ``EncoderError`` (or the ``KeyboardInterrupt``) raised."""
    try:
        outputs = encode_batch(batch_seqs)
        return [pool_output(o, batch_seqs, encoder=n, task=task, ids=batch_ids)
                for o, n in zip(outputs, names, strict=False)]
    except BaseException as exc:
        _keep_done(pending.flush, names[0])  # what finished before the failure is not lost
        if isinstance(exc, (KeyboardInterrupt, EncoderError)):
            raise
        # SystemExit too: an encoder calling sys.exit must not end `eval` with status 0 and nothing written
        raise EncoderError(f"encoder {names[0]!r} failed on task {task!r}: {describe(exc)}") from exc


def _keep_done(flush: Callable[[], None], name: str) -> None:
    try:
        flush()
    except OSError as exc:  # the encoder's error is the one to report; this one is only logged
        log.warning("could not store finished embeddings of %s: %s", name, exc)


def _budget(encoder: Encoder, batch_residues: int | None) -> int:
    return batch_residues or getattr(encoder, "batch_residues", None) or DEFAULT_BATCH_RESIDUES


def embed(encoder: Encoder, sequences: Sequence[str], *, ids: Sequence[str] | None = None, task: str = "-",
          policy: LongSequencePolicy | None = None, cache: EmbeddingCache | None = None, cache_dir=None,
          batch_residues: int | None = None, progress: bool = True, tally: cost.Tally | None = None) -> np.ndarray:
    """Pooled float32 embeddings (n, d) of ``sequences``, in order, computing only what the cache lacks.

    ``tally``, when given, adds up the residues and seconds encoded (see ``cost``)."""
    ids = list(ids) if ids is not None else [f"#{i}" for i in range(len(sequences))]
    policy = policy or LongSequencePolicy(max_length=getattr(encoder, "max_length", None))
    cache = cache if cache is not None else cache_for(encoder, policy, cache_dir)  # an empty cache is falsy
    _fill([cache], [encoder.name], lambda batch: [encoder.encode(batch)], sequences, ids, task=task,
          policy=policy, budget=_budget(encoder, batch_residues), progress=progress,
          tally=tally)
    return cache.get([sequence_key(s) for s in sequences])


def embed_sweep(base: Encoder, variants: Sequence[Encoder], values: Sequence, sequences: Sequence[str], *,
                ids: Sequence[str] | None = None, task: str = "-", policy: LongSequencePolicy | None = None,
                cache_dir=None, batch_residues: int | None = None, progress: bool = True) -> None:
    """Fill the caches of a one-parameter family of encoders in one pass over the sequences.

    ``base.encode_sweep(batch, values)`` returns one output per value: an encoder built for sweeps
    computes its expensive shared part (the clean latent) once per batch, so each extra value costs
    only what differs (the denoiser). Encoders without ``encode_sweep`` are called once per value.
    """
    ids = list(ids) if ids is not None else [f"#{i}" for i in range(len(sequences))]
    policy = policy or LongSequencePolicy(max_length=getattr(base, "max_length", None))
    caches = [cache_for(v, policy, cache_dir) for v in variants]
    if hasattr(base, "encode_sweep"):
        def encode_batch(batch):
            return list(base.encode_sweep(batch, list(values)))
    else:
        def encode_batch(batch):
            return [v.encode(batch) for v in variants]
    _fill(caches, [v.name for v in variants], encode_batch, sequences, ids, task=task, policy=policy,
          budget=_budget(base, batch_residues), progress=progress)
