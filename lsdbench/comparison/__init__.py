"""Stage 5, comparison: results of several encoders in; paired tests, verdicts and re-testable claims out.

``compare`` (the ``lsdbench compare`` command and Python function) and the entries file's
``hypotheses``, both built on :mod:`lsdbench.stats`.
"""

from lsdbench import lazy_exports

_EXPORTS = {
    "Hypothesis": "lsdbench.comparison.hypotheses",
    "check_hypotheses": "lsdbench.comparison.hypotheses",
    "summarize": "lsdbench.comparison.hypotheses",
    "write_report": "lsdbench.comparison.hypotheses",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
