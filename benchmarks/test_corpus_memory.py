"""Peak memory of ``lsd-train data`` (and of a few training steps) on a synthetic FASTA of 2 GiB against
one of 20 MiB, side by side: the streaming corpus must not grow with the input (target: peak < 1 GiB
and within 10 % of the 20 MiB peak).

The FASTAs are generated into a temporary folder and deleted afterwards, never kept. The full run
(``make benchmarks``) writes 2 GiB (``LSDBENCH_CORPUS_BIG_MB`` changes that; it needs about four times
the size in free disk); the CI smoke run (``LSDBENCH_BENCH_SMOKE=1``) uses 2 MiB against 200 KiB.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from conftest import SMOKE, peak_process

REPO = Path(__file__).resolve().parents[1]
MIB = 2**20
SMALL_BYTES = int(0.2 * MIB) if SMOKE else 20 * MIB
BIG_BYTES = int(float(os.environ.get("LSDBENCH_CORPUS_BIG_MB", 2 if SMOKE else 2048)) * MIB)
RESIDUES = np.frombuffer(b"ACDEFGHIKLMNPQRSTVWY", np.uint8)


def synthetic_fasta(path: Path, n_bytes: int, seed: int = 0, duplicate_share: float = 0.05) -> int:
    """A UniProt-like FASTA of at least ``n_bytes``: log-normal lengths (median ~270, as Swiss-Prot),
    60-residue lines, ``duplicate_share`` of records repeating the one before. Returns the record count."""
    rng = np.random.default_rng(seed)
    written = records = 0
    with open(path, "wb") as f:
        while written < n_bytes:
            n = 5_000
            lengths = np.clip(rng.lognormal(5.6, 0.7, n), 10, 8000).astype(np.int64)
            dup = np.flatnonzero(rng.random(n) < duplicate_share)
            dup = dup[dup > 0]
            lengths[dup] = lengths[dup - 1]
            starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
            res = RESIDUES[rng.integers(0, len(RESIDUES), int(lengths.sum()))]
            for i in dup:  # in order, so a run of duplicates copies the same sequence
                res[starts[i]:starts[i] + lengths[i]] = res[starts[i - 1]:starts[i - 1] + lengths[i]]
            breaks = (lengths - 1) // 60  # line breaks inside each sequence
            within = np.arange(breaks.sum()) - np.repeat(np.cumsum(breaks) - breaks, breaks)
            inside = np.repeat(starts, breaks) + 60 * (within + 1)
            text = np.insert(res, np.sort(np.concatenate([inside, starts + lengths])), ord("\n"))
            new_starts = starts + np.concatenate([[0], np.cumsum(breaks + 1)[:-1]])
            for i, part in enumerate(np.split(text, new_starts[1:])):
                header = b">synthetic_%d some protein OS=None\n" % (records + i)
                f.write(header)
                f.write(part.tobytes())
                written += len(header) + len(part)
            records += n
    return records


def _prepare(fasta: Path, out: Path) -> dict:
    seconds, peak, _ = peak_process([sys.executable, "-m", "reference_models.training.train", "data", "--source", str(fasta),
                                     "--out", str(out), "--no-decontaminate"], cwd=REPO)
    info = json.loads((out / "data.json").read_text())
    return {"fasta_mib": round(fasta.stat().st_size / MIB, 1), "records": info["input_records"],
            "duplicates": info["duplicates"], "n_train": info["n_train"], "n_heldout": info["n_heldout"],
            "seconds": round(seconds, 1), "peak_mib": round(peak, 1)}


def _train_steps(data: Path, out: Path) -> dict:
    """Two steps of the tiny MLM at the small config's crop and token budget, then its finalize
    (statistics, health: the unigram perplexity reads the whole training split in blocks)."""
    seconds, peak, _ = peak_process([sys.executable, "-m", "reference_models.training.train", "mlm", "--config", "tiny",
                                     "--data", str(data), "--out", str(out), "--device", "cpu", "--no-progress",
                                     "--set", "train.steps=2", "--set", "train.max_len=256",
                                     "--set", "train.tokens_per_batch=8192", "--set", "train.num_threads=1"],
                                    cwd=REPO, env={"OMP_NUM_THREADS": "1"})
    return {"seconds": round(seconds, 1), "peak_mib": round(peak, 1)}


def test_data_preparation_memory_does_not_grow_with_the_corpus(benchmark, machine):
    work = Path(tempfile.mkdtemp(prefix="lsd-corpus-bench-"))
    try:
        if shutil.disk_usage(work).free < 4 * BIG_BYTES + 2 * SMALL_BYTES:
            pytest.skip(f"needs {4 * BIG_BYTES / 2**30:.1f} GiB of free disk in {work.parent}")
        _, import_mib, _ = peak_process([sys.executable, "-c", "import reference_models.training.train"], cwd=REPO)
        rows = {}
        for name, size in (("small", SMALL_BYTES), ("big", BIG_BYTES)):
            fasta = work / f"{name}.fasta"
            synthetic_fasta(fasta, size, seed=len(name))
            rows[name] = _prepare(fasta, work / f"{name}_data")
            fasta.unlink()
            rows[name]["train_steps"] = _train_steps(work / f"{name}_data", work / f"{name}_run")
            shutil.rmtree(work / f"{name}_data")
            shutil.rmtree(work / f"{name}_run")
        small, big = rows["small"], rows["big"]
        ratio = big["peak_mib"] / small["peak_mib"]
        info = {"small": small, "big": big, "data_peak_ratio": round(ratio, 3),
                "data_increment_over_import_mib": {k: round(v["peak_mib"] - import_mib, 1) for k, v in rows.items()},
                "train_peak_ratio": round(big["train_steps"]["peak_mib"] / small["train_steps"]["peak_mib"], 3),
                "import_peak_mib": round(import_mib, 1), "machine": machine}
        benchmark.extra_info.update(info)
        benchmark.pedantic(lambda: None, rounds=1, iterations=1)
        assert big["records"] > small["records"] > 0 and big["duplicates"] > 0
        if not SMOKE:  # the target (a smoke run's sizes are too small to mean anything)
            assert big["fasta_mib"] >= 2000 or "LSDBENCH_CORPUS_BIG_MB" in os.environ
            assert big["peak_mib"] < 1024 and ratio <= 1.10, info
    finally:
        shutil.rmtree(work, ignore_errors=True)
