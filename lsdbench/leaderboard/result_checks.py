"""The checks of one submitted result against the task registry: test ids, labels, the shape of each
seed's predictions, y_pred following y_score, and every claimed score recomputed from the predictions
with the REGISTRY's labels. Each appends its findings to ``problems`` (a submission lists them all);
``validate`` runs them in order."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np

from lsdbench.metrics.registry import score_predictions

TOLERANCE = 1e-9  # relative and absolute: scores are recomputed with the same metric code
# lsdbench stores class probabilities rounded to 6 decimals but takes y_pred from the unrounded ones:
# rounding can turn a near-tie into a tie (either class is then accepted), never reverse an order
SCORE_TIE = 1e-9
MAX_LISTED = 5  # example ids named in one message


def examples(items) -> str:
    items = sorted(items)
    text = ", ".join(repr(i) for i in items[:MAX_LISTED])
    return text + (f" and {len(items) - MAX_LISTED} more" if len(items) > MAX_LISTED else "")


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=TOLERANCE, abs_tol=TOLERANCE)


def as_array(values, what: str, problems: list[str], ctx: str, *, n: int, width: int | None = None):
    """A float array of shape (n,) or (n, width), or None after recording why not."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        problems.append(f"{ctx}: {what} is not a list of numbers{' lists' if width else ''}")
        return None
    shape = (n,) if width is None else (n, width)
    if arr.shape != shape:
        problems.append(f"{ctx}: {what} has shape {arr.shape}, expected {shape} (one per test item)")
        return None
    if not np.all(np.isfinite(arr)):
        problems.append(f"{ctx}: {what} holds non-finite values")
        return None
    return arr


def check_seed_predictions(seed_pred: dict, task, ctx: str, problems: list[str], ids: list) -> bool:
    """Shapes and ranges of one seed's y_pred / y_score for the task type, then their agreement."""
    card, n = task.card, len(task.splits["test"])
    before = len(problems)
    y_score = None
    y_pred = as_array(seed_pred.get("y_pred"), "y_pred", problems, ctx, n=n)
    if y_pred is not None and card.type != "regression":
        k = card.n_classes
        if np.any(y_pred != np.round(y_pred)) or np.any(y_pred < 0) or np.any(y_pred >= k):
            problems.append(f"{ctx}: y_pred must hold class indices 0..{k - 1}")
    if "y_score" in seed_pred:
        if card.type == "regression":
            problems.append(f"{ctx}: y_score is not used for regression tasks (y_pred is the prediction)")
        else:
            width = card.n_classes if card.type == "multiclass" else None
            y_score = as_array(seed_pred["y_score"], "y_score", problems, ctx, n=n, width=width)
            if y_score is not None and (np.any(y_score < 0) or np.any(y_score > 1)):
                problems.append(f"{ctx}: y_score holds values outside [0, 1] (probabilities expected)")
    shapes_ok = len(problems) == before
    if shapes_ok and y_score is not None:  # a finding, not a shape problem: the scores are still checked
        check_pred_follows_score(y_pred, y_score, ids, ctx, problems)
    return shapes_ok


def check_pred_follows_score(y_pred: np.ndarray, y_score: np.ndarray, ids: list, ctx: str,
                              problems: list[str]) -> None:
    """y_pred must be the class y_score gives (argmax; binary: class 1 iff y_score > 0.5).

    Otherwise accuracy-type metrics and AUROC would score two different predictors in one entry.
    """
    proba = np.column_stack([1.0 - y_score, y_score]) if y_score.ndim == 1 else y_score
    chosen = proba[np.arange(len(y_pred)), y_pred.astype(int)]
    bad = np.flatnonzero(chosen < proba.max(axis=1) - SCORE_TIE)
    if bad.size:
        i = int(bad[0])
        shown = np.round(y_score[i], 6).tolist()  # the item as the file holds it
        problems.append(f"{ctx}: y_pred is not the class its y_score gives on {bad.size} items, first "
                        f"{ids[i]!r} (y_pred {int(y_pred[i])}, y_score {shown}); y_pred must be the most "
                        f"probable class (binary: 1 when y_score > 0.5)")


def check_split_hashes(meta: dict, task, ctx: str, problems: list[str]) -> None:
    expected_hashes = task.split_hashes()
    claimed = meta.get("split_hashes", {})
    for split in sorted(set(expected_hashes) | set(claimed)):
        if claimed.get(split) != expected_hashes.get(split):
            problems.append(f"{ctx}: split hash of {split!r} is {claimed.get(split)!r}, the registry's is "
                            f"{expected_hashes.get(split)!r} (results from other data cannot be ranked)")


