"""Shared fixtures: the real task files come from the offline mirror (LSDBENCH_MIRROR, default ../shared/mirror)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MIRROR = REPO.parent / "shared" / "mirror"
DATA = Path(__file__).parent / "data"


def _absolute(mirror: str) -> str:
    """A relative mirror directory is where it was when pytest started: tests chdir into tmp_path, and
    the CLI subprocesses they start would otherwise look for ``../shared/mirror`` beside tmp_path."""
    if "://" in mirror or Path(mirror).is_absolute():
        return mirror
    return str((LAUNCH_DIR / mirror).resolve())


LAUNCH_DIR = Path.cwd()
_ENV_MIRROR = os.environ.get("LSDBENCH_MIRROR")


def _mirror() -> str | None:
    if _ENV_MIRROR:
        return _absolute(_ENV_MIRROR)
    return str(DEFAULT_MIRROR) if DEFAULT_MIRROR.is_dir() else None


@pytest.fixture(scope="session")
def mirror() -> str:
    m = _mirror()
    if not m:
        pytest.skip("no data mirror: set LSDBENCH_MIRROR (CI points it at ../shared/mirror)")
    return m


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory) -> Path:
    """One cache for the whole session, so each real file is copied from the mirror once."""
    return tmp_path_factory.mktemp("lsdbench-cache")


@pytest.fixture(scope="session", autouse=True)
def _repository_stays_clean():
    """No test may leave eval's default results/ folder in the repository (one once got committed)."""
    results = Path(__file__).resolve().parents[1] / "results"
    existed = results.exists()
    yield
    assert existed or not results.exists(), f"a test wrote {results}: run the CLI from tmp_path"


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch, session_cache, request):
    """Tests never touch the user's cache; the real mirror is configured unless a test overrides it."""
    monkeypatch.setenv("LSDBENCH_CACHE_DIR", str(session_cache))
    m = _mirror()
    if m:
        monkeypatch.setenv("LSDBENCH_MIRROR", m)
    monkeypatch.delenv("LSDBENCH_TASKS", raising=False)
    for name in ("SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT", "RANK", "WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)  # run inside an sbatch array, every eval would be a shard run
    from lsdbench.tasks import registry

    monkeypatch.setattr(registry, "_user_cards", {})  # cards a test registers stay in that test


@pytest.fixture(scope="session")
def open_tasks(mirror, session_cache):
    """The open-suite tasks loaded once per session from the real files."""
    from lsdbench.tasks.registry import list_cards, load_task

    return {c.name: load_task(c, cache_dir=session_cache, mirror=mirror, progress=False)
            for c in list_cards("open")}


@pytest.fixture()
def composition():
    """The ``Composition`` class of tests/data/user_encoders.py: a user's encoder file, with a call counter."""
    sys.path.insert(0, str(DATA))
    try:
        import user_encoders
    finally:
        sys.path.remove(str(DATA))
    return user_encoders.Composition


@pytest.fixture
def clone_dir(tmp_path, mirror, session_cache) -> tuple[Path, dict]:
    """A folder laid out like a clone for commands typed from its root (README and docs blocks): the
    committed ``leaderboard/``, ``lsdbench`` on PATH meaning this checkout, the mirror and a shared cache."""
    (tmp_path / "leaderboard").symlink_to(REPO / "leaderboard")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "lsdbench"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m lsdbench "$@"\n')
    shim.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "LSDBENCH_MIRROR": mirror,
           "LSDBENCH_CACHE_DIR": str(session_cache),
           "PYTHONPATH": os.pathsep.join([str(REPO), str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    return tmp_path, env
