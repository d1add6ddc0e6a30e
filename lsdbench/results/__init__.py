"""Stage 4, results: probe outcomes in; one validated JSON result per encoder x task x probe out.

The typed ``Result`` and its schema (``result``), and the readers of result files and folders
(``loading``, ``result_set``).
"""

from lsdbench import lazy_exports

_EXPORTS = {
    **{name: "lsdbench.results.result" for name in (
        "RESULT_SCHEMA", "Result", "ResultError", "config_hash", "read_result", "result_filename",
        "run_name", "schema", "validate_result", "write_result", "dumps_result")},
    "Results": "lsdbench.results.result_set",
    "read_results": "lsdbench.results.result_set",
    "load": "lsdbench.results.loading",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
