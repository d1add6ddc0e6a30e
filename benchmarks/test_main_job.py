"""The main job from a warm cache, before and after its in-memory redesign (issue 13), side by side.

"Before" is the code of LSDBENCH_MAIN_JOB_BASE (default 9bccc61, the last commit whose main job went
back and forth through the disk), extracted with ``git archive`` into a temporary folder; "after" is
this checkout. Both run the same entries on the same caches, alternating, after a warm-up run, so
neither pays for encoding or probe fitting; the target is after/before <= 0.5.

Full run (``make benchmarks``): the entries of the committed ``leaderboard/entries.toml`` whose
embeddings this machine has cached (all of them after a ``make bench``; an uncached one would need
hours of encoding in the warm-up), or those named in LSDBENCH_MAIN_JOB_ONLY (comma-separated specs or
names). Smoke run: the smoke suite with the tests' user encoders.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
from conftest import SMOKE

REPO = Path(__file__).resolve().parent.parent
BASE = os.environ.get("LSDBENCH_MAIN_JOB_BASE", "9bccc61")


def extract(rev: str, dest: Path) -> Path:
    """The tree of ``rev`` (without touching the repository's worktrees or index)."""
    try:
        data = subprocess.run(["git", "archive", "--format=tar", rev], cwd=REPO, check=True,
                              capture_output=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"no git history with {rev} here: {exc}")
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(dest, filter="data")
    return dest


def smoke_entries(folder: Path) -> Path:
    """The smoke suite's entries: a plain encoder and a swept family (the tests' user encoders)."""
    enc = REPO / "tests" / "data" / "user_encoders.py"
    text = f'suite = "smoke"\nlevels = [1.0, 2.0]\nreferences = ["{enc}:Composition"]\n'
    for name, attr, extra in (("Composition", "Composition", "parameters = 0"), ("Family", "ScaledFamily",
                                                                                'sweep = "scale"')):
        text += (f'\n[[entry]]\nname = "{name}"\nspec = "{enc}:{attr}"\n{extra}\ntraining_data = "none"\n'
                 f'licence = "MIT"\nlink = "https://example.org/{name.lower()}"\n')
    path = folder / "entries.toml"
    path.write_text(text)
    return path


def cached_entries(entries: Path) -> list[str]:
    """The specs of the entries whose every embedding (every level of a sweep) is in this machine's cache:
    what a warm run can measure without hours of encoding first."""
    from lsdbench.run.benchmark import build_encoders
    from lsdbench.run.entries import load_plan
    from lsdbench.run.plan import make_plan
    from lsdbench.run.sweep import variants_of
    from lsdbench.tasks import registry

    plan = load_plan(entries)
    tasks = [registry.load_task(card, progress=False) for card in registry.list_cards(plan.suite)]
    chosen, encoders = build_encoders(plan, None, {"skipped": {}})
    warm = []
    for entry in chosen:
        enc = encoders[entry.name]
        variants = variants_of(enc, plan.levels, entry.sweep) if entry.sweep else []
        if not make_plan(enc, tasks, variants=variants, levels=plan.levels if entry.sweep else []).to_encode:
            warm.append(entry.spec)
    return warm


def run_job(code: Path, entries: Path, out: Path, only: list[str]) -> float:
    args = [sys.executable, "-m", "lsdbench", "run", "--entries", str(entries), "--out", str(out), "--quiet"]
    args += [a for name in only for a in ("--only", name)]
    t0 = time.perf_counter()
    subprocess.run(args, cwd=code, check=True, capture_output=True, timeout=4 * 3600)
    return time.perf_counter() - t0


def test_main_job_from_a_warm_cache_against_the_disk_round_trip(benchmark, machine, tmp_path, monkeypatch):
    base = extract(BASE, tmp_path / "base")
    if SMOKE:
        entries, only = smoke_entries(tmp_path), []
        monkeypatch.setenv("LSDBENCH_CACHE_DIR", str(tmp_path / "cache"))  # data comes from the mirror
        mirror = REPO.parent / "shared" / "mirror"
        if "LSDBENCH_MIRROR" not in os.environ and mirror.is_dir():
            monkeypatch.setenv("LSDBENCH_MIRROR", str(mirror))
    else:
        entries = REPO / "leaderboard" / "entries.toml"
        only = [n for n in os.environ.get("LSDBENCH_MAIN_JOB_ONLY", "").split(",") if n] or cached_entries(entries)
        if not only:
            pytest.skip("no entry of leaderboard/entries.toml has its embeddings cached here: run `make bench` first")
    run_job(REPO, entries, tmp_path / "warm-up", only)
    rounds = 1 if SMOKE else 2
    before, after = [], []
    for i in range(rounds):  # alternating, so a busier moment of the machine hits both
        before.append(run_job(base, entries, tmp_path / f"before-{i}", only))
        after.append(run_job(REPO, entries, tmp_path / f"after-{i}", only))
    after_s = benchmark.pedantic(lambda: min(after), rounds=1, iterations=1)
    before_s = min(before)
    benchmark.extra_info.update({"base": BASE, "entries": only or "all", "before_s": round(before_s, 1),
                                 "after_s": round(after_s, 1), "after_over_before": round(after_s / before_s, 3),
                                 "machine": machine})
    if not SMOKE:
        assert after_s <= 0.5 * before_s, f"warm main job {after_s:.1f} s, before the redesign {before_s:.1f} s"
