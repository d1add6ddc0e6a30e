"""Decontamination by sequence identity with MMseqs2 (optional; ``lsd-train data --min-identity 0.5``).

Exact-match decontamination (``decontaminate.py``) always runs; it cannot see close homologs of task
proteins. This step removes from a prepared corpus every sequence that MMseqs2 aligns to a valid or test
sequence of a registered task with at least ``min_identity`` identity over at least ``min_coverage`` of
either sequence (``mmseqs easy-search``, corpus sequences as queries, so every corpus sequence is checked
against all task sequences; the coverage rule "either" is applied to the reported qcov / tcov).

``mmseqs`` is looked up as ``$LSDBENCH_MMSEQS`` or on PATH (Debian package ``mmseqs2``). Where it is
absent the step is skipped with a warning, and the manifest says so: only exact matches were removed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from reference_models.corpus import corpus as K
from reference_models.corpus.subset import read_keys, read_selection, write_selection
from reference_models.corpus.token_files import CorpusError, TokenCorpus

MMSEQS_ENV = "LSDBENCH_MMSEQS"
SENSITIVITY = 4.0  # as mmseqs cluster: ample at >= 50 % identity (5.7 took > 17 CPU-min in prefilter for 1.44 M)


def find_mmseqs() -> str | None:
    return os.environ.get(MMSEQS_ENV) or shutil.which("mmseqs")


def _run(cmd: list[str], where: Path) -> str:
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=where)  # noqa: S603 (a local tool)
    if done.returncode != 0:
        tail = " ".join((done.stderr or done.stdout).split()[-40:])
        raise CorpusError(f"{' '.join(cmd[:2])} failed (exit {done.returncode}): {tail}")
    return done.stdout


def _write_queries(directory: Path, fasta: Path) -> None:
    """Every corpus sequence as FASTA record ``SPLIT:INDEX``, written block by block (never the whole corpus)."""
    with open(fasta, "wb") as f:
        for split in K.SPLITS:
            n = len(TokenCorpus(directory, split))
            for tokens, lengths, block in read_selection(directory, split, np.arange(n)):
                letters = tokens.tobytes().translate(K.TO_LETTER)
                ends = np.cumsum(lengths)
                f.write(b"".join(b">%s:%d\n%s\n" % (split.encode(), i, letters[e - n_:e])
                                 for i, n_, e in zip(block.tolist(), lengths.tolist(), ends.tolist(), strict=True)))


def contaminated(directory: Path, per_task: dict[str, set[str]], *, min_identity: float, min_coverage: float,
                 exe: str, threads: int) -> tuple[dict[str, set[int]], dict[str, int]]:
    """({split: indices of corpus sequences to remove}, {task: sequences it removed})."""
    work = directory / ".identity.tmp"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    try:
        targets = sorted(set().union(*per_task.values())) if per_task else []
        tasks_of = {s: [t for t, seqs in sorted(per_task.items()) if s in seqs] for s in targets}
        (work / "tasks.fasta").write_text("".join(f">{j}\n{s}\n" for j, s in enumerate(targets)))
        _write_queries(directory, work / "corpus.fasta")
        if not targets:
            return {s: set() for s in K.SPLITS}, {}
        _run([exe, "easy-search", "corpus.fasta", "tasks.fasta", "hits.m8", "tmp", "--min-seq-id",
              str(min_identity), "-c", "0", "-s", str(SENSITIVITY), "--threads", str(threads),
              "--format-output", "query,target,fident,qcov,tcov", "-v", "1"], work)
        drop: dict[str, set[int]] = {s: set() for s in K.SPLITS}
        per_task_hits: dict[str, set[str]] = {}
        with open(work / "hits.m8") as f:
            for line in f:
                query, target, fident, qcov, tcov = line.split("\t")
                if float(fident) < min_identity or max(float(qcov), float(tcov)) < min_coverage:
                    continue
                split, index = query.split(":")
                drop[split].add(int(index))
                for task in tasks_of[targets[int(target)]]:
                    per_task_hits.setdefault(task, set()).add(query)
        return drop, {t: len(q) for t, q in sorted(per_task_hits.items())}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def decontaminate_by_identity(directory, per_task: dict[str, set[str]], splits: dict, *, min_identity: float,
                              min_coverage: float = 0.8) -> tuple[dict, dict]:
    """Remove the corpus sequences similar to task sequences, in place; returns (new split summaries,
    the manifest entry). Without mmseqs the splits are returned unchanged and the entry says why."""
    directory = Path(directory)
    if not (0 < min_identity <= 1 and 0 < min_coverage <= 1):
        raise CorpusError(f"--min-identity {min_identity} / --min-coverage {min_coverage}: give fractions in (0, 1]")
    entry = {"min_identity": min_identity, "min_coverage": min_coverage, "coverage_of": "either sequence"}
    exe = find_mmseqs()
    if exe is None:
        print("lsd-train: warning: mmseqs not found (install the Debian package mmseqs2 or set "
              f"{MMSEQS_ENV}); only exact copies of task sequences were removed", file=sys.stderr)
        return splits, {**entry, "tool": None, "skipped": "mmseqs not found; exact-match decontamination only"}
    version = _run([exe, "version"], directory).strip()
    threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    drop, per_task_removed = contaminated(directory, per_task, min_identity=min_identity,
                                          min_coverage=min_coverage, exe=exe, threads=threads)
    new = dict(splits)
    for split, gone in drop.items():
        if gone:
            n = len(TokenCorpus(directory, split))
            keep = np.setdiff1d(np.arange(n), np.fromiter(gone, np.int64, len(gone)))
            new[split] = write_selection(directory, split, read_keys(directory, split, n), keep, directory)
    removed = {split: len(gone) for split, gone in drop.items()}
    return new, {**entry, "tool": "mmseqs easy-search", "version": version, "sensitivity": SENSITIVITY,
                 "removed": sum(removed.values()), "removed_per_split": removed, "removed_per_task": per_task_removed}
