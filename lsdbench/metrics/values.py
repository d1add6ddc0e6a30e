"""Score values as results store them; imports nothing heavy, so reading a result stays cheap."""

from __future__ import annotations

import math


def finite(scores: dict[str, float]) -> dict[str, float]:
    """Drop undefined (NaN) metrics: the schema stores only defined values."""
    return {k: float(v) for k, v in scores.items() if v is not None and math.isfinite(v)}
