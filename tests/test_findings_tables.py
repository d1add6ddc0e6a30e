"""The findings tables of docs/reference-models.md are generated from committed files (checkpoints' meta.json, leaderboard
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


def test_docs_findings_tables_equal_the_committed_files():
    mod, tables = _tables()
    page = mod.PAGE.read_text()
    assert mod.PAGE == ROOT / "docs" / "reference-models.md"
    for table in tables:
        assert "\n".join(table) in page, "findings table out of date: run scripts/findings_tables.py --write-docs"
    assert mod.fill(page, mod.tables(ROOT / "reference_models" / "checkpoints", ROOT / "leaderboard")) == page


def test_health_verdicts_in_the_table_are_the_checkpoints_own():
    mod, tables = _tables()
    for name, line in zip(mod.health_checkpoints(ROOT / "reference_models" / "checkpoints"), tables[0][2:], strict=True):
        health = json.loads((ROOT / "reference_models" / "checkpoints" / name / "meta.json").read_text())["health"]
        assert line.startswith(f"| `{name}` |")
        assert line.endswith("| pass |") == health["passed"]
        assert ("**not testable**" in line) == (not health.get("testable", True))


def test_lsd_nm_experiment_numbers_in_the_reference_readme_are_the_recorded_ones():
    import re

    root = Path(__file__).resolve().parents[1] / "reference_models"
    runs = json.loads((root / "experiments" / "nm_lookup.json").read_text())["runs"]
    text = " ".join((root / "README.md").read_text().split())
    h = {name: r["health"] for name, r in runs.items()}
    share = {name: f"{v['within_type_variance_share']:.4f}".rstrip("0") for name, v in h.items()}
    r2 = {name: f"{v['composition_r2']:.4f}" for name, v in h.items()}
    assert f"sigma = 0.3 (share {share['nm_0.3']}, pooled composition R^2 {r2['nm_0.3']})" in text
    assert f"0.6 ({share['nm_0.6']}, {r2['nm_0.6']})" in text
    assert f"({share['nm_lm5_a']} and {share['nm_lm5_b']}, R^2 {r2['nm_lm5_a']})" in text
    assert r2["nm_lm5_a"] == r2["nm_lm5_b"]
    accuracy = re.search(r"training accuracy ended at ([\d.]+)", text).group(1)
    assert all(f"{r['final_train_accuracy']:.2f}" == accuracy for n, r in runs.items() if "lm5" in n)
    short = {n: r for n, r in runs.items() if r["steps"] == 300}
    assert all(r["missed"] and r["health"]["within_type_variance_share"] < 0.01 for r in short.values())
    full = runs["nm_tok_1200"]
    assert full["steps"] == 1200 and full["missed"] == ["composition_r2"]
    assert (f"within-type variance share reaches {full['health']['within_type_variance_share']:.4f}, past its 0.10 "
            f"target. It still misses the composition target (pooled R^2 {full['health']['composition_r2']:.4f})") in text
    assert f"its next-residue gain ({full['health']['next_type_gain']:+.3f})" in text
    assert f"accuracy ends at {full['final_train_accuracy']:.2f} (0.48-0.50 at 300 steps)" in text
    tok = {n: runs[f"nm_tok_{n}"]["health"] for n in "ab"}
    assert (f"share {tok['a']['within_type_variance_share']:.4f} at 15 % and "
            f"{tok['b']['within_type_variance_share']:.4f} at 50 % masking (R^2 {tok['a']['composition_r2']:.4f} and "
            f"{tok['b']['composition_r2']:.4f}), next-residue gain {tok['a']['next_type_gain']:+.3f} and "
            f"{tok['b']['next_type_gain']:+.3f}") in text
    others = sorted(r["health"]["next_type_gain"] for n, r in short.items() if "tok" not in n)
    assert f"against {others[0]:+.3f} to {others[-1]:+.3f} for the other 300-step runs" in text


def test_the_old_readme_flag_is_refused_in_one_line_not_taken_for_a_path():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "findings_tables.py"), "--write-readme"],
                          capture_output=True, text=True)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip() == ("findings_tables.py: error: unknown option --write-readme (options: --write-docs, "
                                   "which writes docs/reference-models.md)")
