"""lsdbench: benchmark suite and evaluation harness for protein sequence representations.

The Python API (imported lazily, so ``import lsdbench`` stays cheap)::

    from lsdbench import evaluate, compare, read_results
    results = evaluate(MyEncoder(), ["metal_ion_binding"])   # Results: print(results), results.to_dataframe()
    tables = compare(["leaderboard/submissions/aac.open.json", "results/"])
"""

__version__ = "0.1.0"
PROTOCOL = "lsdbench-probe-1"

# name -> module that defines it; submodules named here are callable (see lsdbench._callable)
_LAZY = {
    "evaluate": None,
    "compare": None,
    "sweep": None,
    "Result": "lsdbench.results",
    "Results": "lsdbench.result_set",
    "read_results": "lsdbench.result_set",
    "list_encoders": "lsdbench.encoder_info",
    "describe_encoder": "lsdbench.encoder_info",
}

__all__ = ["PROTOCOL", "__version__", *_LAZY]


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'lsdbench' has no attribute {name!r}")
    import importlib

    if _LAZY[name] is None:
        return importlib.import_module(f"lsdbench.{name}")
    return getattr(importlib.import_module(_LAZY[name]), name)
