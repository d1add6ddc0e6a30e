"""Paired significance tests between two results on the same test items, and multiple-testing corrections.

Leaderboards in this field often rank models whose differences are noise. Two results of one task
were scored on the same test items, so their difference is tested *paired*: every resample or
permutation acts on whole items, for both results at once (and for every seed of an MLP probe).

Conventions (``paired_test``):

- ``delta = score_a - score_b`` in the units of the task's primary metric. For a lower-is-better
  metric (``mae``) a negative delta means A is better; ``better`` says whether A beats B in the
  metric's own direction (``metrics.higher_is_better``), so callers never need the sign rule.
- A result's score on a set of items is the mean over its seeds of the metric of each seed's
  predictions (``metrics.score_predictions``); resampled items are shared by all seeds.
- ``ci_low``/``ci_high``: paired-bootstrap percentile interval of delta at level ``1 - alpha``
  (``n_resamples`` resamples of the test items with replacement, ``numpy.random.default_rng(seed)``),
  whatever the method; the method only chooses the p-value:

  * ``bootstrap`` (default): percentile-inversion two-sided p-value
    ``p = min(1, 2 * (1 + min(#{d* <= 0}, #{d* >= 0})) / (B + 1))`` over the B finite bootstrap
    deltas d*: the smallest level at which the equal-tailed percentile interval excludes 0 (so
    ``p < alpha`` agrees with the reported interval excluding 0), with the usual +1 correction so
    that a Monte Carlo p-value is never 0. Smallest p with the default 10,000 resamples: 2e-4.
  * ``permutation``: items' predictions are swapped between A and B at random (each item with
    probability 1/2, for all seeds together); ``p = (1 + #{|T*| >= |T|}) / (B + 1)`` with T the
    observed delta. When 2**n_items <= n_resamples every swap pattern is enumerated and p is exact.
    For ``accuracy`` and ``mae`` (means of per-item losses) a swap flips the sign of the item's
    loss difference, which also allows different seed counts; other metrics need equal seed counts.
  * ``mcnemar``: exact McNemar test (two-sided binomial test on the discordant items) of accuracy;
    classification tasks whose primary metric is accuracy, one seed per result.

- ``bootstrap_scores`` / ``bootstrap_ci``: one result's primary metric over the same resample stream
  (the leaderboard's CIs; equal to the ``test_ci`` that ``probing`` stores for the same seed).
- ``compare_many`` corrects the p-values of all its comparisons as one family (Holm by default,
  Benjamini-Hochberg as an option) and gives each a verdict at ``alpha`` on the adjusted p:
  ``better`` / ``worse`` (A relative to B) or ``not distinguishable``.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import scipy.sparse

# scipy is imported where it is used: `lsdbench --help` and `compare --help` read this module's constants
# and must start without it (issue 13: under half a second, no torch / scikit-learn / scipy)

log = logging.getLogger(__name__)

DEFAULT_RESAMPLES = 10_000
METHODS = ("bootstrap", "permutation", "mcnemar")
CORRECTIONS = ("holm", "bh", "none")
CLASSIFICATION = ("binary", "multiclass", "pair_binary")
VERDICTS = ("better", "worse", "not distinguishable")
_CHUNK_ELEMENTS = 1 << 20  # resamples x items per batch: bounds memory (~8 MB per float array)
_ADDITIVE = ("accuracy", "mae")  # metrics that are a mean of per-item losses


class ComparisonError(ValueError):
    """Two results cannot be compared (different tasks, splits or items), or a bad test option."""


@dataclass(frozen=True)
class PairedComparison:
    """Outcome of a paired test of result A against result B on one task."""

    task: str
    metric: str
    a: str
    b: str
    score_a: float
    score_b: float
    delta: float  # score_a - score_b, metric units
    ci_low: float
    ci_high: float
    p_value: float
    method: str
    n_items: int
    better: bool  # A beats B in the metric's direction (lower is better for mae)
    probe: str = ""
    ci_level: float = 0.95
    n_resamples: int = DEFAULT_RESAMPLES
    seed: int = 0
    p_adjusted: float | None = None  # set by compare_many
    verdict: str | None = None  # set by compare_many
    source_a: str | None = None  # where the results came from (files), set by compare_many
    source_b: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------- multiple testing


def _check_pvalues(pvalues) -> np.ndarray:
    p = np.asarray(pvalues, dtype=float).ravel()
    if np.any(~np.isfinite(p)) or np.any((p < 0) | (p > 1)):
        raise ValueError(f"p-values must lie in [0, 1], got {p.tolist()}")
    return p


def holm(pvalues) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (step-down; controls the family-wise error rate).

    In ascending order p_(1) <= ... <= p_(m): adj_(i) = max_{j <= i} min(1, (m - j + 1) p_(j)),
    returned in the input order. Reject where adjusted p < alpha.
    """
    p = _check_pvalues(pvalues)
    m = p.size
    if m == 0:
        return p
    order = np.argsort(p, kind="stable")
    stepped = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out = np.empty(m)
    out[order] = np.maximum.accumulate(stepped)
    return out


