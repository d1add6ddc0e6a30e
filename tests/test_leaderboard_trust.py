"""Leaderboard trust model: what validation rejects (y_pred that its y_score does not give) and what
the leaderboard flags without rejecting (near-perfect scores, predictions identical to another entry's).

Submissions are built as in test_leaderboard.py: result objects from predictions, packaged with
make_submission, on the small lbtest cards.
"""

from __future__ import annotations

import copy
import csv
import io

import numpy as np
import pytest
import test_leaderboard as lb
from test_leaderboard import SUITE, TASKS, make_result, make_sub, problems_of, result_of

from lsdbench.cli import main
from lsdbench.leaderboard.build import build_leaderboard
from lsdbench.leaderboard.submission import slugify, submission_filename, write_submission
from lsdbench.leaderboard.trust import near_perfect
from lsdbench.leaderboard.validate import check_submission

card_dir, loader = lb.card_dir, lb.loader  # the lbtest cards as fixtures, registered per test


def rescored(loader, sub: dict, task_name: str, edit) -> dict:
    """A copy of ``sub`` whose result on ``task_name`` has its predictions edited by ``edit(per_seed)``
    and its claimed scores recomputed, so that only the edit itself can make it invalid."""
    out = copy.deepcopy(sub)
    res = result_of(out, task_name)
    per_seed = res["predictions"]["per_seed"]
    edit(per_seed)
    i = out["results"].index(res)
    out["results"][i] = make_result(loader.task(task_name), per_seed)
    return out


# ---------------------------------------------------------------- rejected: y_pred against y_score

def test_y_pred_must_be_the_class_its_y_score_gives(loader):
    sub = make_sub(loader)
    assert check_submission(sub, loader=loader).ok  # the helper's predictions agree with their scores
    bin_ids = loader.task("lb_bin").splits["test"].ids

    def flip_binary(per_seed):  # items 3 and 7 claim the other class than their probability says
        for i in (3, 7):
            per_seed[0]["y_pred"][i] = 1 - per_seed[0]["y_pred"][i]

    def flip_multi(per_seed):
        sp = per_seed[0]
        sp["y_pred"][5] = int(np.argmin(sp["y_score"][5]))

    bad = rescored(loader, rescored(loader, sub, "lb_bin", flip_binary), "lb_multi", flip_multi)
    problems = problems_of(bad, loader)
    assert len(problems) == 2, problems
    assert problems[0].startswith("results[0] (task 'lb_bin', probe 'linear') seed 0: y_pred is not the class "
                                  f"its y_score gives on 2 items, first {bin_ids[3]!r} (y_pred ")
    assert "lb_multi" in problems[1] and "on 1 items, first 'lb_multi-test-5'" in problems[1]
    assert all("\n" not in p for p in problems)
    message = check_submission(bad, loader=loader, source="bad.lbtest.json").message()
    assert message.startswith("bad.lbtest.json: invalid submission, 2 problem(s):")


def test_ties_of_stored_scores_accept_either_class(loader):
    """lsdbench rounds stored probabilities to 6 decimals but takes y_pred from the unrounded ones."""
    def binary_ties(per_seed):
        sp = per_seed[0]
        sp["y_score"][0], sp["y_pred"][0] = 0.5, 1  # P(class 1) 0.5000004, stored as 0.5
        sp["y_score"][1], sp["y_pred"][1] = 0.5, 0

    def multi_tie(per_seed):
        sp = per_seed[0]
        sp["y_score"][0], sp["y_pred"][0] = [0.4, 0.4, 0.2], 1

    sub = rescored(loader, rescored(loader, make_sub(loader), "lb_bin", binary_ties), "lb_multi", multi_tie)
    assert check_submission(sub, loader=loader).ok


# ---------------------------------------------------------------- flagged: near-perfect and identical

def test_near_perfect_rule():
    def result(metric, y_true, y_pred):
        return {"task": {"primary_metric": metric},
                "predictions": {"y_true": y_true, "per_seed": [{"seed": 0, "y_pred": y_pred}]}}

    labels = [float(v) for v in range(100)]
    assert near_perfect("t", result("mae", labels, labels), 0.0).detail == \
        "near-perfect: mae 0.0000, predictions equal to the labels on 100.0% of test items"
    assert near_perfect("t", result("mae", labels, [v + 0.5 for v in labels]), 0.5) is None  # no maximum for mae
    assert near_perfect("t", result("spearman", labels, [v + 0.5 for v in labels]), 1.0) is not None  # metric rule
    almost = [1] * 99 + [0]
    assert near_perfect("t", result("accuracy", [1] * 100, almost), 0.99) is not None  # 99 %: flagged
    assert near_perfect("t", result("accuracy", [1] * 100, [1] * 98 + [0, 0]), 0.98) is None


