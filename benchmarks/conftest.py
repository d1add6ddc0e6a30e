"""Shared fixtures of the performance benchmarks (see benchmarks/README.md).

``LSDBENCH_BENCH_SMOKE=1`` shrinks every benchmark to a few sequences and steps, so CI runs each one
once as a smoke test (``pytest benchmarks --benchmark-disable``); the figures in RESULTS.md come from
the full run (``make benchmarks``). Each benchmark stores its measured quantities and ratios in
``benchmark.extra_info``, which ``benchmarks/report.py`` turns into the RESULTS.md tables.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from lsdbench.tasks import registry
from reference_models.training.flops import matmul_flops_per_s  # noqa: F401 (the benchmarks' MFU denominator)

SMOKE = os.environ.get("LSDBENCH_BENCH_SMOKE", "") not in ("", "0")


def sized(full: int, smoke: int) -> int:
    return smoke if SMOKE else full


@pytest.fixture(scope="session", autouse=True)
def _threads():
    # the same thread count for every figure, so ratios compare like with like
    torch.set_num_threads(int(os.environ.get("LSDBENCH_BENCH_THREADS", os.cpu_count() or 1)))


@pytest.fixture(scope="session")
def machine() -> dict:
    return {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


@pytest.fixture(scope="session")
def deeploc_test() -> list[str]:
    """Sequences of the DeepLoc test set (the real length distribution), a seeded subsample."""
    seqs = registry.load_task("subcellular_localization_small", progress=False).splits["test"].sequences
    rng = np.random.default_rng(0)
    n = sized(256, 24)
    return [seqs[i] for i in rng.choice(len(seqs), size=min(n, len(seqs)), replace=False)]


def reference_encoder(name: str, **options):
    """A committed reference encoder, or a skip when its checkpoint is not in this checkout."""
    from lsdbench.encode.encoders import resolve
    try:
        return resolve(name, **options)
    except Exception as exc:  # CheckpointError, or reference_models not installed
        pytest.skip(f"reference encoder {name} unavailable: {exc}")


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - start, out


# a parent whose only child is the command, so RUSAGE_CHILDREN is the command's own peak (KiB on Linux)
_PEAK = ("import resource, subprocess, sys, json; r = subprocess.run(sys.argv[1:]); "
         "print(json.dumps({'rc': r.returncode, 'peak_kib': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))")


def peak_process(cmd: list[str], **kwargs) -> tuple[float, float, subprocess.CompletedProcess]:
    """Wall seconds and peak resident memory (MiB) of ``cmd`` run in a new process; asserts it succeeded."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _PEAK, *cmd], capture_output=True, text=True,
                          env={**os.environ, "PYTHONWARNINGS": "ignore", **kwargs.pop("env", {})}, **kwargs)
    elapsed = time.perf_counter() - start
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["rc"] == 0, done.stderr[-2000:]
    return elapsed, report["peak_kib"] / 1024, done
