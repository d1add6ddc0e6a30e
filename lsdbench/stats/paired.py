"""Paired significance test of result A against result B on the same test items (``paired_test``).

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
    classification tasks whose primary metric is accuracy, one seed per result, independent items.

- Clusters: where the results record ``predictions.clusters`` (units items share: a pair's proteins),
  the bootstrap resamples units (multi-way cluster bootstrap) and the permutation test swaps whole
  connected components (``stats.clusters``); ``n_clusters`` / ``n_components`` say how many there were
  (absent: items resampled one by one).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from lsdbench.metrics.registry import higher_is_better
from lsdbench.stats.elementary import bootstrap_pvalue, mcnemar_exact
from lsdbench.stats.predictions import (
    CLASSIFICATION,
    ComparisonError,
    _check_pair,
    _describe,
    _preds,
    _score_full,
    shared_clusters,
)
from lsdbench.stats.resampling import DEFAULT_RESAMPLES, _bootstrap_deltas, permutation_pvalue
from lsdbench.stats.significance import METHODS  # noqa: F401  (re-exported)

log = logging.getLogger(__name__)



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
    n_clusters: int | None = None  # bootstrap units where items share them (proteins); None: items
    n_components: int | None = None  # the permutation test's swap units then

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if out["n_clusters"] is None:  # item resampling: rows as they always were
            del out["n_clusters"], out["n_components"]
        return out


def paired_test(result_a: dict, result_b: dict, method: str = "bootstrap", n_resamples: int = DEFAULT_RESAMPLES,
                seed: int = 0, alpha: float = 0.05, *, labels: tuple[str, str] | None = None,
                where: tuple[str, str] | None = None) -> PairedComparison:
    """Test result A against result B on their shared test items (see the module docstring).

    ``labels``: display names of A and B (default: encoder names); ``where``: how to name them in
    errors (default: encoder name and config; ``lsdbench compare`` passes file paths).
    """
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
    clusters = shared_clusters(pa, pb, wa, wb)
    if method == "mcnemar":
        if pa.task_type not in CLASSIFICATION or pa.metric != "accuracy":
            raise ComparisonError(f"{pa.task}: McNemar's test compares accuracies, but the primary metric is "
                                  f"{pa.metric}; use --method bootstrap or permutation")
        if len(pa.y_pred) != 1 or len(pb.y_pred) != 1:
            raise ComparisonError(f"{pa.task}: McNemar's test needs one seed per result ({len(pa.y_pred)} and "
                                  f"{len(pb.y_pred)} given); use --method bootstrap or permutation")
        if clusters is not None:
            raise ComparisonError(f"{pa.task}: McNemar's test takes items as independent, but its items share "
                                  "proteins; use --method bootstrap or permutation (they resample clusters)")

    score_a, score_b = _score_full(pa), _score_full(pb)
    delta = score_a - score_b
    deltas = _bootstrap_deltas(pa, pb, score_a, score_b, n_resamples, seed, clusters)
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
        p = permutation_pvalue(pa, pb, delta, n_resamples, seed, clusters)
    hib = bool(higher_is_better(pa.metric))
    better = bool(delta > tol) if hib else bool(delta < -tol)
    return PairedComparison(task=pa.task, metric=pa.metric, a=la, b=lb, score_a=score_a, score_b=score_b,
                            delta=float(delta), ci_low=ci_low, ci_high=ci_high, p_value=float(p), method=method,
                            n_items=pa.n, better=better, probe=pa.probe, ci_level=1 - alpha,
                            n_resamples=n_resamples, seed=int(seed),
                            n_clusters=None if clusters is None else clusters.k,
                            n_components=None if clusters is None else clusters.n_components)