@pytest.fixture
def flagged_board(loader, tmp_path):
    """Perfect (y_pred = y_true, scores consistent with it), Honest, and Copycat: Honest's results under
    another name."""
    folder = tmp_path / "submissions"
    folder.mkdir()
    honest = make_sub(loader, name="Honest", quality=0.7, seed=22)
    copycat = copy.deepcopy(honest)
    copycat["encoder"].update(name="Copycat", link="https://example.org/copycat")
    subs = {"Perfect": make_sub(loader, name="Perfect", quality=1.0, seed=21), "Honest": honest,
            "Copycat": copycat, "Other": make_sub(loader, name="Other", quality=0.7, seed=23)}
    paths = {name: write_submission(sub, folder / submission_filename(slugify(name), SUITE))
             for name, sub in subs.items()}
    return folder, paths


def test_build_flags_near_perfect_and_identical_entries(flagged_board, loader, tmp_path):
    folder, _ = flagged_board
    report = build_leaderboard(folder, tmp_path, loader=loader, n_ci=50, n_test=50)
    assert report.invalid == {}  # flags are warnings: every entry is ranked
    rows = {r["encoder"]: r for r in csv.DictReader(io.StringIO((tmp_path / "leaderboard.csv").read_text()))}
    assert len(rows) == 4 and rows["Other"]["flags"] == ""
    assert rows["Perfect"]["flags"] == "; ".join(
        f"‼ {t}: near-perfect: {m} 1.0000, predictions equal to the labels on 100.0% of test items"
        for t, m in (("lb_bin", "accuracy"), ("lb_multi", "accuracy"), ("lb_reg", "spearman")))
    for me, other in (("Honest", "Copycat"), ("Copycat", "Honest")):
        assert rows[me]["flags"] == "; ".join(f"≡ {t}: test predictions identical to those of {other!r} (linear)"
                                               for t in sorted(TASKS))

    readme = (tmp_path / "README.md").read_text()
    table = "\n".join(line for line in readme.splitlines() if line.startswith("| "))
    assert table.count(" ‼") == 3 and table.count(" ≡") == 6  # one mark per flagged cell
    assert "Flags, warnings for readers and not rejections" in readme and readme.count("\n- ") == 9
    assert "- Copycat \\(linear\\): ≡ lb\\_bin: test predictions identical to those of 'Honest' \\(linear\\)" in readme
    html = (tmp_path / "index.html").read_text()
    assert html.count('<td class="num best flagged"') + html.count('<td class="num flagged"') \
        + html.count('<td class="num tied flagged"') == 9
    assert "<li>Perfect (linear): ‼ lb_reg: near-perfect: spearman 1.0000" in html


def test_cli_validate_warns_without_rejecting(flagged_board, capsys, tmp_path):
    folder, paths = flagged_board
    assert main(["leaderboard", "validate", str(paths["Perfect"]), str(paths["Other"])]) == 0
    captured = capsys.readouterr()
    assert "valid: encoder 'Perfect'" in captured.out
    assert (f"{paths['Perfect']}: warning: Perfect (linear), task lb_bin: near-perfect: accuracy 1.0000, "
            "predictions equal to the labels on 100.0% of test items") in captured.err
    assert str(paths["Other"]) + ": warning" not in captured.err

    # a copy is found among the files given, or in --against; a file is never compared with itself
    assert main(["leaderboard", "validate", str(paths["Copycat"]), "--against", str(folder)]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err == [f"{paths['Copycat']}: warning: Copycat (linear), task {t}: test predictions identical to those "
                   f"of 'Honest' (linear)" for t in sorted(TASKS)]
    assert main(["leaderboard", "validate", str(paths["Other"]), "--against", str(folder)]) == 0
    assert capsys.readouterr().err == ""

    assert main(["leaderboard", "validate", str(paths["Other"]), "--against", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lsdbench: error: ") and err.count("\n") == 1 and "does not exist" in err