def benjamini_hochberg(pvalues) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (step-up; controls the false discovery rate).

    adj_(i) = min_{j >= i} min(1, m / j * p_(j)) in ascending order, returned in the input order.
    """
    p = _check_pvalues(pvalues)
    m = p.size
    if m == 0:
        return p
    order = np.argsort(p, kind="stable")
    scaled = p[order] * m / np.arange(1, m + 1)
    out = np.empty(m)
    out[order] = np.minimum(1.0, np.minimum.accumulate(scaled[::-1])[::-1])
    return out


def adjust(pvalues, method: str = "holm") -> np.ndarray:
    """Adjust a family of p-values: ``holm``, ``bh`` (Benjamini-Hochberg) or ``none``."""
    if method == "holm":
        return holm(pvalues)
    if method == "bh":
        return benjamini_hochberg(pvalues)
    if method == "none":
        return _check_pvalues(pvalues).copy()
    raise ComparisonError(f"unknown correction {method!r}; choose one of {', '.join(CORRECTIONS)}")


# --------------------------------------------------------------------------- elementary tests


def mcnemar_exact(correct_a, correct_b) -> float:
    """Exact two-sided McNemar p-value: binomial test of the discordant items against 1/2.

    ``correct_a``/``correct_b``: per-item booleans (was the item classified correctly by A / by B).
    Items both got right or both got wrong carry no information; with no discordant item p = 1.
    """
    a = np.asarray(correct_a, dtype=bool)
    b = np.asarray(correct_b, dtype=bool)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError("correct_a and correct_b must be 1-d arrays of the same length")
    only_a = int(np.sum(a & ~b))
    only_b = int(np.sum(~a & b))
    if only_a + only_b == 0:
        return 1.0
    from scipy.stats import binomtest

    return float(binomtest(only_a, only_a + only_b, 0.5, alternative="two-sided").pvalue)


def bootstrap_pvalue(deltas, tol: float = 0.0) -> float:
    """Two-sided percentile-inversion p-value of ``H0: delta = 0`` from bootstrap deltas.

    Deltas within ``tol`` of 0 count on both sides (float noise must not decide a tie).
    """
    d = np.asarray(deltas, dtype=float)
    d = d[np.isfinite(d)]
    if d.size == 0:
        return float("nan")
    low = int(np.sum(d <= tol))
    high = int(np.sum(d >= -tol))
    return float(min(1.0, 2.0 * (1 + min(low, high)) / (d.size + 1)))


# --------------------------------------------------------------------------- predictions


@dataclass
class _Preds:
    """One result's test predictions as arrays (seeds stacked)."""

    label: str
    task: str
    task_type: str
    metric: str
    probe: str
    ids: list[str]
    y_true: np.ndarray
    y_pred: list[np.ndarray]
    y_score: list[np.ndarray | None]
    per_seed: list[dict]  # as stored, for metrics.score_predictions

    @property
    def n(self) -> int:
        return len(self.ids)


def result_label(result: dict) -> str:
    """Short display name of a result: the encoder name."""
    return str(result.get("encoder", {}).get("name", "?"))


def _preds(result: dict, where: str) -> _Preds:
    try:
        task = result["task"]
        pred = result["predictions"]
        ids = list(pred["ids"])
        per_seed = list(pred["per_seed"])
        task_type, metric = task["type"], task["primary_metric"]
        y_true_raw = pred["y_true"]
    except (KeyError, TypeError) as exc:
        raise ComparisonError(f"{where}: not a result with per-item test predictions (missing {exc})") from None
    if not per_seed:
        raise ComparisonError(f"{where}: the result has no per-seed predictions")
    dtype = np.float64 if task_type == "regression" else np.int64
    y_true = np.asarray(y_true_raw, dtype=dtype)
    y_pred, y_score = [], []
    for s in per_seed:
        yp = np.asarray(s["y_pred"], dtype=dtype)
        if yp.shape != y_true.shape or len(ids) != y_true.size:
            raise ComparisonError(f"{where}: predictions of seed {s.get('seed')} do not match the {len(ids)} test ids")
        y_pred.append(yp)
        ys = s.get("y_score")
        y_score.append(None if ys is None else np.asarray(ys, dtype=np.float64))
    probe = str(result.get("probe", {}).get("name", ""))
    return _Preds(result_label(result), str(task["name"]), task_type, metric, probe, ids, y_true, y_pred,
                  y_score, per_seed)


