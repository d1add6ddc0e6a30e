"""Paired tests and corrections of lsdbench.stats, each checked against an independent reference
(scipy, scikit-learn, hand-worked examples) and for calibration under the null and power."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as ss
from sklearn.metrics import f1_score, matthews_corrcoef, roc_auc_score

from lsdbench import stats
from lsdbench.stats import ComparisonError, PairedComparison

TEST_HASH = "sha256:" + "ab" * 32


def ref_metric(metric, y_true, y_pred, y_score=None) -> float:
    """Reference definitions straight from scipy / scikit-learn (independent of lsdbench.metrics.registry)."""
    if metric == "accuracy":
        return float(np.mean(np.asarray(y_pred) == np.asarray(y_true)))
    if metric == "mae":
        return float(np.mean(np.abs(np.asarray(y_pred) - np.asarray(y_true))))
    if metric == "pearson":
        return float(ss.pearsonr(y_pred, y_true)[0])
    if metric == "spearman":
        return float(ss.spearmanr(y_pred, y_true)[0])
    if metric == "mcc":
        return float(matthews_corrcoef(y_true, y_pred))
    if metric == "macro_f1":
        return float(f1_score(y_true, y_pred, average="macro"))
    if metric == "auroc":
        return float(roc_auc_score(y_true, y_pred if y_score is None else y_score))
    raise ValueError(metric)


def make_result(y_true, preds, *, scores=None, task="toy", task_type="regression", metric="spearman",
                encoder="enc", config=None, probe="linear", test_hash=TEST_HASH, ids=None) -> dict:
    """A complete ``lsdbench-result-1`` dict with the given test predictions (one array per seed)."""
    y_true = np.asarray(y_true)
    preds = [np.asarray(p) for p in preds]
    n = len(y_true)
    ids = list(ids) if ids is not None else [f"item-{i}" for i in range(n)]
    cast = float if task_type == "regression" else int
    per_seed, seed_scores = [], []
    for s, p in enumerate(preds):
        entry = {"seed": s, "y_pred": [cast(v) for v in p]}
        ys = None
        if scores is not None:
            ys = np.asarray(scores[s], dtype=float)
            entry["y_score"] = ys.tolist()
        per_seed.append(entry)
        seed_scores.append(ref_metric(metric, y_true, p, ys))
    test = float(np.mean(seed_scores))
    return {
        "schema": "lsdbench-result-1",
        "lsdbench_version": "0.1.0",
        "protocol": "lsdbench-probe-1",
        "encoder": {"name": encoder, "spec": encoder, "config": dict(config or {}), "dim": 8,
                    "long_sequences": {"policy": "window", "max_length": None, "overlap": 0}},
        "task": {"name": task, "version": "1", "type": task_type, "primary_metric": metric,
                 "split_hashes": {"train": "sha256:" + "11" * 32, "valid": "sha256:" + "22" * 32, "test": test_hash},
                 "sizes": {"train": 10, "valid": 10, "test": n}},
        "probe": {"name": probe, "params": {}, "selected": {"alpha": 1.0}, "seeds": list(range(len(preds)))},
        "scores": {"valid": {metric: test}, "test": {metric: test}},
        "test_std": {metric: float(np.std(seed_scores))},
        "test_ci": {"metric": metric, "low": test, "high": test, "level": 0.95, "n_resamples": 1000, "seed": 0},
        "per_seed": [{"seed": s, "selected": {"alpha": 1.0}, "valid": {metric: v}, "test": {metric: v}}
                     for s, v in enumerate(seed_scores)],
        "timings": {"embed_s": 0.1, "fit_s": 0.1},
        "environment": {"python": "3.11", "platform": "test", "numpy": np.__version__},
        "predictions": {"ids": ids, "y_true": [cast(v) for v in y_true], "per_seed": per_seed},
    }


def noisy_regression(rng, n, noise_a, noise_b, seeds_a=1, seeds_b=1, metric="spearman", **kw):
    y = rng.normal(size=n)
    a = make_result(y, [y + noise_a * rng.normal(size=n) for _ in range(seeds_a)], metric=metric, encoder="A", **kw)
    b = make_result(y, [y + noise_b * rng.normal(size=n) for _ in range(seeds_b)], metric=metric, encoder="B", **kw)
    return a, b


def binary_pair(rng, n, acc_a, acc_b, metric="accuracy", with_scores=False):
    """Truth and two classifiers each right on an item independently with probability acc."""
    y = rng.integers(0, 2, n)
    out = []
    for name, acc in (("A", acc_a), ("B", acc_b)):
        right = rng.random(n) < acc
        pred = np.where(right, y, 1 - y)
        score = None
        if with_scores:  # a probability that is on the right side of 0.5 exactly when pred is
            score = [np.where(pred == 1, 0.5 + 0.5 * rng.random(n), 0.5 * rng.random(n))]
        out.append(make_result(y, [pred], scores=score, task_type="binary", metric=metric, encoder=name))
    return out


# --------------------------------------------------------------------------- corrections


def test_holm_textbook_example():
    # sorted 0.005, 0.01, 0.03, 0.04 -> 4*0.005, 3*0.01, 2*0.03, max(1*0.04, 0.06): 0.02, 0.03, 0.06, 0.06
    np.testing.assert_allclose(stats.holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    # capped at 1 and monotone: sorted 0.01*3, 0.02*2, 0.5*1 (stays above the 0.04 before it)
    np.testing.assert_allclose(stats.holm([0.5, 0.01, 0.02]), [0.5, 0.03, 0.04])
    np.testing.assert_allclose(stats.holm([0.3, 0.6]), [0.6, 0.6])
    assert stats.holm([]).size == 0


def test_holm_rejections_match_the_step_down_procedure():
    rng = np.random.default_rng(1)
    for _ in range(200):
        m = int(rng.integers(1, 12))
        p = np.where(rng.random(m) < 0.5, rng.random(m) * 0.02, rng.random(m))
        order = np.argsort(p)
        rejected = np.zeros(m, dtype=bool)
        for k, i in enumerate(order):  # reject in ascending order while p_(k) <= alpha / (m - k)
            if p[i] > 0.05 / (m - k):
                break
            rejected[i] = True
        np.testing.assert_array_equal(stats.holm(p) <= 0.05, rejected)


def test_benjamini_hochberg_against_hand_example_and_scipy():
    # sorted 0.005*4/1, 0.01*4/2, 0.03*4/3, 0.04*4/4 = 0.02, 0.02, 0.04, 0.04 (already monotone)
    np.testing.assert_allclose(stats.benjamini_hochberg([0.01, 0.04, 0.03, 0.005]), [0.02, 0.04, 0.04, 0.02])
    rng = np.random.default_rng(2)
    for _ in range(50):
        p = rng.random(int(rng.integers(1, 30))) ** 3
        np.testing.assert_allclose(stats.benjamini_hochberg(p), ss.false_discovery_control(p, method="bh"))
        assert np.all(stats.benjamini_hochberg(p) <= stats.holm(p) + 1e-15)  # BH is never stricter


def test_adjust_dispatches_and_rejects_bad_input():
    p = [0.01, 0.04, 0.03, 0.005]
    np.testing.assert_allclose(stats.adjust(p, "holm"), stats.holm(p))
    np.testing.assert_allclose(stats.adjust(p, "bh"), stats.benjamini_hochberg(p))
    np.testing.assert_allclose(stats.adjust(p, "none"), p)
    with pytest.raises(ComparisonError, match="unknown correction"):
        stats.adjust(p, "bonferroni-ish")
    with pytest.raises(ValueError):
        stats.holm([0.1, float("nan")])
    with pytest.raises(ValueError):
        stats.benjamini_hochberg([1.2])


# --------------------------------------------------------------------------- McNemar


def test_mcnemar_exact_is_a_binomial_test_on_discordant_items():
    # 10 items only A got right, 2 only B: p = 2 * P(X <= 2 | n=12, 1/2) = 2 * (1 + 12 + 66) / 4096
    a = np.array([1] * 10 + [0] * 2 + [1] * 30 + [0] * 8, dtype=bool)
    b = np.array([0] * 10 + [1] * 2 + [1] * 30 + [0] * 8, dtype=bool)
    assert stats.mcnemar_exact(a, b) == pytest.approx(2 * 79 / 4096, rel=1e-12)
    assert stats.mcnemar_exact(b, a) == pytest.approx(2 * 79 / 4096, rel=1e-12)
    assert stats.mcnemar_exact(a, a) == 1.0  # no discordant item
    rng = np.random.default_rng(3)
    for _ in range(20):
        ca, cb = rng.random(80) < 0.7, rng.random(80) < 0.6
        k, m = int(np.sum(ca & ~cb)), int(np.sum(ca != cb))
        assert stats.mcnemar_exact(ca, cb) == pytest.approx(ss.binomtest(k, m, 0.5).pvalue, rel=1e-12)


def test_paired_test_mcnemar_on_results():
    rng = np.random.default_rng(4)
    a, b = binary_pair(rng, 300, 0.8, 0.7)
    cmp = stats.paired_test(a, b, method="mcnemar", n_resamples=2000)
    y = np.array(a["predictions"]["y_true"])
    ca = np.array(a["predictions"]["per_seed"][0]["y_pred"]) == y
    cb = np.array(b["predictions"]["per_seed"][0]["y_pred"]) == y
    expected = ss.binomtest(int(np.sum(ca & ~cb)), int(np.sum(ca != cb)), 0.5).pvalue
    assert cmp.p_value == pytest.approx(expected, rel=1e-12)
    assert cmp.delta == pytest.approx(ca.mean() - cb.mean())
    assert cmp.method == "mcnemar" and cmp.metric == "accuracy" and cmp.n_items == 300
    assert cmp.ci_low < cmp.delta < cmp.ci_high  # interval from the paired bootstrap


def test_mcnemar_refuses_what_it_cannot_test():
    rng = np.random.default_rng(5)
    a, b = noisy_regression(rng, 50, 1.0, 1.0)
    with pytest.raises(ComparisonError, match="McNemar"):
        stats.paired_test(a, b, method="mcnemar")
    y = rng.integers(0, 2, 40)
    mlp = make_result(y, [y, 1 - y, y], task_type="binary", metric="accuracy")
    lin = make_result(y, [y], task_type="binary", metric="accuracy")
    with pytest.raises(ComparisonError, match="one seed"):
        stats.paired_test(mlp, lin, method="mcnemar")


# --------------------------------------------------------------------------- bootstrap


CASES = {  # metric -> task type
    "spearman": "regression", "pearson": "regression", "mae": "regression",
    "accuracy": "binary", "auroc": "binary", "mcc": "binary", "macro_f1": "multiclass",
}


def _case(metric, rng, n, seeds_a=2, seeds_b=1):
    """Results with ties in truth and predictions (rounded values, few classes): the hard cases."""
    task_type = CASES[metric]
    if task_type == "regression":
        y = np.round(rng.normal(size=n), 1)
        preds = lambda k, s: [np.round(y + s * rng.normal(size=n), 1) for _ in range(k)]  # noqa: E731
        return (make_result(y, preds(seeds_a, 0.8), metric=metric, encoder="A"),
                make_result(y, preds(seeds_b, 1.0), metric=metric, encoder="B"))
    k = 2 if task_type == "binary" else 5
    y = rng.integers(0, k, n)
    y[-1] = 4 if k == 5 else y[-1]  # class 4 is rare: it vanishes from some resamples

    def res(name, seeds, acc):
        preds, scores = [], []
        for _ in range(seeds):
            pred = np.where(rng.random(n) < acc, y, rng.integers(0, k, n))
            preds.append(pred)
            scores.append(np.round(np.clip(0.5 * pred + 0.5 * rng.random(n), 0, 1), 2))  # tied scores
        return make_result(y, preds, scores=scores if task_type == "binary" else None, task_type=task_type,
                           metric=metric, encoder=name)
    return res("A", seeds_a, 0.7), res("B", seeds_b, 0.6)


@pytest.mark.parametrize("metric", list(CASES))
def test_bootstrap_deltas_equal_rescoring_every_resample(metric):
    """The batched bootstrap equals scoring each resample's items (with repeats) by the reference
    definition, averaging over seeds, for each result."""
    rng = np.random.default_rng(6)
    a, b = _case(metric, rng, 60)
    deltas = stats.bootstrap_deltas(a, b, n_resamples=150, seed=11)
    idx = np.concatenate(list(stats.resample_indices(60, 150, 11)))
    y = np.array(a["predictions"]["y_true"])

    def score(result, rows):
        vals = []
        for s in result["predictions"]["per_seed"]:
            ys = np.array(s["y_score"])[rows] if "y_score" in s else None
            vals.append(ref_metric(metric, y[rows], np.array(s["y_pred"])[rows], ys))
        return np.mean(vals)

    expected = np.array([score(a, r) - score(b, r) for r in idx])
    np.testing.assert_allclose(deltas, expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("metric", list(CASES))
def test_bootstrap_matches_lsdbench_metrics(metric):
    """The batched forms also agree with lsdbench.metrics.registry.score_predictions, the harness's definition."""
    from lsdbench.metrics.registry import score_predictions

    rng = np.random.default_rng(7)
    a, b = _case(metric, rng, 40)
    deltas = stats.bootstrap_deltas(a, b, n_resamples=30, seed=3)
    idx = np.concatenate(list(stats.resample_indices(40, 30, 3)))
    t = a["task"]["type"]
    y = np.array(a["predictions"]["y_true"])
    expected = [score_predictions(t, metric, y, a["predictions"]["per_seed"], index=r)
                - score_predictions(t, metric, y, b["predictions"]["per_seed"], index=r) for r in idx]
    np.testing.assert_allclose(deltas, expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("metric", ["spearman", "auroc", "macro_f1"])
def test_single_result_bootstrap_ci_equals_rescoring_and_the_probing_ci(metric):
    """stats.bootstrap_ci (the leaderboard's CI) is the percentile interval of the reference metric over
    the resample stream, i.e. exactly the CI probing.bootstrap_ci stores in a result."""
    from lsdbench.probe.probing import bootstrap_ci as probing_ci

    rng = np.random.default_rng(8)
    a, _ = _case(metric, rng, 50)
    values = stats.bootstrap_scores(a, n_resamples=120, seed=4)
    y = np.array(a["predictions"]["y_true"])
    expected = []
    for rows in np.concatenate(list(stats.resample_indices(50, 120, 4))):
        per = [ref_metric(metric, y[rows], np.array(s["y_pred"])[rows],
                          np.array(s["y_score"])[rows] if "y_score" in s else None)
               for s in a["predictions"]["per_seed"]]
        expected.append(np.mean(per))
    np.testing.assert_allclose(values, expected, rtol=1e-9, atol=1e-12)
    low, high = stats.bootstrap_ci(a, level=0.9, n_resamples=120, seed=4)
    np.testing.assert_allclose([low, high], np.percentile(expected, [5, 95]), rtol=1e-9)
    per_seed = [{k: np.asarray(v) for k, v in s.items() if k != "seed"} for s in a["predictions"]["per_seed"]]
    reference = probing_ci(a["task"]["type"], metric, y, per_seed, n_resamples=120, seed=4, level=0.9)
    np.testing.assert_allclose([low, high], reference, rtol=1e-9)


def test_metrics_module_is_the_definition_when_batched_forms_disagree(monkeypatch):
    """If lsdbench.metrics.registry defines a metric differently, the bootstrap follows it (slow path)."""
    import lsdbench.metrics.registry as metrics

    def balanced(task_type, metric, y_true, per_seed, index=None):  # 'accuracy' redefined
        rows = np.arange(len(y_true)) if index is None else np.asarray(index)
        y = np.asarray(y_true)[rows]
        return float(np.mean([np.mean([np.mean(np.asarray(s["y_pred"])[rows][y == c] == c) for c in (0, 1)])
                              for s in per_seed]))

    monkeypatch.setattr(metrics, "score_predictions", balanced)
    rng = np.random.default_rng(8)
    a, b = binary_pair(rng, 40, 0.8, 0.6)
    deltas = stats.bootstrap_deltas(a, b, n_resamples=40, seed=0)
    idx = np.concatenate(list(stats.resample_indices(40, 40, 0)))
    y = np.array(a["predictions"]["y_true"])
    expected = [balanced("binary", "accuracy", y, a["predictions"]["per_seed"], r)
                - balanced("binary", "accuracy", y, b["predictions"]["per_seed"], r) for r in idx]
    np.testing.assert_allclose(deltas, expected, equal_nan=True)


def test_bootstrap_ci_matches_scipy_paired_bootstrap_for_mae():
    rng = np.random.default_rng(9)
    a, b = noisy_regression(rng, 400, 0.8, 1.0, metric="mae")
    cmp = stats.paired_test(a, b, n_resamples=10_000, seed=0)
    y = np.array(a["predictions"]["y_true"])
    ea = np.abs(np.array(a["predictions"]["per_seed"][0]["y_pred"]) - y)
    eb = np.abs(np.array(b["predictions"]["per_seed"][0]["y_pred"]) - y)
    ref = ss.bootstrap((ea, eb), lambda x, z, axis: x.mean(axis) - z.mean(axis), paired=True, vectorized=True,
                       n_resamples=10_000, method="percentile", random_state=1)
    se = np.std(ea - eb) / np.sqrt(len(y))
    assert cmp.delta == pytest.approx(ea.mean() - eb.mean())
    assert cmp.ci_low == pytest.approx(ref.confidence_interval.low, abs=0.15 * se)
    assert cmp.ci_high == pytest.approx(ref.confidence_interval.high, abs=0.15 * se)
    assert cmp.better and cmp.delta < 0  # lower MAE is better: delta < 0 means A wins


def test_bootstrap_ci_matches_scipy_paired_bootstrap_for_spearman():
    rng = np.random.default_rng(10)
    a, b = noisy_regression(rng, 150, 0.7, 1.0)
    cmp = stats.paired_test(a, b, n_resamples=4000, seed=0)
    y = np.array(a["predictions"]["y_true"])
    pa = np.array(a["predictions"]["per_seed"][0]["y_pred"])
    pb = np.array(b["predictions"]["per_seed"][0]["y_pred"])

    def stat(x, z, t):
        return ss.spearmanr(x, t)[0] - ss.spearmanr(z, t)[0]

    ref = ss.bootstrap((pa, pb, y), stat, paired=True, vectorized=False, n_resamples=1500,
                       method="percentile", random_state=2)
    width = ref.confidence_interval.high - ref.confidence_interval.low
    assert cmp.delta == pytest.approx(stat(pa, pb, y))
    assert cmp.ci_low == pytest.approx(ref.confidence_interval.low, abs=0.08 * width)
    assert cmp.ci_high == pytest.approx(ref.confidence_interval.high, abs=0.08 * width)


def test_bootstrap_agrees_with_normal_approximation_on_a_large_sample():
    rng = np.random.default_rng(11)
    a, b = binary_pair(rng, 5000, 0.80, 0.79)
    cmp = stats.paired_test(a, b, n_resamples=4000, seed=0)
    y = np.array(a["predictions"]["y_true"])
    d = ((np.array(a["predictions"]["per_seed"][0]["y_pred"]) == y).astype(float)
         - (np.array(b["predictions"]["per_seed"][0]["y_pred"]) == y))
    se = d.std(ddof=1) / np.sqrt(d.size)
    assert cmp.ci_low == pytest.approx(d.mean() - 1.959964 * se, abs=0.15 * se)
    assert cmp.ci_high == pytest.approx(d.mean() + 1.959964 * se, abs=0.15 * se)
    assert cmp.p_value == pytest.approx(2 * ss.norm.sf(abs(d.mean()) / se), abs=0.03)


def test_bootstrap_pvalue_agrees_with_its_interval_and_is_reproducible():
    rng = np.random.default_rng(12)
    for acc_b in (0.62, 0.70, 0.78):  # clear, borderline, no difference
        a, b = binary_pair(rng, 300, 0.78, acc_b)
        cmp = stats.paired_test(a, b, n_resamples=3000, seed=5)
        excludes_zero = cmp.ci_low > 0 or cmp.ci_high < 0
        if abs(cmp.p_value - 0.05) > 0.005:  # away from the boundary the two must agree
            assert (cmp.p_value < 0.05) == excludes_zero
        again = stats.paired_test(a, b, n_resamples=3000, seed=5)
        assert (again.ci_low, again.ci_high, again.p_value) == (cmp.ci_low, cmp.ci_high, cmp.p_value)
    # the seed picks the resamples (accuracy deltas are discrete, so compare the draws themselves)
    assert not np.array_equal(stats.bootstrap_deltas(a, b, 200, seed=5), stats.bootstrap_deltas(a, b, 200, seed=6))
    np.testing.assert_array_equal(stats.bootstrap_deltas(a, b, 200, seed=5), stats.bootstrap_deltas(a, b, 200, seed=5))


def test_bootstrap_pvalue_formula():
    # 2 of 9 deltas <= 0: p = 2 * (1 + 2) / (9 + 1); NaNs are dropped first
    assert stats.bootstrap_pvalue([-1, 0, 1, 2, 3, 4, 5, 6, 7, np.nan]) == pytest.approx(0.6)
    assert stats.bootstrap_pvalue(np.arange(1, 100)) == pytest.approx(2 / 100)
    assert stats.bootstrap_pvalue(np.zeros(10)) == 1.0


# --------------------------------------------------------------------------- permutation


def test_permutation_exact_matches_scipy_for_mae():
    rng = np.random.default_rng(13)
    a, b = noisy_regression(rng, 10, 0.5, 1.0, metric="mae")
    y = np.array(a["predictions"]["y_true"])
    ea = np.abs(np.array(a["predictions"]["per_seed"][0]["y_pred"]) - y)
    eb = np.abs(np.array(b["predictions"]["per_seed"][0]["y_pred"]) - y)
    ref = ss.permutation_test((ea, eb), lambda x, z, axis: x.mean(axis) - z.mean(axis),
                              permutation_type="samples", vectorized=True, alternative="two-sided")
    cmp = stats.paired_test(a, b, method="permutation", n_resamples=5000)
    assert cmp.p_value == pytest.approx(ref.pvalue, rel=1e-9)  # 2**10 <= 5000: both enumerate all swaps


@pytest.mark.parametrize("metric", ["pearson", "spearman", "auroc", "mcc", "macro_f1"])
def test_permutation_exact_matches_scipy_for_whole_sample_metrics(metric):
    """Swapping predictions item by item and rescoring, against scipy's paired permutation test."""
    rng = np.random.default_rng(14)
    a, b = _case(metric, rng, 8, seeds_a=1, seeds_b=1)
    y = np.array(a["predictions"]["y_true"])
    sa, sb = a["predictions"]["per_seed"][0], b["predictions"]["per_seed"][0]
    key = "y_score" if metric == "auroc" else "y_pred"  # auroc's statistic depends only on the scores
    xa, xb = np.array(sa[key]), np.array(sb[key])

    def stat(x, z):
        if metric == "auroc":
            return ref_metric(metric, y, None, x) - ref_metric(metric, y, None, z)
        return ref_metric(metric, y, x) - ref_metric(metric, y, z)

    ref = ss.permutation_test((xa, xb), stat, permutation_type="samples", vectorized=False,
                              alternative="two-sided")
    cmp = stats.paired_test(a, b, method="permutation", n_resamples=1000)
    assert cmp.p_value == pytest.approx(ref.pvalue, rel=1e-9)


def test_permutation_random_matches_scipy_within_monte_carlo_error():
    rng = np.random.default_rng(15)
    a, b = binary_pair(rng, 120, 0.8, 0.72)
    y = np.array(a["predictions"]["y_true"])
    ca = (np.array(a["predictions"]["per_seed"][0]["y_pred"]) == y).astype(float)
    cb = (np.array(b["predictions"]["per_seed"][0]["y_pred"]) == y).astype(float)
    ref = ss.permutation_test((ca, cb), lambda x, z, axis: x.mean(axis) - z.mean(axis),
                              permutation_type="samples", vectorized=True, n_resamples=20_000, random_state=0)
    cmp = stats.paired_test(a, b, method="permutation", n_resamples=20_000)
    assert 0.01 < ref.pvalue < 0.5
    assert cmp.p_value == pytest.approx(ref.pvalue, abs=0.015)


def test_permutation_needs_equal_seeds_for_whole_sample_metrics_only():
    rng = np.random.default_rng(16)
    a, b = noisy_regression(rng, 40, 0.8, 1.0, seeds_a=3, seeds_b=1)
    with pytest.raises(ComparisonError, match="equal seed counts"):
        stats.paired_test(a, b, method="permutation", n_resamples=100)
    a, b = noisy_regression(rng, 40, 0.8, 1.0, seeds_a=3, seeds_b=1, metric="mae")
    assert 0 < stats.paired_test(a, b, method="permutation", n_resamples=500).p_value <= 1


# --------------------------------------------------------------------------- the paired test itself


def test_seeds_are_averaged_and_resampled_jointly():
    rng = np.random.default_rng(17)
    a, b = noisy_regression(rng, 80, 0.6, 1.0, seeds_a=3, seeds_b=1)
    cmp = stats.paired_test(a, b, n_resamples=500)
    y = np.array(a["predictions"]["y_true"])
    per_seed = [ss.spearmanr(s["y_pred"], y)[0] for s in a["predictions"]["per_seed"]]
    assert cmp.score_a == pytest.approx(np.mean(per_seed))
    assert cmp.score_b == pytest.approx(ss.spearmanr(b["predictions"]["per_seed"][0]["y_pred"], y)[0])
    assert cmp.delta == pytest.approx(cmp.score_a - cmp.score_b)


@pytest.mark.parametrize(("method", "metric"), [(m, k) for m in ("bootstrap", "permutation") for k in CASES]
                         + [("mcnemar", "accuracy")])
def test_a_result_compared_with_itself(method, metric):
    rng = np.random.default_rng(18)
    a, _ = _case(metric, rng, 50, seeds_a=1)
    twin = {**a, "encoder": {**a["encoder"], "name": "twin"}}
    cmp = stats.paired_test(a, twin, method=method, n_resamples=300)
    assert cmp.delta == 0 and cmp.ci_low == 0 and cmp.ci_high == 0
    assert cmp.p_value == 1.0 and not cmp.better
    assert (cmp.a, cmp.b) == ("A", "twin")


def test_sign_convention_and_better_flag():
    rng = np.random.default_rng(19)
    good, bad = noisy_regression(rng, 300, 0.3, 1.5, metric="mae")
    forward, backward = stats.paired_test(good, bad, n_resamples=1000), stats.paired_test(bad, good, n_resamples=1000)
    assert forward.delta < 0 and forward.better  # lower MAE: A better with a negative delta
    assert backward.delta > 0 and not backward.better
    assert forward.delta == pytest.approx(-backward.delta)
    good, bad = noisy_regression(rng, 300, 0.3, 1.5, metric="spearman")
    cmp = stats.paired_test(good, bad, n_resamples=1000)
    assert cmp.delta > 0 and cmp.better and cmp.p_value < 0.01
    assert isinstance(cmp, PairedComparison) and cmp.ci_level == pytest.approx(0.95)


def test_incomparable_results_are_refused_with_both_names():
    rng = np.random.default_rng(20)
    y = rng.normal(size=30)
    base = make_result(y, [y], encoder="esm2")
    cases = {
        "different tasks": make_result(y, [y], encoder="aac", task="other"),
        "different test splits": make_result(y, [y], encoder="aac", test_hash="sha256:" + "cd" * 32),
        "item ids differ": make_result(y, [y], encoder="aac", ids=[f"x{i}" for i in range(30)]),
        "labels differ": make_result(y + 1, [y], encoder="aac"),
    }
    for message, other in cases.items():
        with pytest.raises(ComparisonError, match=message) as info:
            stats.paired_test(base, other, n_resamples=10)
        assert "esm2" in str(info.value) and "aac" in str(info.value)
    retrained = make_result(y, [y], encoder="aac")
    retrained["task"]["split_hashes"]["train"] = "sha256:" + "ef" * 32  # probe trained on other data
    with pytest.raises(ComparisonError, match="different train splits"):
        stats.paired_test(base, retrained, n_resamples=10)
    with pytest.raises(ComparisonError, match=r"a\.json.*b\.json"):
        stats.paired_test(base, cases["different tasks"], where=("a.json", "b.json"))
    with pytest.raises(ComparisonError, match="unknown method"):
        stats.paired_test(base, base, method="t-test")
    no_preds = {k: v for k, v in base.items() if k != "predictions"}
    with pytest.raises(ComparisonError, match="per-item test predictions"):
        stats.paired_test(base, no_preds)


# --------------------------------------------------------------------------- calibration and power


def _rejection_rate(make, method, repeats, n_resamples=1000):
    rejections = 0
    for r in range(repeats):
        a, b = make(np.random.default_rng(1000 + r))
        rejections += stats.paired_test(a, b, method=method, n_resamples=n_resamples, seed=r).p_value < 0.05
    return rejections / repeats


@pytest.mark.parametrize("method", ["bootstrap", "permutation", "mcnemar"])
def test_encoders_differing_only_by_seed_are_rarely_declared_different(method):
    rate = _rejection_rate(lambda rng: binary_pair(rng, 200, 0.75, 0.75), method, 200)
    assert rate <= 0.1


def test_bootstrap_calibrated_for_rank_correlation():
    rate = _rejection_rate(lambda rng: noisy_regression(rng, 200, 1.0, 1.0), "bootstrap", 200)
    assert rate <= 0.1


@pytest.mark.parametrize("method", ["bootstrap", "permutation", "mcnemar"])
def test_a_real_difference_is_detected(method):
    assert _rejection_rate(lambda rng: binary_pair(rng, 200, 0.85, 0.70), method, 50) >= 0.8
    if method == "bootstrap":
        assert _rejection_rate(lambda rng: noisy_regression(rng, 200, 0.5, 1.0), method, 50) >= 0.8


# --------------------------------------------------------------------------- families


def test_compare_many_groups_corrects_and_judges():
    rng = np.random.default_rng(21)
    y = rng.normal(size=200)
    yc = rng.integers(0, 2, 200)

    def reg(name, noise, **kw):
        return make_result(y, [y + noise * rng.normal(size=200)], encoder=name, **kw)

    def cls(name, acc):
        return make_result(yc, [np.where(rng.random(200) < acc, yc, 1 - yc)], task="cls", task_type="binary",
                           metric="accuracy", encoder=name)

    results = [reg("lsd", 0.4, config={"t": 0.1}), reg("lsd", 2.0, config={"t": 0.9}), reg("aac", 0.4),
               cls("lsd", 0.9), cls("aac", 0.6), reg("lsd", 0.4, probe="mlp"), reg("aac", 3.0, probe="mlp")]
    out = stats.compare_many(results, n_resamples=2000)
    pairs = [(c.task, c.probe, c.a, c.b) for c in out]
    assert pairs == [("toy", "linear", "lsd[t=0.1]", "lsd[t=0.9]"), ("toy", "linear", "lsd[t=0.1]", "aac"),
                     ("cls", "linear", "lsd", "aac"), ("toy", "mlp", "lsd", "aac")]
    np.testing.assert_allclose([c.p_adjusted for c in out], stats.holm([c.p_value for c in out]))
    assert [c.verdict for c in out] == ["better", "not distinguishable", "better", "better"]
    bh = stats.compare_many(results, n_resamples=2000, correction="bh")
    np.testing.assert_allclose([c.p_adjusted for c in bh], stats.benjamini_hochberg([c.p_value for c in out]))
    # the reference by name: aac is now A, so the same pair reads 'worse'
    rev = stats.compare_many(results, reference="aac", n_resamples=2000)
    assert [(c.task, c.probe, c.a, c.b, c.verdict) for c in rev][-2:] == [
        ("cls", "linear", "aac", "lsd", "worse"), ("toy", "mlp", "aac", "lsd", "worse")]
    with pytest.raises(ComparisonError, match="matches none"):
        stats.compare_many(results, reference="esm2", n_resamples=10)
    with pytest.raises(ComparisonError, match="matches 2 results"):
        stats.compare_many(results[:3], reference="lsd", n_resamples=10)


def test_verdict_rule():
    cmp = stats.paired_test(*binary_pair(np.random.default_rng(22), 100, 0.9, 0.5), n_resamples=500)
    assert cmp.better
    assert stats.verdict(cmp, 0.01) == "better"
    assert stats.verdict(cmp, 0.05) == "not distinguishable"  # significant means p < alpha
    assert stats.verdict(cmp, math.nan) == "not distinguishable"
    assert stats.verdict(PairedComparison(**{**cmp.as_dict(), "better": False}), 0.01) == "worse"
