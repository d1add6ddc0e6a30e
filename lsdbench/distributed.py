"""Embedding extraction sharded across processes started by ``torchrun``.

Each rank embeds the sequences whose hash falls in its shard and writes them to the shared cache;
after a barrier, rank 0 reads everything from the cache (no forward pass) and fits the probes.
Without torchrun's environment this is a single process and nothing here does anything.
"""

from __future__ import annotations

import os
from datetime import timedelta


def world() -> tuple[int, int]:
    """(rank, world size) from torchrun's environment; (0, 1) when not launched by it."""
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