def _describe(result: dict) -> str:
    enc = result.get("encoder", {}) if isinstance(result, dict) else {}
    config = enc.get("config") or {}
    extra = ", ".join(f"{k}={config[k]}" for k in sorted(config)) if config else ""
    return f"encoder {enc.get('name', '?')}" + (f" ({extra})" if extra else "")


def _check_pair(ra: dict, rb: dict, pa: _Preds, pb: _Preds, wa: str, wb: str) -> None:
    if pa.task != pb.task:
        raise ComparisonError(f"cannot compare {wa} with {wb}: different tasks ({pa.task!r} vs {pb.task!r})")
    ha, hb = ra["task"].get("split_hashes") or {}, rb["task"].get("split_hashes") or {}
    differ = [s for s in ("test", "train", "valid") if ha.get(s) != hb.get(s)]  # probes trained on other data
    if differ:
        hashes = "; ".join(f"{s} hash {ha.get(s)} vs {hb.get(s)}" for s in differ)
        raise ComparisonError(f"cannot compare {wa} with {wb} on {pa.task}: they were scored on different "
                              f"{'/'.join(differ)} splits ({hashes}); re-run both with the same task data")
    if (pa.task_type, pa.metric) != (pb.task_type, pb.metric):
        raise ComparisonError(f"cannot compare {wa} with {wb} on {pa.task}: task type/metric differ "
                              f"({pa.task_type}/{pa.metric} vs {pb.task_type}/{pb.metric})")
    if pa.ids != pb.ids:
        raise ComparisonError(f"cannot compare {wa} with {wb} on {pa.task}: their test item ids differ")
    same = (np.allclose(pa.y_true, pb.y_true, rtol=1e-9, atol=1e-12) if pa.task_type == "regression"
            else np.array_equal(pa.y_true, pb.y_true))
    if not same:
        raise ComparisonError(f"cannot compare {wa} with {wb} on {pa.task}: their test labels differ")


# --------------------------------------------------------------------------- batched metrics
# Resampling many times with metrics.score_predictions costs one Python call per resample; these
# evaluate a metric on a whole batch of resamples at once. The bootstrap form takes a count matrix
# W (resamples x items: how often each item was drawn), which equals scoring the resampled items
# with their repeats; the permutation form takes a matrix of per-resample predictions. Both are
# checked on the full sample against score_predictions before use, else the slow path is taken.


def _midrank_plan(values: np.ndarray):
    """Sort order, starts of tie groups in sorted order, and each item's tie group."""
    order = np.argsort(values, kind="mergesort")
    sv = values[order]
    new = np.r_[True, sv[1:] != sv[:-1]]
    starts = np.flatnonzero(new)
    group = np.empty(values.size, dtype=np.intp)
    group[order] = np.cumsum(new) - 1
    return order, starts, group


def _weighted_centred_ranks(W: np.ndarray, plan, N: np.ndarray) -> np.ndarray:
    """Average ranks (ties share their mean rank) of every item in each weighted resample, minus (N+1)/2."""
    order, starts, group = plan
    g = W[:, order]
    if starts.size != g.shape[1]:
        g = np.add.reduceat(g, starts, axis=1)  # weight of each tie group
    # mean rank of a group, cum - (g - 1)/2, minus the mean rank (N + 1)/2, in place for speed
    mid = np.cumsum(g, axis=1)
    mid -= 0.5 * g
    mid -= (0.5 * N)[:, None]
    return mid[:, group]


def _corr(sxy, sxx, syy, scale_x, scale_y) -> np.ndarray:
    """Correlation from centred sums; NaN (as scipy) where a side is constant, i.e. its centred sum of
    squares is rounding noise relative to its raw sum of squares ``scale``."""
    ok = (sxx > 1e-12 * scale_x) & (syy > 1e-12 * scale_y)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ok, sxy / np.sqrt(np.where(ok, sxx * syy, 1.0)), np.nan)


def _wpearson(W: np.ndarray, x: np.ndarray, y: np.ndarray, N: np.ndarray) -> np.ndarray:
    x = x - x.mean()
    y = y - y.mean()  # centring first keeps the moment sums well conditioned
    sx, sy, sxx, syy = W @ x, W @ y, W @ (x * x), W @ (y * y)
    return _corr(W @ (x * y) - sx * sy / N, sxx - sx * sx / N, syy - sy * sy / N, sxx, syy)


def _onehot(labels: np.ndarray, k: int, values=None) -> scipy.sparse.csr_matrix:
    import scipy.sparse as sp

    n = labels.size
    data = np.ones(n) if values is None else np.asarray(values, dtype=float)
    return sp.csr_matrix((data, (np.arange(n), labels)), shape=(n, k))


