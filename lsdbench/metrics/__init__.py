"""Foundation, metrics: the one metric registry (a ``Metric`` per name: direction, task types, plain,
per-item, bootstrap and permutation forms) and the scoring API used by every stage.
"""

from lsdbench import lazy_exports

_EXPORTS = {
    "METRICS": "lsdbench.metrics.registry",
    "Metric": "lsdbench.metrics.registry",
    "compute_metric": "lsdbench.metrics.registry",
    "higher_is_better": "lsdbench.metrics.registry",
    "score_all": "lsdbench.metrics.registry",
    "score_predictions": "lsdbench.metrics.registry",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
