"""Hypotheses of the entries file: parsing, paired verdicts with Holm, the report, and the main job."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest
from test_benchmark import entries
from test_stats import make_result

from lsdbench.cli import main
from lsdbench.comparison.hypotheses import Hypothesis, check_hypotheses, summarize, write_report
from lsdbench.run.benchmark import EntriesError, load_plan
from lsdbench.stats import holm, paired_test


def classifier(rng, y, acc, name, task):
    pred = np.where(rng.random(len(y)) < acc, y, 1 - y)
    return make_result(y, [pred], task_type="binary", metric="accuracy", encoder=name, task=task)


def two_task_results(seed: int, n: int, accuracy: dict[str, float]) -> dict[str, dict[str, dict]]:
    """name -> task -> result of a classifier of that accuracy, on tasks t1 and t2 of ``n`` random labels each."""
    rng = np.random.default_rng(seed)
    results = {name: {} for name in accuracy}
    for task in ("t1", "t2"):
        y = rng.integers(0, 2, n)
        for name, acc in accuracy.items():
            results[name][task] = classifier(rng, y, acc, name, task)
    return results


def test_verdicts_follow_paired_tests_with_holm_over_the_family():
    results = two_task_results(0, 600, {"A": 0.9, "B": 0.6})
    results["C"] = {task: dict(a, encoder={**a["encoder"], "name": "C"}) for task, a in results["A"].items()}
    hyps = [Hypothesis("A beats B", "A", ("B",)), Hypothesis("B beats A and C", "B", ("A", "C"))]
    rows = check_hypotheses(hyps, results, n_resamples=500)
    assert len(rows) == 6
    by = {(r["better"], r["than"], r["task"]): r for r in rows}
    assert by["A", "B", "t1"]["verdict"] == "holds" and by["B", "A", "t2"]["verdict"] == "reversed"
    # the adjusted p-values are Holm's over all six raw p-values, which are paired_test's own
    raw = [paired_test(results[r["better"]][r["task"]], results[r["than"]][r["task"]], n_resamples=500).p_value
           for r in rows]
    assert [r["p"] for r in rows] == raw
    np.testing.assert_allclose([r["p_holm"] for r in rows], holm(raw))
    assert summarize(rows)["A beats B"] == {"holds": 2, "reversed": 0, "not distinguishable": 0, "not testable": 0}


def test_identical_results_are_not_distinguishable(tmp_path):
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 300)
    a = classifier(rng, y, 0.8, "A", "t")
    rows = check_hypotheses([Hypothesis("A beats its copy", "A", ("A2",))], {"A": {"t": a}, "A2": {"t": a}},
                            n_resamples=200)
    assert rows[0]["verdict"] == "not distinguishable" and rows[0]["delta"] == 0
    md, js = write_report(rows, tmp_path)
    assert "## A beats its copy" in md.read_text() and "not distinguishable" in md.read_text()
    assert json.loads(js.read_text())[0]["task"] == "t"


def test_entries_file_hypotheses_are_checked_against_entry_names(tmp_path):
    path = entries(tmp_path)
    text = path.read_text()
    path.write_text(text + textwrap.dedent("""
        [[hypothesis]]
        claim = "families beat compositions"
        better = "Family"
        than = "Composition"
        """))
    plan = load_plan(path)
    assert plan.hypotheses == (Hypothesis("families beat compositions", "Family", ("Composition",)),)
    assert plan.hypotheses[0].family == "paper"
    bad = tmp_path / "bad.toml"
    bad.write_text(text + '\n[[hypothesis]]\nclaim = "x"\nbetter = "Family"\nthan = ["Nobody"]\n')
    with pytest.raises(EntriesError, match=r"bad.toml: hypothesis 1: 'Nobody' is not the name of an \[\[entry\]\]"):
        load_plan(bad)


def test_main_job_writes_and_publishes_the_hypotheses_report(tmp_path, capsys):
    path = entries(tmp_path)
    path.write_text(path.read_text() + textwrap.dedent("""
        [[hypothesis]]
        claim = "families beat compositions"
        better = "Family"
        than = ["Composition", "Missing checkpoint"]
        """))
    board = tmp_path / "board"
    assert main(["run", "--entries", str(path), "--out", str(tmp_path / "run"), "--quiet",
                 "--publish", str(board)]) == 0
    assert "hypothesis 'families beat compositions': " in capsys.readouterr().out
    rows = json.loads((board / "hypotheses.json").read_text())
    assert [(r["better"], r["than"], r["task"]) for r in rows] == [("Family", "Composition", "human_ppi_example")]
    assert rows[0]["verdict"] in ("holds", "reversed", "not distinguishable")
    assert (board / "hypotheses.md").read_text() == (tmp_path / "run" / "leaderboard" / "hypotheses.md").read_text()


def test_holm_runs_per_family_and_unhealthy_entries_are_not_testable(tmp_path):
    results = two_task_results(2, 400, {"A": 0.9, "B": 0.6, "Sick": 0.95})
    hyps = [Hypothesis("A beats B", "A", ("B",)), Hypothesis("Sick beats B", "Sick", ("B",)),
            Hypothesis("A beats B (control)", "A", ("B",), family="controls"),
            Hypothesis("Sick beats B (control)", "Sick", ("B",), family="controls", health_gated=False)]
    rows = check_hypotheses(hyps, results, n_resamples=300, untestable={"Sick": "misses composition_r2"})
    sick = [r for r in rows if r["better"] == "Sick" and r["family"] == "paper"]
    assert all(r["verdict"] == "holds" for r in rows if r["claim"] == "Sick beats B (control)")
    assert all(r["verdict"] == "not testable" and r["p_holm"] is None for r in sick)
    assert "composition_r2" in sick[0]["not_testable"]
    paper = [r for r in rows if r["family"] == "paper" and r["better"] == "A"]
    np.testing.assert_allclose([r["p_holm"] for r in paper], holm([r["p"] for r in paper]))  # Sick left out
    assert summarize(rows)["Sick beats B"]["not testable"] == 2
    md, _ = write_report(rows, tmp_path, controls={"B": {"t1": 0.6, "t2": 0.61}},
                         health={"Sick": {"passed": False, "missed": ["composition_r2"]}, "A": {"passed": True}})
    text = md.read_text()
    assert "unadjusted" in text and "paper: 2 comparisons" in text and "controls: 4 comparisons" in text
    assert "## Controls" in text and "0.610" in text and "**not testable**: misses composition_r2" in text


def test_only_an_entry_that_learned_nothing_is_left_out_of_the_claims():
    """Health by function (issue 26): missing a target is reported, but only an entry that beats the untrained
    random transformer on no task (``testable`` false) makes a claim "not testable"."""
    from lsdbench.comparison.hypotheses import _health_mark
    from lsdbench.run.benchmark import untestable_entries

    health = {"misses_t3": {"passed": False, "missed": ["T3 next_type_gain"], "testable": True},
              "learned_nothing": {"passed": False, "missed": ["T2 beats_random_transformer_tasks"], "testable": False},
              "old_style": {"passed": False, "missed": ["composition_r2"]}, "fine": {"passed": True}}
    out = untestable_entries(health)
    assert set(out) == {"learned_nothing", "old_style"} and "random transformer" in out["learned_nothing"]
    assert _health_mark(health["misses_t3"]) == "misses T3 next_type_gain"
    assert _health_mark(health["learned_nothing"]).startswith("**not testable**")


def test_default_resamples_put_the_pvalue_floor_far_below_a_holm_family():
    from lsdbench.comparison.hypotheses import DEFAULT_HYPOTHESIS_RESAMPLES

    # the smallest bootstrap p is about 1 / resamples; Holm multiplies it by up to the family size
    assert DEFAULT_HYPOTHESIS_RESAMPLES >= 10_000 and 60 / DEFAULT_HYPOTHESIS_RESAMPLES < 0.01