def _wmul(W: np.ndarray, M: scipy.sparse.csr_matrix) -> np.ndarray:
    return np.asarray((M.T @ W.T).T)


def _confusion_metric(metric: str, tp, t_sum, p_sum, N) -> np.ndarray:
    if metric == "accuracy":
        return tp.sum(axis=1) / N
    if metric == "macro_f1":
        denom = t_sum + p_sum  # = 2tp + fp + fn; > 0 exactly for labels present in truth or prediction
        present = denom > 0
        with np.errstate(invalid="ignore", divide="ignore"):
            f1 = np.where(present, 2.0 * tp / np.where(present, denom, 1.0), 0.0)
        return f1.sum(axis=1) / present.sum(axis=1)
    # mcc, multiclass form (as scikit-learn): 0 where a marginal is constant
    cov_tp = tp.sum(axis=1) * N - (t_sum * p_sum).sum(axis=1)
    cov_pp = N * N - (p_sum * p_sum).sum(axis=1)
    cov_tt = N * N - (t_sum * t_sum).sum(axis=1)
    denom = cov_tt * cov_pp
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, cov_tp / np.sqrt(np.where(denom > 0, denom, 1.0)), 0.0)


def _auroc_rows_weighted(W, score, positive, N) -> np.ndarray:
    order, starts, _ = _midrank_plan(score)
    Ws = W[:, order]
    g_all = np.add.reduceat(Ws, starts, axis=1)
    g_pos = np.add.reduceat(Ws * positive[order], starts, axis=1)
    g_neg = g_all - g_pos
    below = np.cumsum(g_neg, axis=1) - g_neg  # negatives scored strictly lower; ties count 1/2
    n_pos, n_neg = g_pos.sum(axis=1), g_neg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = (g_pos * (below + g_neg / 2.0)).sum(axis=1) / (n_pos * n_neg)
    return np.where((n_pos > 0) & (n_neg > 0), auc, np.nan)


WeightedFn = Callable[[np.ndarray, dict], np.ndarray]


def _weighted_seed(task_type: str, metric: str, y_true: np.ndarray, y_pred: np.ndarray,
                   y_score: np.ndarray | None) -> WeightedFn | None:
    """Metric of one seed's predictions on weighted resamples, or None if not available in batch form."""
    if metric == "mae" and task_type == "regression":
        loss = np.abs(y_pred - y_true)
        return lambda W, c: W @ loss / c["N"]
    if metric == "pearson" and task_type == "regression":
        return lambda W, c: _wpearson(W, y_pred, y_true, c["N"])
    if metric == "spearman" and task_type == "regression":
        plan = _midrank_plan(y_pred)

        def spearman(W, c):
            if "true_ranks" not in c:  # shared by every seed and both results of a comparison
                c["true_ranks"] = _weighted_centred_ranks(W, _midrank_plan(y_true), c["N"])
            rt, rp = c["true_ranks"], _weighted_centred_ranks(W, plan, c["N"])
            sxx, syy = np.einsum("ij,ij,ij->i", W, rp, rp), np.einsum("ij,ij,ij->i", W, rt, rt)
            sxy = np.einsum("ij,ij,ij->i", W, rt, rp)
            return _corr(sxy, sxx, syy, sxx, syy)  # centred ranks of a constant side are exactly 0
        return spearman
    if task_type not in CLASSIFICATION:
        return None
    if metric == "auroc" and task_type != "multiclass":
        score = y_pred.astype(float) if y_score is None else y_score
        if score.ndim != 1:
            return None
        positive = (y_true == 1).astype(float)
        return lambda W, c: _auroc_rows_weighted(W, score, positive, c["N"])
    if metric in ("accuracy", "macro_f1", "mcc"):
        if metric == "accuracy":
            hit = (y_pred == y_true).astype(float)
            return lambda W, c: W @ hit / c["N"]
        classes, inv = np.unique(np.r_[y_true, y_pred], return_inverse=True)
        k, n = classes.size, y_true.size
        t, p = inv[:n], inv[n:]
        T, P, TP = _onehot(t, k), _onehot(p, k), _onehot(t, k, t == p)
        return lambda W, c: _confusion_metric(metric, _wmul(W, TP), _wmul(W, T), _wmul(W, P), c["N"])
    return None


