"""Stage 3, probe: embeddings and labels in; a fitted probe's test predictions, scores and bootstrap CI out.

Probes follow scikit-learn's estimator API (``probes``); fits are cached by content (``cache``).
"""

from lsdbench import lazy_exports

_EXPORTS = {
    "LinearProbe": "lsdbench.probe.probes",
    "MLPProbe": "lsdbench.probe.probes",
    "PROBES": "lsdbench.probe.probes",
    "fit_and_score": "lsdbench.probe.probing",
    "ProbeOutcome": "lsdbench.probe.probing",
    "bootstrap_ci": "lsdbench.probe.probing",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
