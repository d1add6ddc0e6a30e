"""Paired resampling of test items: the bootstrap stream behind every interval and p-value
(``resample_indices``) and the permutation test's swaps.

Where a result records ``predictions.clusters`` (units items share: a pair task's proteins,
``tasks.pairs.protein_clusters``), the bootstrap draws units, not items, and the permutation test swaps
whole connected components (``stats.clusters``). Results without clusters are resampled item by item,
as they always were.

- ``bootstrap_scores`` / ``bootstrap_ci``: one result's primary metric over the same resample stream
  (the leaderboard's CIs; equal to the ``test_ci`` that ``probing`` stores for the same seed).
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from lsdbench.stats.clusters import Clusters
from lsdbench.stats.predictions import (
    ComparisonError,
    _check_pair,
    _describe,
    _Preds,
    _preds,
    _score_full,
    _seed_score,
    shared_clusters,
)
from lsdbench.stats.significance import DEFAULT_RESAMPLES  # noqa: F401  (re-exported)
from lsdbench.stats.weighted import _mean_item_values, _rows_scorer, _weighted_scorer

_CHUNK_ELEMENTS = 1 << 20  # resamples x items per batch: bounds memory (~8 MB per float array)


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


def cluster_resample_weights(clusters: Clusters, n_resamples: int, seed: int):
    """Batches of multi-way cluster-bootstrap item weights (resamples x items): the ``k`` units drawn
    with replacement from ``default_rng(seed)`` (the stream of ``resample_indices(k, ...)``), each item
    weighted by the product of its units' draw counts (``Clusters.weights``)."""
    for idx in resample_indices(clusters.k, n_resamples, seed):
        yield clusters.weights(_draw_counts(idx, clusters.k)[0])


def _index_batches(p: _Preds, n_resamples: int, seed: int, clusters: Clusters | None):
    """Resamples as item index rows (an item repeated as often as its weight): the slow path's form."""
    if clusters is None:
        return resample_indices(p.n, n_resamples, seed)
    items = np.arange(p.n)
    return ([np.repeat(items, w.astype(np.int64)) for w in W]
            for W in cluster_resample_weights(clusters, n_resamples, seed))


def _draw_counts(idx: np.ndarray, n: int) -> tuple[np.ndarray, dict]:
    """Resamples as a count matrix W (resamples x items: how often each item was drawn) and its cache."""
    c = len(idx)
    flat = (idx + (np.arange(c) * n)[:, None]).ravel()
    W = np.bincount(flat, minlength=c * n).reshape(c, n).astype(np.float64)
    return W, {"N": np.full(c, float(n))}


# The count matrices of one (n, n_resamples, seed) stream, kept as uint16 (counts never exceed n):
# a sweep, a leaderboard build and the probe cache's checks draw the same stream for every result of
# a task, and drawing it (rng + bincount) costs as much as the metric itself. Exact: the float64 W of
# a batch is the same whether drawn now or converted from the kept counts.
# Each batch keeps its metric cache too (e.g. the labels' ranks), which the metrics key by content.
_COUNTS: OrderedDict[tuple, list[tuple[np.ndarray, dict]]] = OrderedDict()
COUNTS_STREAMS = 8  # least recently used streams are dropped beyond this (a suite has ~5 test sizes)


def _weighted_batches(n: int, n_resamples: int, seed: int, clusters: Clusters | None = None):
    """``_draw_counts`` of each batch of ``resample_indices(n, n_resamples, seed)`` (or, given clusters,
    the cluster bootstrap's item weights), drawn once per process."""
    if clusters is None:
        key, draw = (n, n_resamples, seed), (_draw_counts(idx, n) for idx in resample_indices(n, n_resamples, seed))
    else:
        key = (n, n_resamples, seed, clusters.key)
        draw = ((W, {"N": W.sum(axis=1)}) for W in cluster_resample_weights(clusters, n_resamples, seed))
    kept = _COUNTS.get(key)
    if kept is None:
        if n > np.iinfo(np.uint16).max or clusters is not None:  # product weights can exceed uint16: not kept
            yield from draw
            return
        kept = [(W.astype(np.uint16), cache) for W, cache in draw]
        _COUNTS[key] = kept
        while len(_COUNTS) > COUNTS_STREAMS:
            _COUNTS.popitem(last=False)
    _COUNTS.move_to_end(key)
    for counts, cache in kept:
        yield counts.astype(np.float64), cache


def _bootstrap_deltas(pa: _Preds, pb: _Preds, score_a: float, score_b: float, n_resamples: int,
                      seed: int, clusters: Clusters | None = None) -> np.ndarray:
    n = pa.n
    fa, fb = _weighted_scorer(pa, score_a), _weighted_scorer(pb, score_b)
    if fa is not None and fb is not None:
        return np.concatenate([fa(W, cache) - fb(W, cache)
                               for W, cache in _weighted_batches(n, n_resamples, seed, clusters)])
    out = []
    for idx in _index_batches(pa, n_resamples, seed, clusters):
        out.append(np.array([_score_full(pa, i) - _score_full(pb, i) for i in idx]))
    return np.concatenate(out)