def _rowwise_seed(task_type: str, metric: str, y_true: np.ndarray) -> Callable | None:
    """Metric of per-row predictions P (rows x items) and scores S, same truth for every row."""
    from scipy.stats import rankdata

    n = y_true.size
    if metric in ("pearson", "spearman") and task_type == "regression":
        yt = rankdata(y_true) if metric == "spearman" else y_true.astype(float)
        yt_scale = float(yt @ yt)
        yt = yt - yt.mean()

        def corr(P, S):
            x = rankdata(P, axis=1) if metric == "spearman" else P.astype(float)
            raw = (x * x).sum(axis=1)
            x = x - x.mean(axis=1, keepdims=True)
            return _corr(x @ yt, (x * x).sum(axis=1), np.full(len(x), yt @ yt), raw, yt_scale)
        return corr
    if task_type not in CLASSIFICATION:
        return None
    if metric == "auroc" and task_type != "multiclass":
        positive = y_true == 1
        n_pos, n_neg = positive.sum(), (~positive).sum()

        def auroc(P, S):
            s = P.astype(float) if S is None else S
            if s.ndim != 2 or n_pos == 0 or n_neg == 0:
                return np.full(len(P), np.nan)
            u = rankdata(s, axis=1)[:, positive].sum(axis=1) - n_pos * (n_pos + 1) / 2.0  # Mann-Whitney U
            return u / (n_pos * n_neg)
        return auroc
    if metric in ("macro_f1", "mcc"):
        def confusion(P, S):
            classes, inv = np.unique(np.r_[y_true, P.ravel()], return_inverse=True)
            k, rows = classes.size, len(P)
            t, p = inv[:n], inv[n:].reshape(rows, n)
            off = (np.arange(rows) * k)[:, None]
            t_sum = np.broadcast_to(np.bincount(t, minlength=k).astype(float), (rows, k))
            p_sum = np.bincount((p + off).ravel(), minlength=rows * k).reshape(rows, k).astype(float)
            tp = np.bincount((p + off).ravel(), weights=(p == t).ravel().astype(float),
                             minlength=rows * k).reshape(rows, k)
            return _confusion_metric(metric, tp, t_sum, p_sum, np.full(rows, float(n)))
        return confusion
    return None


def _score_full(p: _Preds, index=None) -> float:
    from .metrics import score_predictions

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")  # degenerate resamples (constant values) give NaN: dropped later
        try:
            return float(score_predictions(p.task_type, p.metric, p.y_true, p.per_seed, index=index))
        except (ValueError, ZeroDivisionError):
            return float("nan")


def _close(x: float, y: float) -> bool:
    return (math.isnan(x) and math.isnan(y)) or abs(x - y) <= 1e-9 * max(1.0, abs(y))


def _weighted_scorer(p: _Preds, observed: float) -> WeightedFn | None:
    """Mean over seeds of the metric on weighted resamples; None unless it reproduces ``observed``."""
    parts = [_weighted_seed(p.task_type, p.metric, p.y_true, yp, ys) for yp, ys in zip(p.y_pred, p.y_score, strict=True)]
    if any(f is None for f in parts):
        return None

    def scorer(W, c):
        with np.errstate(all="ignore"):
            return np.mean([f(W, c) for f in parts], axis=0)

    ones = np.ones((1, p.n))
    check = float(scorer(ones, {"N": np.array([float(p.n)])})[0])
    if not _close(check, observed):  # metrics.py defines the metric differently: use it directly
        log.debug("batched %s differs from score_predictions (%r vs %r); slow path", p.metric, check, observed)
        return None
    return scorer


# --------------------------------------------------------------------------- resampling


