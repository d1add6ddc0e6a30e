"""The README's quick start and the docs' "Score your own encoder" blocks, run verbatim on the open mirror.

Blocks are read from README.md and the docs pages themselves, so the test fails when a page changes into
something that does not run. The set-up block (virtual environment, install) is the one not run: the test runs inside
the environment it would create. The commands run in a fresh folder that has the clone's committed
``leaderboard/`` (what the README's relative paths point at), with ``lsdbench`` on PATH meaning this
checkout and the mirror from the environment, as in CI.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ENCODERS_PAGE = "docs/user-guide/encoders.md"  # "Score your own encoder"
COMPARING_PAGE = "docs/user-guide/comparing.md"  # the sweep cost table


def section_blocks(title: str, page: str = "README.md") -> list[tuple[str, str]]:
    """(language, code) of each fenced block in the section ``## title`` of ``page`` (a path from the root)."""
    text = (REPO / page).read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^#{{1,2}} |\Z)", text, flags=re.S | re.M)
    assert match, f"{page} has no section '## {title}'"
    return re.findall(r"^```(\w+)\n(.*?)^```", match.group(1), flags=re.S | re.M)


def run(cmd: list[str], cwd: Path, env: dict) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, f"{cmd[:2]} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    assert "Traceback" not in proc.stderr
    return proc.stdout


def test_quick_start_runs_as_written(clone_dir):
    cwd, env = clone_dir
    setup, *rest = section_blocks("Quick start")
    assert "venv" in setup[1] and "setup.sh" in setup[1]  # the block this test does not run
    assert [lang for lang, _ in rest] == ["bash"]
    out = run(["bash", "-euo", "pipefail", "-c", rest[0][1]], cwd, env)
    (saved,) = (cwd / "results").iterdir()
    assert saved.name.startswith("dpc-") and f"saved 1 result file to results/{saved.name}/" in out
    assert "reference (A): aac from leaderboard/submissions/aac.open.json" in out
    assert "## metal_ion_binding" in out and re.search(r"^\| aac +\| dpc +\|", out, flags=re.M)


@pytest.mark.slow  # the whole open suite: about a minute on 2 free cores
def test_score_your_own_encoder_runs_as_written(clone_dir):
    cwd, env = clone_dir
    blocks = section_blocks("Score your own encoder", ENCODERS_PAGE)
    langs = [lang for lang, _ in blocks]
    assert langs[0] == "python" and "bash" in langs
    (cwd / "my_encoder.py").write_text(blocks[0][1])  # "Save this as my_encoder.py"
    outputs = []
    for lang, code in blocks[1:]:
        if lang == "bash":
            outputs.append(run(["bash", "-euo", "pipefail", "-c", code], cwd, env))
        elif lang == "python":
            outputs.append(run([sys.executable, "-c", code], cwd, env))
    text = "\n".join(outputs)
    assert "reference (A): aac" in text and "my_encoder" in text
    assert (cwd / "results" / "my_encoder-dim32").is_dir() and (cwd / "results" / "my_encoder_py").is_dir()


def test_sweep_cost_table_matches_the_tasks_and_the_stated_rates(mirror, session_cache):
    """Residues per task recomputed from the real files; minutes from the rates the comparing page cites."""
    from lsdbench.encode.encoders import LongSequencePolicy
    from lsdbench.run.plan import task_cost
    from lsdbench.tasks.registry import list_cards, load_task

    text = (REPO / COMPARING_PAGE).read_text(encoding="utf-8")
    table = re.search(r"<!-- sweep-costs -->\n(.*?)<!-- /sweep-costs -->", text, flags=re.S).group(1)
    rate = float(re.search(r"([\d,]+) residues/s for one\s+level", text).group(1).replace(",", ""))
    share = float(re.search(r"at ([\d.]+)x the cost of 7 passes", text).group(1))
    rows = {cells[0]: cells[1:] for cells in
            ([c.strip() for c in line.strip("|").split("|")] for line in table.splitlines()[2:])}
    policy = LongSequencePolicy(max_length=256)
    names = [c.name for c in list_cards("open")]
    assert sorted(rows) == sorted(names)
    for name in names:
        cost = task_cost([], load_task(name, cache_dir=session_cache, mirror=mirror, progress=False), policy)
        minutes = cost.residues / rate / 60
        assert rows[name] == [f"{cost.sequences:,}", f"{cost.residues:,}", f"{minutes:.1f}",
                              f"{minutes * 7 * share:.1f}"], name
    assert "29,963" in (REPO / "benchmarks" / "RESULTS.md").read_text()  # the cited rate is the measured one