def bootstrap_scores(result: dict, n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> np.ndarray:
    """One result's primary metric on each bootstrap resample of its test items (NaN where undefined).

    The resamples are those of ``resample_indices`` (the stream ``probing.bootstrap_ci`` draws too), so
    the percentiles reproduce a result's own ``test_ci`` given the same seed and resample count. A result
    that records ``predictions.clusters`` is resampled cluster by cluster.
    """
    p = _preds(result, _describe(result))
    f = _weighted_scorer(p, _score_full(p))
    if f is not None:
        return np.concatenate([f(W, cache) for W, cache in
                               _weighted_batches(p.n, int(n_resamples), seed, p.clusters)])
    return np.concatenate([np.array([_score_full(p, i) for i in idx])
                           for idx in _index_batches(p, int(n_resamples), seed, p.clusters)])


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
    return _bootstrap_deltas(pa, pb, _score_full(pa), _score_full(pb), int(n_resamples), seed,
                             shared_clusters(pa, pb, wa, wb))


def _swap_masks(n: int, n_resamples: int, rng: np.random.Generator):
    """Chunks of swap patterns (True: exchange A's and B's predictions of that unit, an item or a
    cluster); all 2**n when few."""
    exact = n <= 62 and 2 ** n <= n_resamples
    if exact:
        codes = np.arange(2 ** n, dtype=np.int64)
        for start in range(0, codes.size, max(1, _CHUNK_ELEMENTS // max(n, 1))):
            part = codes[start:start + max(1, _CHUNK_ELEMENTS // max(n, 1))]
            yield ((part[:, None] >> np.arange(n)) & 1).astype(bool)
        return
    for c in _chunks(n_resamples, n):
        yield rng.random((c, n)) < 0.5


def _additive_statistic(la: np.ndarray, lb: np.ndarray):
    """Deltas of an additive metric (a mean of per-item values) under swap masks M."""
    d = la - lb  # a swap of item i flips the sign of its contribution to delta
    return lambda M: (np.where(M, -d, d)).mean(axis=1)


def _swapped(M, mine, other):
    if mine is None or other is None:
        return None
    m = M if mine.ndim == 1 else M[:, :, None]
    return np.where(m, other, mine)


def _rescored_statistic(pa: _Preds, pb: _Preds):
    """Deltas under swap masks M, rescoring each swapped row (seed by seed) with the row-wise form of the
    metric, or one row at a time with the plain form where no row-wise form reproduces the score."""
    if len(pa.y_pred) != len(pb.y_pred):
        raise ComparisonError(f"{pa.task}: the permutation test of {pa.metric} swaps predictions seed by seed "
                              f"and needs equal seed counts ({len(pa.y_pred)} vs {len(pb.y_pred)}); "
                              "use the bootstrap")
    f = _rows_scorer(pa)

    def score(p: _Preds, P, S):
        if f is not None:
            return f(P, S)
        return np.array([_seed_score(p, P[r], None if S is None else S[r]) for r in range(len(P))])

    def stats_of(M):
        ta, tb = [], []
        for ya, sa, yb, sb in zip(pa.y_pred, pa.y_score, pb.y_pred, pb.y_score, strict=True):
            ta.append(score(pa, np.where(M, yb, ya), _swapped(M, sa, sb)))
            tb.append(score(pb, np.where(M, ya, yb), _swapped(M, sb, sa)))
        with np.errstate(all="ignore"):
            return np.mean(ta, axis=0) - np.mean(tb, axis=0)
    return stats_of


def permutation_pvalue(pa: _Preds, pb: _Preds, delta: float, n_resamples: int, seed: int,
                       clusters: Clusters | None = None) -> float:
    """Two-sided paired permutation p-value of the observed delta (see ``stats.paired``'s docstring);
    given ``clusters``, each swap exchanges A's and B's predictions of a whole connected component.

    Not ``scipy.stats.permutation_test``: its draws and its tie tolerance differ from this stream's, and
    the committed p-values come from this one.
    """
    n = pa.n if clusters is None else clusters.n_components
    rng = np.random.default_rng([seed, 1])  # independent of the bootstrap stream of the same seed
    exact = n <= 62 and 2 ** n <= n_resamples
    tol = 1e-10 * max(abs(delta), 1e-300)
    la, lb = _mean_item_values(pa), _mean_item_values(pb)
    stats_of = _additive_statistic(la, lb) if la is not None and lb is not None else _rescored_statistic(pa, pb)
    hits = total = 0
    for M in _swap_masks(n, n_resamples, rng):
        t = stats_of(M if clusters is None else M[:, clusters.components])
        t = t[np.isfinite(t)]
        hits += int(np.sum(np.abs(t) >= abs(delta) - tol))
        total += t.size
    if total == 0:
        return float("nan")
    return float(hits / total) if exact else float((1 + hits) / (total + 1))
