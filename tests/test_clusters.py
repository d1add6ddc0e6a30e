"""Clustered resampling (issue 28): items that share a protein are resampled by their units, checked
against brute-force references on small cases and for coverage by simulation."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from lsdbench.probe.probing import bootstrap_ci as probe_ci
from lsdbench.results.result import ResultError, validate_result
from lsdbench.stats import ComparisonError, bootstrap_ci, bootstrap_scores, paired_test
from lsdbench.stats.clusters import make_clusters
from lsdbench.tasks.pairs import cluster_note, protein_clusters
from lsdbench.types import Split


def result(y_true, y_pred, y_score=None, clusters=None, metric="accuracy", name="enc") -> dict:
    seed = {"seed": 0, "y_pred": [int(v) for v in y_pred]}
    if y_score is not None:
        seed["y_score"] = [float(v) for v in y_score]
    pred = {"ids": [f"i{k}" for k in range(len(y_true))], "y_true": [int(v) for v in y_true], "per_seed": [seed]}
    if clusters is not None:
        pred["clusters"] = clusters
    return {"task": {"name": "toy", "type": "pair_binary", "primary_metric": metric}, "encoder": {"name": name},
            "predictions": pred}


def toy(n=24, seed=3):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    score = np.clip(0.5 + 0.3 * (y - 0.5) + rng.normal(0, 0.25, n), 0, 1)
    return y, (score > 0.5).astype(int), score


def test_protein_clusters_number_proteins_by_first_appearance():
    split = Split("test", ["p1", "p2", "p3", "p4"], ["AAA", "CCC", "AAA", "EEE"], np.array([1, 0, 1, 0]),
                  sequences_b=["CCC", "DDD", "AAA", "FFF"])
    units = protein_clusters(split)
    assert units == [[0, 1], [1, 2], [0], [3, 4]]  # a self-pair is one protein
    assert cluster_note(units) == "multi-way cluster bootstrap: bootstrap over the 5 proteins of the 4 test pairs"
    c = make_clusters(units, 4)
    assert c.k == 5 and c.components.tolist() == [0, 0, 0, 1]  # p1-p3 share proteins, p4 stands alone
    assert protein_clusters(Split("test", ["a"], ["AC"], np.array([0]))) is None


def test_cluster_bootstrap_matches_a_brute_force_reference():
    """Every resample's score equals the metric of the items its drawn proteins give, each pair repeated
    (draws of its first protein) x (draws of its second) times: drawn here independently of lsdbench."""
    y, pred, score = toy()
    rng = np.random.default_rng(0)
    units = [[int(a), int(b)] for a, b in zip(rng.integers(0, 10, 24), rng.integers(10, 18, 24), strict=True)]
    r = result(y, pred, score, units, metric="auroc")
    got = bootstrap_scores(r, n_resamples=50, seed=5)
    canon = make_clusters(units, 24)  # renumbered by first appearance: the numbers the stream draws
    draws = np.random.default_rng(5).integers(0, canon.k, size=(50, canon.k))
    for row, value in zip(draws, got, strict=True):
        counts = np.bincount(row, minlength=canon.k)
        w = np.array([np.prod([counts[u] for u in canon.units[i] if u < canon.k]) for i in range(24)])
        idx = np.repeat(np.arange(24), w)
        ok = len(set(y[idx])) == 2
        assert (np.isnan(value) and not ok) or value == pytest.approx(roc_auc_score(y[idx], score[idx]), abs=1e-12)


def test_singleton_clusters_reproduce_the_item_bootstrap():
    y, pred, _ = toy(40)
    plain = bootstrap_ci(result(y, pred), n_resamples=300, seed=2)
    singles = bootstrap_ci(result(y, pred, clusters=[[i] for i in range(40)]), n_resamples=300, seed=2)
    assert plain == singles


def test_cluster_permutation_matches_exhaustive_component_swaps():
    y, pa, _ = toy(12, 1)
    _, pb, _ = toy(12, 2)
    units = [[0, 1], [1], [2], [2, 3], [4], [4], [5, 6], [6], [7], [8], [8, 9], [9]]  # 6 components
    ra, rb = result(y, pa, clusters=units, name="a"), result(y, pb, clusters=units, name="b")
    test = paired_test(ra, rb, method="permutation", n_resamples=1000)
    comp = make_clusters(units, 12).components
    delta = np.mean(pa == y) - np.mean(pb == y)
    hits = 0
    for swap in itertools.product([False, True], repeat=6):
        m = np.asarray(swap)[comp]
        d = np.mean(np.where(m, pb, pa) == y) - np.mean(np.where(m, pa, pb) == y)
        hits += abs(d) >= abs(delta) - 1e-12
    assert test.p_value == pytest.approx(hits / 64)
    assert (test.n_clusters, test.n_components) == (10, 6)
    assert test.as_dict()["n_components"] == 6
    assert "n_clusters" not in paired_test(result(y, pa), result(y, pb)).as_dict()  # old rows unchanged


def test_paired_test_uses_recorded_clusters_and_rejects_disagreeing_ones():
    y, pa, _ = toy(30, 4)
    _, pb, _ = toy(30, 5)
    units = [[i // 3] for i in range(30)]
    ra, rb = result(y, pa, clusters=units), result(y, pb)
    assert paired_test(ra, rb, n_resamples=200).n_clusters == 10  # one side recording them is enough
    other = result(y, pb, clusters=[[i // 5] for i in range(30)])
    with pytest.raises(ComparisonError, match="different resampling clusters"):
        paired_test(ra, other, n_resamples=200)
    with pytest.raises(ComparisonError, match="share proteins"):
        paired_test(ra, rb, method="mcnemar")
    with pytest.raises(ComparisonError, match="non-negative integer"):
        bootstrap_ci(result(y, pa, clusters=[[-1]] * 30))


def test_result_records_clusters_and_validation_checks_them(tmp_path):
    from lsdbench.probe.probing import ProbeOutcome

    y, pred, score = toy(20)
    units = [[i % 7, 7 + i % 3] for i in range(20)]
    preds = [{"seed": 0, "y_pred": pred.tolist(), "y_score": score.tolist()}]
    outcome = ProbeOutcome("linear", {}, "accuracy", [0], [{"seed": 0, "selected": {}, "valid": {"accuracy": 0.5},
                                                             "test": {"accuracy": float(np.mean(pred == y))}}],
                           {"accuracy": 0.5}, {"accuracy": float(np.mean(pred == y))}, {"accuracy": 0.0},
                           probe_ci("pair_binary", "accuracy", y, preds), [f"i{k}" for k in range(20)],
                           y.tolist(), preds)
    fields = outcome.result_fields("pair_binary", units)
    assert fields["test_ci"]["resampling"] == cluster_note(units)
    assert (fields["test_ci"]["low"], fields["test_ci"]["high"]) == probe_ci("pair_binary", "accuracy", y, preds,
                                                                             clusters=units)
    assert fields["predictions"]["clusters"] == units
    assert "resampling" not in outcome.result_fields()["test_ci"]  # a cached outcome reads as before
    full = {"schema": "lsdbench-result-1", "lsdbench_version": "0", "protocol": "lsdbench-probe-1",
            "encoder": {"name": "e", "spec": "e", "config": {}, "dim": 2,
                        "long_sequences": {"max_length": None, "overlap": 0, "policy": "window"}},
            "task": {"name": "toy", "version": "1", "type": "pair_binary", "primary_metric": "accuracy",
                     "split_hashes": {k: "sha256:" + "ab" * 32 for k in ("train", "valid", "test")},
                     "sizes": {"train": 1, "valid": 1, "test": 20}},
            **fields, "timings": {"embed_s": 0.0, "fit_s": 0.0, "probe_reused": False}, "environment": {}}
    validate_result(full)
    bad = {**full, "predictions": {**full["predictions"], "clusters": units[:-1]}}
    with pytest.raises(ResultError, match="clusters"):
        validate_result(bad)
    unsaid = {**full, "test_ci": {k: v for k, v in full["test_ci"].items() if k != "resampling"}}
    with pytest.raises(ResultError, match="resampling"):
        validate_result(unsaid)


def _coverage(n_sets: int, draw, seed: int) -> dict[str, float]:
    """Share of simulated data sets whose 95 % interval covers the true accuracy 0.7."""
    rng = np.random.default_rng(seed)
    covered = {"items": 0, "clusters": 0}
    for r in range(n_sets):
        hits, units = draw(rng)
        y = rng.integers(0, 2, hits.size)
        pred = np.where(hits, y, 1 - y)
        for kind, c in (("items", None), ("clusters", units)):
            low, high = bootstrap_ci(result(y, pred, clusters=c), n_resamples=1000, seed=r)
            covered[kind] += low <= 0.7 <= high
    return {k: v / n_sets for k, v in covered.items()}


def test_cluster_bootstrap_covers_where_the_item_bootstrap_does_not():
    """80 clusters of 5 items, each cluster's accuracy 0.45 or 0.95 (mean 0.7): the item bootstrap ignores
    the shared effect and undercovers; the cluster bootstrap is within 2 points of 95 %."""
    def one_way(rng):
        p = 0.7 + 0.25 * rng.choice([-1, 1], size=80)
        return (rng.random((80, 5)) < p[:, None]).ravel(), [[c] for c in np.repeat(np.arange(80), 5)]

    cov = _coverage(400, one_way, 7)
    assert cov["items"] < 0.85
    assert abs(cov["clusters"] - 0.95) <= 0.02


def test_protein_bootstrap_is_conservative_on_pairs():
    """400 pairs of 150 proteins with protein effects (mean accuracy 0.7): the item bootstrap undercovers;
    the multi-way bootstrap over proteins covers at least nominally (conservative: it counts each pair's
    own noise more than once, the known price of the pigeonhole bootstrap on sparse pair graphs)."""
    def pairs(rng):
        effect = 0.2 * rng.choice([-1, 1], size=150)
        a = rng.integers(0, 150, 400)
        b = (a + 1 + rng.integers(0, 149, 400)) % 150
        hits = rng.random(400) < 0.7 + effect[a] / 2 + effect[b] / 4
        return hits, [[int(x), int(z)] for x, z in zip(a, b, strict=True)]

    cov = _coverage(150, pairs, 11)
    assert cov["items"] < 0.94
    assert cov["clusters"] >= 0.95


def test_compare_footer_names_the_clustered_resampling():
    from lsdbench.comparison.compare import format_tables

    y, pa, _ = toy(30, 4)
    _, pb, _ = toy(30, 5)
    units = [[i // 3, 10 + i % 4] for i in range(30)]
    rows = {}
    for key, c in (("toy", units), ("plain", None)):
        row = paired_test(result(y, pa, clusters=c), result(y, pb, clusters=c), n_resamples=200).as_dict()
        row.update(p_adjusted=row["p_value"], verdict="not distinguishable", correction="holm", alpha=0.05,
                   n_comparisons=2)
        rows[key] = [row]
    text = " ".join(format_tables(rows).split())
    assert "Items that share proteins (toy (14 proteins, 1 components))" in text
    assert "multi-way cluster bootstrap" in text
    assert "share proteins" not in format_tables({"plain": rows["plain"]})
