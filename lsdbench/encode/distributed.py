"""Embedding extraction sharded across processes started by ``torchrun``.

Each rank embeds the sequences whose hash falls in its shard and writes them to the shared cache;
after a barrier, rank 0 reads everything from the cache (no forward pass) and fits the probes.
Without torchrun's environment this is a single process and nothing here does anything. ``owns`` is
the one ownership rule: ``--shard I/N`` (lsdbench.encode.shards) uses it too.
"""

from __future__ import annotations

import os
from datetime import timedelta


def launched() -> bool:
    """Whether a process group can be formed: torchrun sets MASTER_ADDR beside RANK and WORLD_SIZE. Without
    it, RANK and WORLD_SIZE only number independent processes (they are then --shard's defaults)."""
    return "MASTER_ADDR" in os.environ and "WORLD_SIZE" in os.environ


def world() -> tuple[int, int]:
    """(rank, world size) from torchrun's environment; (0, 1) when not launched by it."""
    if not launched():
        return 0, 1
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def is_main() -> bool:
    return world()[0] == 0


def owns(key: str, rank: int, size: int) -> bool:
    """Whether a sequence (by its sha256 hex key) belongs to this rank's shard."""
    return int(key[:12], 16) % size == rank


def barrier() -> None:
    rank, size = world()
    if size == 1:
        return
    import torch.distributed as dist

    if not dist.is_initialized():
        # gloo works on CPU and GPU hosts alike; only a barrier is needed, no tensors move.
        dist.init_process_group("gloo", timeout=timedelta(hours=6))
    dist.barrier()