def check_ids(ids: list, test, ctx: str, problems: list[str]) -> bool:
    """Whether ``ids`` are exactly the registry's test ids, each once (each way they are not is a problem)."""
    dup = [k for k, c in Counter(ids).items() if c > 1]
    if dup:
        problems.append(f"{ctx}: {len(dup)} test ids appear more than once: {examples(dup)}")
    missing, extra = set(test.ids) - set(ids), set(ids) - set(test.ids)
    if missing:
        problems.append(f"{ctx}: {len(missing)} of the registry's {len(test)} test ids have no prediction: "
                        f"{examples(missing)}")
    if extra:
        problems.append(f"{ctx}: {len(extra)} ids are not test items of the registry: {examples(extra)}")
    return not (dup or missing or extra)


def check_y_true(pred: dict, y_true: np.ndarray, task_type: str, n: int, ctx: str,
                  problems: list[str]) -> None:
    """The file's own y_true (optional) must equal the registry's labels, though only those are scored."""
    if "y_true" not in pred:
        return
    file_true = as_array(pred["y_true"], "predictions.y_true", problems, ctx, n=n)
    if file_true is None:
        return
    if task_type == "regression":
        bad = ~np.isclose(file_true, y_true, rtol=TOLERANCE, atol=0.0)
    else:
        bad = file_true != y_true
    if bad.any():
        problems.append(f"{ctx}: predictions.y_true differs from the registry's labels on "
                        f"{int(bad.sum())} items, e.g. {examples(np.asarray(pred['ids'])[bad].tolist())}")


def check_per_seed(pred: dict, task, ids: list, ctx: str, problems: list[str]) -> bool:
    """Seeds once each; whether every seed's predictions have usable shapes (checked up to the first not)."""
    seeds = [sp["seed"] for sp in pred["per_seed"]]
    if len(set(seeds)) != len(seeds):
        problems.append(f"{ctx}: predictions.per_seed repeats a seed: {seeds}")
    return all(check_seed_predictions(sp, task, f"{ctx} seed {sp['seed']}", problems, ids)
               for sp in pred["per_seed"])


def recompute(task_type: str, metric: str, y_true: np.ndarray, per_seed: list[dict], where: str,
               problems: list[str]) -> float | None:
    """``metric`` scored from the predictions and the registry's labels, or None after recording why not."""
    try:
        value = float(score_predictions(task_type, metric, y_true, per_seed))
    except Exception as exc:  # a metric that cannot be computed from these predictions is a finding
        problems.append(f"{where}: cannot recompute {metric!r} from the predictions: {exc}")
        return None
    return value


def check_test_scores(res: dict, card, y_true: np.ndarray, ctx: str, problems: list[str]) -> float | None:
    """Each claimed test score (over all seeds) against its recomputation; the recomputed primary score."""
    per_seed = res["predictions"]["per_seed"]
    test_scores = res["scores"].get("test", {})
    if card.primary_metric not in test_scores:
        problems.append(f"{ctx}: scores.test has no {card.primary_metric!r} (the task's primary metric)")
    primary = None
    for metric in sorted(test_scores):
        value = recompute(card.type, metric, y_true, per_seed, ctx, problems)
        if value is None:
            continue
        if metric == card.primary_metric:
            primary = value
        if not close(float(test_scores[metric]), value):
            problems.append(f"{ctx}: claims test {metric} {test_scores[metric]!r} but its predictions give "
                            f"{value!r} on the registry's labels")
    return primary


def check_seed_scores(res: dict, task_type: str, y_true: np.ndarray, ctx: str, problems: list[str]) -> None:
    """Each seed's claimed test scores against the scores recomputed from that seed's predictions."""
    by_seed = {sp["seed"]: sp for sp in res["predictions"]["per_seed"]}
    for entry in res.get("per_seed", []):
        seed_scores = entry.get("test", {}) if isinstance(entry, dict) else {}
        if not seed_scores:
            continue
        if entry.get("seed") not in by_seed:
            problems.append(f"{ctx}: per_seed claims test scores for seed {entry.get('seed')!r}, which has no "
                            f"predictions")
            continue
        for metric in sorted(seed_scores):
            where = f"{ctx} seed {entry['seed']}"
            value = recompute(task_type, metric, y_true, [by_seed[entry["seed"]]], where, problems)
            if value is not None and not close(float(seed_scores[metric]), value):
                problems.append(f"{ctx} seed {entry['seed']}: claims test {metric} {seed_scores[metric]!r} but "
                                f"its predictions give {value!r}")
