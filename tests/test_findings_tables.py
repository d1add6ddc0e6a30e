"""The README's findings tables are generated from committed files (checkpoints' meta.json, leaderboard
submissions and hypotheses.json) by scripts/findings_tables.py, so every number in them has a source."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _tables():
    spec = importlib.util.spec_from_file_location("findings_tables", ROOT / "scripts" / "findings_tables.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    ck, board = ROOT / "reference_models" / "checkpoints", ROOT / "leaderboard"
    return mod, list(mod.tables(ck, board).values())


def test_readme_findings_tables_equal_the_committed_files():
    readme = (ROOT / "README.md").read_text()
    mod, tables = _tables()
    for table in tables:
        assert "\n".join(table) in readme, "README table out of date: run scripts/findings_tables.py --write-readme"
    assert mod.fill(readme, mod.tables(ROOT / "reference_models" / "checkpoints", ROOT / "leaderboard")) == readme


def test_health_verdicts_in_the_table_are_the_checkpoints_own():
    mod, tables = _tables()
    for name, line in zip(mod.ENCODERS, tables[0][2:], strict=True):
        health = json.loads((ROOT / "reference_models" / "checkpoints" / name / "meta.json").read_text())["health"]
        assert line.startswith(f"| `{name}` |")
        assert line.endswith("| pass |") == health["passed"]