def _chunks(total: int, n: int):
    size = max(1, min(total, _CHUNK_ELEMENTS // max(n, 1)))
    done = 0
    while done < total:
        c = min(size, total - done)
        yield c
        done += c


def resample_indices(n: int, n_resamples: int, seed: int):
    """Batches of bootstrap resamples (one row each: ``n`` item indices drawn with replacement).

    This one stream, ``numpy.random.default_rng(seed)`` drawn batch by batch, is behind every
    bootstrap interval and p-value here, so results are reproducible from (seed, n, n_resamples).
    """
    rng = np.random.default_rng(seed)
    for c in _chunks(n_resamples, n):
        yield rng.integers(0, n, size=(c, n))


def _draw_counts(idx: np.ndarray, n: int) -> tuple[np.ndarray, dict]:
    """Resamples as a count matrix W (resamples x items: how often each item was drawn) and its cache."""
    c = len(idx)
    flat = (idx + (np.arange(c) * n)[:, None]).ravel()
    W = np.bincount(flat, minlength=c * n).reshape(c, n).astype(np.float64)
    return W, {"N": np.full(c, float(n))}


def _bootstrap_deltas(pa: _Preds, pb: _Preds, score_a: float, score_b: float, n_resamples: int,
                      seed: int) -> np.ndarray:
    n = pa.n
    fa, fb = _weighted_scorer(pa, score_a), _weighted_scorer(pb, score_b)
    out = []
    for idx in resample_indices(n, n_resamples, seed):
        if fa is not None and fb is not None:
            W, cache = _draw_counts(idx, n)
            out.append(fa(W, cache) - fb(W, cache))
        else:
            out.append(np.array([_score_full(pa, i) - _score_full(pb, i) for i in idx]))
    return np.concatenate(out)


def bootstrap_scores(result: dict, n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> np.ndarray:
    """One result's primary metric on each bootstrap resample of its test items (NaN where undefined).

    The resamples are those of ``resample_indices`` (the stream ``probing.bootstrap_ci`` draws too), so
    the percentiles reproduce a result's own ``test_ci`` given the same seed and resample count.
    """
    p = _preds(result, _describe(result))
    f = _weighted_scorer(p, _score_full(p))
    out = []
    for idx in resample_indices(p.n, int(n_resamples), seed):
        if f is not None:
            out.append(f(*_draw_counts(idx, p.n)))
        else:
            out.append(np.array([_score_full(p, i) for i in idx]))
    return np.concatenate(out)


def bootstrap_ci(result: dict, level: float = 0.95, n_resamples: int = 1000, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of a result's primary test metric over its test items.

    Resamples where the metric is undefined are dropped; (NaN, NaN) when none is left.
    """
    if not 0.0 < level < 1.0:
        raise ComparisonError(f"level must lie in (0, 1), got {level}")
    values = bootstrap_scores(result, n_resamples, seed)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return float("nan"), float("nan")
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def bootstrap_deltas(result_a: dict, result_b: dict, n_resamples: int = DEFAULT_RESAMPLES,
                     seed: int = 0) -> np.ndarray:
    """score_a - score_b on each paired resample of ``resample_indices`` (NaN where the metric is undefined)."""
    wa, wb = _describe(result_a), _describe(result_b)
    pa, pb = _preds(result_a, wa), _preds(result_b, wb)
    _check_pair(result_a, result_b, pa, pb, wa, wb)
    return _bootstrap_deltas(pa, pb, _score_full(pa), _score_full(pb), int(n_resamples), seed)


def _swap_masks(n: int, n_resamples: int, rng: np.random.Generator):
    """Chunks of swap patterns (True: exchange A's and B's predictions of that item); all 2**n when few."""
    exact = n <= 62 and 2 ** n <= n_resamples
    if exact:
        codes = np.arange(2 ** n, dtype=np.int64)
        for start in range(0, codes.size, max(1, _CHUNK_ELEMENTS // max(n, 1))):
            part = codes[start:start + max(1, _CHUNK_ELEMENTS // max(n, 1))]
            yield ((part[:, None] >> np.arange(n)) & 1).astype(bool)
        return
    for c in _chunks(n_resamples, n):
        yield rng.random((c, n)) < 0.5


def permutation_pvalue(pa: _Preds, pb: _Preds, delta: float, n_resamples: int, seed: int) -> float:
    """Two-sided paired permutation p-value of the observed delta (see module docstring)."""
    n = pa.n
    rng = np.random.default_rng([seed, 1])  # independent of the bootstrap stream of the same seed
    exact = n <= 62 and 2 ** n <= n_resamples
    tol = 1e-10 * max(abs(delta), 1e-300)
    if pa.metric in _ADDITIVE:
        if pa.metric == "accuracy":
            la = np.mean([(yp == pa.y_true) for yp in pa.y_pred], axis=0)
            lb = np.mean([(yp == pb.y_true) for yp in pb.y_pred], axis=0)
        else:
            la = np.mean([np.abs(yp - pa.y_true) for yp in pa.y_pred], axis=0)
            lb = np.mean([np.abs(yp - pb.y_true) for yp in pb.y_pred], axis=0)
        d = la - lb  # a swap of item i flips the sign of its contribution to delta

        def stats_of(M):
            return (np.where(M, -d, d)).mean(axis=1)
    else:
        if len(pa.y_pred) != len(pb.y_pred):
            raise ComparisonError(f"{pa.task}: the permutation test of {pa.metric} swaps predictions seed by seed "
                                  f"and needs equal seed counts ({len(pa.y_pred)} vs {len(pb.y_pred)}); "
                                  "use the bootstrap")
        f = _rowwise_seed(pa.task_type, pa.metric, pa.y_true)
        if f is not None:
            check = np.mean([f(yp[None, :], None if ys is None else ys[None, :])[0]
                             for yp, ys in zip(pa.y_pred, pa.y_score, strict=True)])
            if not _close(float(check), _score_full(pa)):
                f = None

        def swapped(M, mine, other):
            if mine is None or other is None:
                return None
            m = M if mine.ndim == 1 else M[:, :, None]
            return np.where(m, other, mine)

        def stats_of(M):
            ta, tb = [], []
            for ya, sa, yb, sb in zip(pa.y_pred, pa.y_score, pb.y_pred, pb.y_score, strict=True):
                Pa, Pb = np.where(M, yb, ya), np.where(M, ya, yb)
                Sa, Sb = swapped(M, sa, sb), swapped(M, sb, sa)
                if f is not None:
                    ta.append(f(Pa, Sa))
                    tb.append(f(Pb, Sb))
                else:
                    ta.append(np.array([_seed_score(pa, Pa[r], None if Sa is None else Sa[r]) for r in range(len(M))]))
                    tb.append(np.array([_seed_score(pb, Pb[r], None if Sb is None else Sb[r]) for r in range(len(M))]))
            with np.errstate(all="ignore"):
                return np.mean(ta, axis=0) - np.mean(tb, axis=0)

    hits = total = 0
    for M in _swap_masks(n, n_resamples, rng):
        t = stats_of(M)
        t = t[np.isfinite(t)]
        hits += int(np.sum(np.abs(t) >= abs(delta) - tol))
        total += t.size
    if total == 0:
        return float("nan")
    return float(hits / total) if exact else float((1 + hits) / (total + 1))


def _seed_score(p: _Preds, y_pred: np.ndarray, y_score: np.ndarray | None) -> float:
    """One seed's metric through metrics.compute_metric (slow path of the permutation test)."""
    from .metrics import compute_metric

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            return float(compute_metric(p.metric, p.y_true, y_pred, y_score))
        except (ValueError, ZeroDivisionError):
            return float("nan")


# --------------------------------------------------------------------------- paired test


def paired_test(result_a: dict, result_b: dict, method: str = "bootstrap", n_resamples: int = DEFAULT_RESAMPLES,
                seed: int = 0, alpha: float = 0.05, *, labels: tuple[str, str] | None = None,
                where: tuple[str, str] | None = None) -> PairedComparison:
    """Test result A against result B on their shared test items (see the module docstring).

    ``labels``: display names of A and B (default: encoder names); ``where``: how to name them in
    errors (default: encoder name and config; ``lsdbench compare`` passes file paths).
    """
    from .metrics import higher_is_better

    if method not in METHODS:
        raise ComparisonError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if int(n_resamples) < 1:
        raise ComparisonError("n_resamples must be at least 1")
    if not 0.0 < alpha < 1.0:
        raise ComparisonError(f"alpha must lie in (0, 1), got {alpha}")
    n_resamples = int(n_resamples)
    wa, wb = where or (_describe(result_a), _describe(result_b))
    pa, pb = _preds(result_a, wa), _preds(result_b, wb)
    _check_pair(result_a, result_b, pa, pb, wa, wb)
    la, lb = labels or (pa.label, pb.label)
    if method == "mcnemar":
        if pa.task_type not in CLASSIFICATION or pa.metric != "accuracy":
            raise ComparisonError(f"{pa.task}: McNemar's test compares accuracies, but the primary metric is "
                                  f"{pa.metric}; use --method bootstrap or permutation")
        if len(pa.y_pred) != 1 or len(pb.y_pred) != 1:
            raise ComparisonError(f"{pa.task}: McNemar's test needs one seed per result ({len(pa.y_pred)} and "
                                  f"{len(pb.y_pred)} given); use --method bootstrap or permutation")

    score_a, score_b = _score_full(pa), _score_full(pb)
    delta = score_a - score_b
    deltas = _bootstrap_deltas(pa, pb, score_a, score_b, n_resamples, seed)
    finite = deltas[np.isfinite(deltas)]
    if finite.size < len(deltas):
        log.warning("%s: %d of %d resamples left %s undefined and were dropped", pa.task,
                    len(deltas) - finite.size, len(deltas), pa.metric)
    if finite.size:
        ci_low, ci_high = (float(v) for v in np.quantile(finite, [alpha / 2, 1 - alpha / 2]))
    else:
        ci_low = ci_high = float("nan")
    tol = 1e-12 * max(1.0, abs(score_a), abs(score_b))
    if method == "bootstrap":
        p = bootstrap_pvalue(finite, tol)
    elif method == "mcnemar":
        p = mcnemar_exact(pa.y_pred[0] == pa.y_true, pb.y_pred[0] == pb.y_true)
    else:
        p = permutation_pvalue(pa, pb, delta, n_resamples, seed)
    hib = bool(higher_is_better(pa.metric))
    better = bool(delta > tol) if hib else bool(delta < -tol)
    return PairedComparison(task=pa.task, metric=pa.metric, a=la, b=lb, score_a=score_a, score_b=score_b,
                            delta=float(delta), ci_low=ci_low, ci_high=ci_high, p_value=float(p), method=method,
                            n_items=pa.n, better=better, probe=pa.probe, ci_level=1 - alpha,
                            n_resamples=n_resamples, seed=int(seed))


def verdict(comparison: PairedComparison, p_adjusted: float, alpha: float = 0.05) -> str:
    """'better' / 'worse' (A relative to B) when the adjusted p is below alpha, else 'not distinguishable'."""
    if not p_adjusted < alpha:  # also NaN
        return "not distinguishable"
    return "better" if comparison.better else "worse"


def group_key(result: dict) -> tuple[str, str]:
    """Results are compared within one task and probe."""
    return str(result["task"]["name"]), str(result.get("probe", {}).get("name", ""))


def disambiguated_labels(results: Sequence[dict], sources: Sequence[str] | None = None) -> list[str]:
    """Encoder names, plus the config entries that differ (``lsd[t=0.1]``) where names repeat within a
    task and probe, plus the source (file) or position where even that is not unique."""
    labels = [result_label(r) for r in results]
    groups: dict[tuple, list[int]] = {}
    for i, r in enumerate(results):
        groups.setdefault((group_key(r), labels[i]), []).append(i)
    for members in groups.values():
        if len(members) < 2:
            continue
        configs = [results[i].get("encoder", {}).get("config") or {} for i in members]
        keys = sorted({k for c in configs for k in c})
        differing = [k for k in keys if len({repr(c.get(k)) for c in configs}) > 1]
        for i, c in zip(members, configs, strict=True):
            if differing:
                labels[i] += "[" + ",".join(f"{k}={c.get(k)}" for k in differing) + "]"
        seen: dict[str, int] = {}
        for i in members:
            seen[labels[i]] = seen.get(labels[i], 0) + 1
        for i in members:
            if seen[labels[i]] > 1:
                labels[i] += f" ({sources[i]})" if sources else f" #{i}"
    return labels


def _pick_reference(members: list[int], results, labels, sources, reference) -> int | None:
    if reference is None:
        return members[0]
    if isinstance(reference, (int, np.integer)) and not isinstance(reference, bool):
        return int(reference) if int(reference) in members else None
    ref = str(reference)
    matches = []
    for i in members:
        enc = results[i].get("encoder", {})
        names = {labels[i], str(enc.get("name")), str(enc.get("spec"))}
        if sources:
            names |= {str(sources[i])}
        if ref in names:
            matches.append(i)
    if len(matches) > 1:
        task, probe = group_key(results[members[0]])
        raise ComparisonError(f"reference {ref!r} matches {len(matches)} results of {task} ({probe}): "
                              + ", ".join(labels[i] for i in matches) + "; name one of these instead")
    return matches[0] if matches else None


def compare_many(results: Sequence[dict], reference: str | int | None = None, method: str = "bootstrap",
                 correction: str = "holm", alpha: float = 0.05, n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0,
                 *, labels: Sequence[str] | None = None, sources: Sequence[str] | None = None) -> list[PairedComparison]:
    """Compare a reference result with every other result of the same task and probe.

    Within each (task, probe) group the reference is A and every other result in turn is B, in input
    order. ``reference``: None (the first result of each group), an index into ``results``, or a name
    matched against the display label, encoder name, encoder spec or source; groups without it are
    skipped. All comparisons returned form one family for ``correction``; each carries ``p_adjusted``
    and a verdict at ``alpha``.
    """
    if correction not in CORRECTIONS:
        raise ComparisonError(f"unknown correction {correction!r}; choose one of {', '.join(CORRECTIONS)}")
    results = list(results)
    if sources is not None and len(sources) != len(results):
        raise ValueError("sources must name every result")
    labels = list(labels) if labels is not None else disambiguated_labels(results, sources)
    groups: dict[tuple[str, str], list[int]] = {}
    for i, r in enumerate(results):
        try:
            groups.setdefault(group_key(r), []).append(i)
        except (KeyError, TypeError):
            raise ComparisonError(f"{sources[i] if sources else f'result #{i}'}: not an lsdbench result") from None
    tests: list[PairedComparison] = []
    found_reference = False
    for members in groups.values():
        ref = _pick_reference(members, results, labels, sources, reference)
        if ref is None:
            continue
        found_reference = True
        for j in members:
            if j == ref:
                continue
            where = (f"{labels[ref]} ({sources[ref]})", f"{labels[j]} ({sources[j]})") if sources else None
            test = paired_test(results[ref], results[j], method=method, n_resamples=n_resamples, seed=seed,
                               alpha=alpha, labels=(labels[ref], labels[j]), where=where)
            if sources:
                test = replace(test, source_a=str(sources[ref]), source_b=str(sources[j]))
            tests.append(test)
    if reference is not None and not found_reference:
        raise ComparisonError(f"reference {reference!r} matches none of the results")
    adjusted = adjust([t.p_value for t in tests], method=correction) if tests else []
    return [replace(t, p_adjusted=float(p), verdict=verdict(t, float(p), alpha)) for t, p in zip(tests, adjusted, strict=True)]
