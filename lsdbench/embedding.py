"""Sequences -> pooled embeddings through the cache: only sequences the cache lacks are encoded.

Sequences are deduplicated, cut by the long-sequence policy, sorted by length and grouped into
token-budget batches (``count * longest <= budget``), so padding stays small and each ``encode``
call has about the same cost.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from tqdm.auto import tqdm

from .embed_cache import EmbeddingCache, sequence_key
from .encoders import LongSequencePolicy, pool_output
from .types import Encoder

DEFAULT_BATCH_RESIDUES = 16384
FLUSH_EVERY = 512  # sequences per cache shard: bounds the work a killed run loses


def token_budget_batches(lengths: Sequence[int], budget: int) -> list[list[int]]:
    """Indices grouped into batches, longest first, with ``len(batch) * longest <= budget``."""
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    batches, current, longest = [], [], 0
    for i in order:
        new_longest = max(longest, lengths[i])
        if current and new_longest * (len(current) + 1) > budget:
            batches.append(current)
            current, new_longest = [], lengths[i]
        current.append(i)
        longest = new_longest
    if current:
        batches.append(current)
    return batches


def embed(encoder: Encoder, sequences: Sequence[str], *, ids: Sequence[str] | None = None, task: str = "-",
          policy: LongSequencePolicy | None = None, cache: EmbeddingCache | None = None, cache_dir=None,
          batch_residues: int | None = None, progress: bool = True) -> np.ndarray:
    """Pooled float32 embeddings (n, d) of ``sequences``, in order, computing only what the cache lacks."""
    ids = list(ids) if ids is not None else [f"#{i}" for i in range(len(sequences))]
    policy = policy or LongSequencePolicy(max_length=getattr(encoder, "max_length", None))
    cache = cache or EmbeddingCache(encoder.name, {**encoder.config, "_long_sequences": policy.record()},
                                    cache_dir=cache_dir)
    keys = [sequence_key(s) for s in sequences]
    first_id: dict[str, str] = {}
    unique: dict[str, str] = {}
    for key, seq, item in zip(keys, sequences, ids):
        unique.setdefault(key, seq)
        first_id.setdefault(key, item)
    todo = cache.missing(unique)
    if todo:
        budget = batch_residues or getattr(encoder, "batch_residues", None) or DEFAULT_BATCH_RESIDUES
        pieces, owner = [], []
        for key in todo:
            for piece in policy.pieces(unique[key]):
                pieces.append(piece)
                owner.append(key)
        remaining = {key: 0 for key in todo}
        for key in owner:
            remaining[key] += 1
        sums: dict[str, np.ndarray] = {}
        weights: dict[str, int] = {}
        done_keys: list[str] = []
        done_rows: list[np.ndarray] = []
        bar = tqdm(total=sum(map(len, pieces)), unit="res", unit_scale=True, disable=not progress,
                   desc=f"{encoder.name} on {task}", leave=False)
        for batch in token_budget_batches([len(p) for p in pieces], budget):
            batch_seqs = [pieces[i] for i in batch]
            out = encoder.encode(batch_seqs)
            pooled = pool_output(out, batch_seqs, encoder=encoder.name, task=task,
                                 ids=[first_id[owner[i]] for i in batch])
            for row, i in enumerate(batch):
                key, w = owner[i], len(pieces[i])
                # windows of one sequence average weighted by their length
                sums[key] = sums.get(key, 0.0) + pooled[row].astype(np.float64) * w
                weights[key] = weights.get(key, 0) + w
                remaining[key] -= 1
                if remaining[key] == 0:
                    done_keys.append(key)
                    done_rows.append((sums.pop(key) / weights.pop(key)).astype(np.float32))
            if len(done_keys) >= FLUSH_EVERY:
                cache.put(done_keys, np.stack(done_rows))
                done_keys, done_rows = [], []
            bar.update(sum(len(s) for s in batch_seqs))
        bar.close()
        if done_keys:
            cache.put(done_keys, np.stack(done_rows))
    return cache.get(keys)
