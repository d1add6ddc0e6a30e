"""Processes of a run: one, or several under torchrun (``WORLD_SIZE``), and the one collective a step needs."""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def setup_distributed(device: str) -> tuple[int, int, str]:
    """(rank, world size, this process's device); starts the process group under torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1, device
    backend = "nccl" if device.startswith("cuda") else "gloo"
    dist.init_process_group(backend)
    if device.startswith("cuda"):
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device = f"cuda:{local}"
    return dist.get_rank(), dist.get_world_size(), device


def all_sum(x: torch.Tensor) -> torch.Tensor:
    """``x`` summed over every process (``x`` itself with one process)."""
    if dist.is_initialized():
        x = x.clone()
        dist.all_reduce(x)
    return x
