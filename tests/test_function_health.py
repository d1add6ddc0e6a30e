"""Health by function (reference_models/evaluation/function_health.py): the numbers and their intervals."""

from __future__ import annotations

import numpy as np
import pytest

from reference_models.evaluation import function_health as FH
from reference_models.evaluation.health import within_type_variance_share


def test_sequence_bootstrap_ratio_covers_the_point_and_is_seeded():
    rng = np.random.default_rng(1)
    num, den = rng.integers(0, 20, 200).astype(float), np.full(200, 20.0)
    point, ci = FH.ratio_ci(num, den)
    assert point == pytest.approx(num.sum() / den.sum()) and ci[0] < point < ci[1]
    assert FH.ratio_ci(num, den) == (point, ci)  # seeded: the same bits every run


def test_within_type_share_from_per_sequence_statistics_equals_the_row_formula():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(600, 4)) + np.repeat(rng.normal(size=(3, 4)) * 3, 200, axis=0)
    types = np.repeat([0, 1, 2], 200)
    seq = rng.integers(0, 30, 600)
    ev = (z, types, np.full(600, -1), seq)
    out = FH.within_type_share(ev)
    assert out["within_type_variance_share"] == pytest.approx(within_type_variance_share(z, types))
    low, high = out["within_type_variance_share_ci"]
    assert low <= out["within_type_variance_share"] <= high


def test_shuffling_keeps_the_residues_and_destroys_the_order():
    s = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ"
    mixed = FH.shuffled(s)
    assert sorted(mixed) == sorted(s) and mixed != s and FH.shuffled(s) == mixed


def test_targets_apply_by_kind_and_only_learning_nothing_makes_an_entry_untestable():
    metrics = {"beats_aac_tasks": 3, "beats_aac_tasks_of": 5, "beats_random_transformer_tasks": 0,
               "next_type_gain": 0.2, "next_type_gain_ci": [0.1, 0.3], "within_type_variance_share": 0.01,
               "context_margin_min": 0.01, "context_margin_min_ci": [-0.01, 0.03]}
    enc = FH.summarize("lsd_tn", metrics)
    assert [r["id"] for r in enc["targets"]] == ["T1", "T2", "T3", "T4"]
    assert enc["missed"] == ["T2 beats_random_transformer_tasks", "T4 within_type_variance_share"]
    assert enc["testable"] is False  # beat the random transformer on no task
    homogeneous = FH.summarize("lsd_tn", {**metrics, "beats_random_transformer_tasks": 2}, homogeneous=True)
    assert "T4" not in [r["id"] for r in homogeneous["targets"]] and homogeneous["testable"] is True
    den = FH.summarize("diffusion", metrics)
    t6 = [r for r in den["targets"] if r["id"] == "T6"][0]
    assert not t6["passed"] and t6["target"] == "CI above 0"  # the margin's CI includes 0
    assert FH.summarize("mlm", {})["testable"] is True  # nothing measured yet: no claim is blocked


@pytest.mark.parametrize(("directory", "entry"), [("checkpoints/mlm", "mlm"), ("lsd_tn", "lsd_tn_latent"),
                                                  ("x/lsd_nm_weighted_diffusion", "lsd_nm_weighted_diffusion"),
                                                  ("lsd_tn_homogeneous", "lsd_tn_homogeneous_latent")])
def test_a_checkpoint_is_judged_as_the_entry_it_is_published_as(directory, entry):
    assert FH.entry_name(directory) == entry


def test_controls_come_from_the_committed_submissions(mirror):
    from pathlib import Path

    subs = Path(__file__).resolve().parents[1] / "leaderboard" / "submissions"
    out = FH.control_targets("dpc", subs)
    assert out["beats_aac_tasks_of"] == 5 and 0 <= out["beats_aac_tasks"] <= 5
    detail = out["beats_random_transformer_tasks_detail"]
    assert len(detail) == 5 and all(v["verdict"] in ("better", "worse", "not distinguishable") for v in detail.values())
    assert FH.control_targets("no_such_entry", subs) == {}
