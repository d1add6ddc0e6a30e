"""The selection noise of a sweep's level (lsdbench.run.selection) on synthetic levels with known order."""

from __future__ import annotations

import numpy as np

from lsdbench.run.selection import best_on_test, chosen_shares


def level(y, quality: float, rng, n_valid: int) -> dict:
    """A result-like mapping whose test predictions agree with ``y`` on about ``quality`` of the items."""
    pred = np.where(rng.random(len(y)) < quality, y, 1 - y)
    return {"task": {"type": "binary", "primary_metric": "accuracy", "sizes": {"valid": n_valid}},
            "scores": {"test": {"accuracy": float(np.mean(pred == y))}},
            "predictions": {"y_true": y.tolist(), "per_seed": [{"seed": 0, "y_pred": pred.tolist()}]}}


def test_a_clear_winner_is_chosen_almost_always_and_close_levels_split_the_choice():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 2000)
    clear = [level(y, q, rng, n_valid=500) for q in (0.6, 0.95, 0.7)]
    shares = chosen_shares(clear, n_draws=100)
    assert best_on_test(clear) == 1 and shares[1] >= 0.99 and abs(sum(shares) - 1) < 1e-12
    close = [level(y, q, rng, n_valid=100) for q in (0.80, 0.81, 0.80)]
    shares = chosen_shares(close, n_draws=200)
    assert max(shares) < 0.8 and sum(s > 0.1 for s in shares) >= 2  # a 100-item pick cannot tell them apart
    assert chosen_shares(close, n_draws=200) == shares  # seeded: the same shares every time
