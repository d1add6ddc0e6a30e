"""Leaderboard trust model: what validation rejects (y_pred that its y_score does not give) and what
the leaderboard flags without rejecting (near-perfect scores, predictions identical to another entry's).

Submissions are built as in test_leaderboard.py: result objects from predictions, packaged with
make_submission, on the small lbtest cards.
"""

from __future__ import annotations

import copy

import numpy as np
import test_leaderboard as lb
from test_leaderboard import make_result, make_sub, problems_of, result_of

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
