"""Probing protocol lsdbench-probe-1: metrics against scipy/scikit-learn, probes, CI, result files."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats as sst
from sklearn import metrics as skm
from sklearn.base import clone

from lsdbench.metrics import registry as metrics
from lsdbench.probe.probes import LinearProbe, MLPProbe
from lsdbench.probe.probing import CI_RESAMPLES, bootstrap_ci, fit_and_score, pair_features
from lsdbench.results.result import ResultError, read_result, result_filename, validate_result, write_result


def blobs(n=300, d=8, k=2, seed=0, noise=1.5):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    centers = rng.normal(0, 1, (k, d))
    return centers[y] + rng.normal(0, noise, (n, d)), y


def test_metrics_agree_with_scipy_and_sklearn():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=50), rng.normal(size=50)
    assert metrics.spearman(a, b) == sst.spearmanr(a, b).statistic
    assert metrics.pearson(a, b) == pytest.approx(np.corrcoef(a, b)[0, 1], abs=1e-12)
    assert metrics.mae([1, 2, 3], [2, 2, 5]) == pytest.approx(1.0)
    y, p = np.array([0, 1, 1, 0, 1]), np.array([0, 1, 0, 0, 1])
    assert metrics.accuracy(y, p) == 0.8
    # MCC by its textbook formula: tp=2 tn=2 fp=0 fn=1
    assert metrics.mcc(y, p) == pytest.approx((2 * 2 - 0 * 1) / np.sqrt(2 * 3 * 2 * 3))
    assert metrics.macro_f1(y, p) == pytest.approx((0.8 + 0.8) / 2)
    assert metrics.auroc(y, p, [0.1, 0.9, 0.4, 0.3, 0.8]) == skm.roc_auc_score(y, [0.1, 0.9, 0.4, 0.3, 0.8])
    assert metrics.higher_is_better("spearman") and not metrics.higher_is_better("mae")
    with pytest.raises(ValueError, match="unknown metric"):
        metrics.compute_metric("r2", y, p)
    with pytest.raises(ValueError, match="y_score"):
        metrics.auroc(y, p)


def test_score_predictions_is_mean_over_seeds_on_chosen_items():
    y = np.array([0, 1, 1, 0])
    seeds = [{"seed": 0, "y_pred": [0, 1, 1, 1]}, {"seed": 1, "y_pred": [0, 0, 0, 0]}]
    assert metrics.score_predictions("binary", "accuracy", y, seeds) == pytest.approx((0.75 + 0.5) / 2)
    assert metrics.score_predictions("binary", "accuracy", y, seeds, index=[0, 0, 1]) == pytest.approx((1 + 2 / 3) / 2)


def test_pair_features_are_symmetric():
    rng = np.random.default_rng(0)
    u, v = rng.normal(size=(4, 3)).astype(np.float32), rng.normal(size=(4, 3)).astype(np.float32)
    f = pair_features(u, v)
    assert f.shape == (4, 9) and f.dtype == np.float32 and f.flags.c_contiguous
    np.testing.assert_array_equal(f, pair_features(v, u))
    with pytest.raises(ValueError, match="differ in shape"):
        pair_features(u, v[:, :2])


def test_linear_probe_follows_sklearn_conventions_and_selects_on_validation():
    X, y = blobs(seed=2)
    probe = LinearProbe("binary", grid=(1e-4, 1e-2, 1.0), max_iter=500)
    assert clone(probe).get_params() == probe.get_params()
    assert probe.fit(X[:200], y[:200], X[200:], y[200:]) is probe
    assert set(probe.valid_scores_) == {1e-4, 1e-2, 1.0}
    best = max(probe.valid_scores_.values())
    first_best = next(c for c, s in probe.valid_scores_.items() if s == best)
    assert probe.selected_ == {"C": first_best}
    proba = probe.predict_proba(X[200:])
    assert proba.shape == (100, 2) and np.allclose(proba.sum(1), 1)
    np.testing.assert_array_equal(probe.predict(X[200:]), proba.argmax(1))


def test_linear_probe_knows_classes_absent_from_train():
    X, y = blobs(n=120, k=3, seed=3)
    keep = y != 2
    probe = LinearProbe("multiclass", n_classes=4, grid=(1.0,)).fit(X[keep], y[keep], X[:20], y[:20] % 2)
    assert probe.predict_proba(X[:5]).shape == (5, 4)
    with pytest.raises(ValueError, match=r"class indices in \[0, 2\)"):
        LinearProbe("binary", n_classes=2).fit(X, y)


def test_ridge_probe_for_regression():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5))
    y = X @ np.array([1.0, -2, 0, 0, 0.5]) + rng.normal(0, 0.1, 200)
    probe = LinearProbe("regression").fit(X[:150], y[:150], X[150:], y[150:])
    assert "alpha" in probe.selected_
    assert metrics.spearman(y[150:], probe.predict(X[150:])) > 0.95


def test_mlp_probe_is_reproducible_and_stops_early():
    X, y = blobs(n=240, k=3, seed=4)
    kw = dict(n_classes=3, hidden=16, max_epochs=60, patience=5)
    a = MLPProbe("multiclass", seed=1, **kw).fit(X[:160], y[:160], X[160:200], y[160:200])
    b = MLPProbe("multiclass", seed=1, **kw).fit(X[:160], y[:160], X[160:200], y[160:200])
    np.testing.assert_array_equal(a.predict_proba(X[200:]), b.predict_proba(X[200:]))
    assert 1 <= a.epochs_ <= 60 and a.selected_ == {"epochs": a.epochs_}
    assert clone(a).get_params()["seed"] == 1


def test_fit_and_score_mlp_reports_mean_and_std_over_seeds():
    X, y = blobs(n=300, k=2, seed=5)
    out = fit_and_score("binary", "accuracy", X[:200], y[:200], X[200:250], y[200:250], X[250:], y[250:],
                        [f"t{i}" for i in range(50)], probe="mlp", probe_params={"hidden": 8, "max_epochs": 30})
    accs = [s["test"]["accuracy"] for s in out.per_seed]
    assert out.seeds == [0, 1, 2]
    assert out.test["accuracy"] == pytest.approx(np.mean(accs))
    assert out.test_std["accuracy"] == pytest.approx(np.std(accs))
    assert set(out.test) == {"accuracy", "auroc", "mcc", "macro_f1"}


def test_linear_probe_fits_on_one_blas_thread_whatever_the_process_allows(monkeypatch):
    """The pin makes results independent of the core count (and avoids 15x thread overhead on small fits)."""
    from threadpoolctl import threadpool_info, threadpool_limits

    seen = []
    real_fit = LinearProbe.fit

    def recording_fit(self, *args, **kwargs):
        seen.append(max(p["num_threads"] for p in threadpool_info()))
        return real_fit(self, *args, **kwargs)

    monkeypatch.setattr(LinearProbe, "fit", recording_fit)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 32)).astype(np.float32)
    y = (X[:, :3].sum(axis=1) + rng.normal(size=300) > 0).astype(int) + (X[:, 3] > 1)
    outcomes = []
    for threads in (2, 1):
        with threadpool_limits(threads):
            outcomes.append(fit_and_score("multiclass", "accuracy", X[:200], y[:200], X[200:250], y[200:250],
                                          X[250:], y[250:], [str(i) for i in range(50)], n_classes=3))
    assert seen == [1, 1]
    a, b = (o.result_fields() for o in outcomes)
    assert a == b


def test_bootstrap_ci_is_seeded_and_brackets_the_score():
    y = np.tile([0, 1], 100)
    pred = [{"seed": 0, "y_pred": np.where(np.arange(200) % 5 == 0, 1 - y, y).tolist()}]
    low, high = bootstrap_ci("binary", "accuracy", y, pred)
    assert low < 0.8 < high
    assert (low, high) == bootstrap_ci("binary", "accuracy", y, pred)
    # against an independent percentile bootstrap with the same index stream
    rng = np.random.default_rng(0)
    correct = np.array(pred[0]["y_pred"]) == y
    values = [correct[rng.integers(0, 200, 200)].mean() for _ in range(CI_RESAMPLES)]
    assert (low, high) == pytest.approx(tuple(np.percentile(values, [2.5, 97.5])), abs=1e-12)


def _result(tmp_path):
    X, y = blobs(n=200, seed=6)
    ids = [f"t{i}" for i in range(60)]
    out = fit_and_score("binary", "accuracy", X[:100], y[:100], X[100:140], y[100:140], X[140:], y[140:], ids)
    h = "sha256:" + "0" * 64
    return {
        "schema": "lsdbench-result-1", "lsdbench_version": "0.1.0", "protocol": "lsdbench-probe-1",
        "encoder": {"name": "toy", "spec": "toy", "config": {}, "dim": 8,
                    "long_sequences": {"policy": "window", "max_length": None, "overlap": 0}},
        "task": {"name": "toy", "version": "1", "type": "binary", "primary_metric": "accuracy",
                 "split_hashes": {"train": h, "valid": h, "test": h}, "sizes": {"train": 100, "valid": 40, "test": 60}},
        **out.result_fields(), "timings": {"embed_s": 0.0, "fit_s": out.fit_s}, "environment": {"python": "3"},
    }


def test_result_round_trips_and_bad_results_name_the_field(tmp_path):
    res = _result(tmp_path)
    path = write_result(tmp_path / result_filename("toy", {}, "toy", "linear"), res)
    assert read_result(path) == res
    assert not list(tmp_path.glob(".*.tmp"))  # atomic write leaves no temporary file
    bad = json.loads(json.dumps(res))
    bad["predictions"]["per_seed"][0]["y_pred"].pop()
    with pytest.raises(ResultError, match="59 predictions for 60 test items"):
        validate_result(bad, "bad.json")
    bad = json.loads(json.dumps(res))
    del bad["task"]["split_hashes"]["test"]
    with pytest.raises(ResultError, match="bad.json: at task/split_hashes"):
        validate_result(bad, "bad.json")
    path.write_text(path.read_text().replace(str(res["scores"]["test"]["accuracy"]), "NaN", 1))
    with pytest.raises(ResultError, match="not valid JSON"):
        read_result(path)
    with pytest.raises(ResultError, match="cannot read"):
        read_result(tmp_path / "missing.json")


def test_result_filenames_keep_configs_apart():
    a = result_filename("lsd_tn_diffusion", {"t": 0.1}, "metal_ion_binding", "linear")
    b = result_filename("lsd_tn_diffusion", {"t": 0.2}, "metal_ion_binding", "linear")
    assert a != b and a.startswith("lsd_tn_diffusion-") and a.endswith("__metal_ion_binding__linear.json")
