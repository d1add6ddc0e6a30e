"""lsdbench: benchmark suite and evaluation harness for protein sequence representations.

The Python API (imported lazily, so ``import lsdbench`` stays cheap)::

    from lsdbench import evaluate, compare, read_results
    results = evaluate(MyEncoder(), ["metal_ion_binding"])   # Results: print(results), results.to_dataframe()
    tables = compare(["leaderboard/submissions/aac.open.json", "results/"])

The package is laid out as the data flows, one sub-package per stage::

    tasks -> encode -> probe -> results -> comparison -> leaderboard      (run chains them; cli wraps run)

on a foundation of ``metrics`` (the metric registry), ``stats`` (resampling, paired tests, multiple
testing) and the base modules beside this file (errors, settings, atomic writes, types, names, strict
JSON, terminal output). A stage imports only from the foundation and from stages before it
(``tests/test_layout.py``).
"""

from __future__ import annotations

import importlib
import os as _os
import sys
import types as _types
import warnings

__version__ = "0.1.0"
LAUNCH_DIR = _os.getcwd()  # where relative paths from the environment (LSDBENCH_MIRROR) are taken from
PROTOCOL = "lsdbench-probe-1"

# name -> module that defines it (evaluate, compare and sweep are callable modules: _make_callable)
_LAZY = {
    "evaluate": "lsdbench.run.evaluate",
    "compare": "lsdbench.comparison.compare",
    "sweep": "lsdbench.run.sweep",
    "Result": "lsdbench.results.result",
    "Results": "lsdbench.results.result_set",
    "read_results": "lsdbench.results.result_set",
    "list_encoders": "lsdbench.encode.info",
    "describe_encoder": "lsdbench.encode.info",
}
_CALLABLE_MODULES = {"evaluate", "compare", "sweep"}

__all__ = ["PROTOCOL", "__version__", *_LAZY]


def lazy_exports(package: str, exports: dict[str, str]):
    """``__getattr__`` and ``__dir__`` for a package whose public names live in its modules.

    Sub-packages export their public names without importing them up front, so ``lsdbench --help``
    never pays for torch, scikit-learn or scipy."""

    def __getattr__(name: str):
        if name in exports:
            return getattr(importlib.import_module(exports[name]), name)
        if not name.startswith("_"):  # a module of the package, reached as an attribute
            from importlib.util import find_spec

            if find_spec(f"{package}.{name}") is not None:
                return importlib.import_module(f"{package}.{name}")
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__():
        return sorted(set(exports) | set(vars(sys.modules[package])))

    return __getattr__, __dir__


_SUBPACKAGES = {"tasks", "encode", "metrics", "stats", "probe", "results", "comparison", "leaderboard", "run", "cli"}


def __getattr__(name: str):
    if name in _SUBPACKAGES:  # lsdbench.comparison.compare without importing lsdbench.comparison first
        return importlib.import_module(f"lsdbench.{name}")
    if name not in _LAZY:
        raise AttributeError(f"module 'lsdbench' has no attribute {name!r}")
    module = importlib.import_module(_LAZY[name])
    return module if name in _CALLABLE_MODULES else getattr(module, name)


class _CallableModule(_types.ModuleType):
    def __call__(self, *args, **kwargs):
        return self.__lsdbench_call__(*args, **kwargs)


def _make_callable(module_name: str, function) -> None:
    """Calling the module ``module_name`` calls ``function``.

    ``lsdbench.evaluate`` is both the function users expect (``from lsdbench import evaluate``) and a
    module older code reaches into (``lsdbench.evaluate.evaluate``); a package attribute cannot be
    both, so the module itself is made callable. The same holds for ``compare`` and ``sweep``."""
    module = sys.modules[module_name]
    module.__class__ = _CallableModule
    module.__lsdbench_call__ = function


# Module paths before the sub-package layout (0.1.0), kept importable for one release with a warning.
_MOVED = {
    "registry": "tasks.registry", "task_sources": "tasks.sources", "task_pairs": "tasks.pairs",
    "task_splits": "tasks.splits", "cards": "tasks.cards", "card_format": "tasks.card_format",
    "card_fields": "tasks.card_fields", "card_types": "tasks.card_types", "formats": "tasks.formats",
    "record_formats": "tasks.record_formats", "fetch": "tasks.fetch", "safe_pickle": "tasks.safe_pickle",
    "labels": "tasks.labels", "sequences": "tasks.sequences", "task_info": "tasks.info",
    "encoders": "encode.encoders", "embedding": "encode.embedding", "embed_cache": "encode.cache",
    "shards": "encode.shards", "buckets": "encode.buckets", "batching": "encode.batching",
    "precision": "encode.precision", "cache_verify": "encode.cache_verify",
    "distributed": "encode.distributed", "cost": "encode.cost", "throughput": "encode.throughput",
    "encoder_info": "encode.info", "metrics_classification": "metrics.classification",
    "metrics_regression": "metrics.regression", "significance": "stats.significance",
    "probes": "probe.probes", "probing": "probe.probing", "probe_cache": "probe.cache",
    "loading": "results.loading", "result_set": "results.result_set", "hypotheses": "comparison.hypotheses",
    "benchmark": "run.benchmark", "publish": "run.publish", "entries": "run.entries", "plan": "run.plan",
    "pytest_plugin": "cli.pytest_plugin",
    # evaluate, compare and sweep stay importable as callable modules (above); lsdbench.metrics and
    # lsdbench.results are now packages that export the public names their modules had.
}


class _MovedModuleFinder:
    """Imports ``lsdbench.OLD`` as the module it moved to, with a DeprecationWarning."""

    @staticmethod
    def find_spec(fullname, path=None, target=None):
        prefix, _, old = fullname.partition(".")
        if prefix != "lsdbench" or old not in _MOVED and old not in _CALLABLE_MODULES:
            return None
        import importlib.util

        return importlib.util.spec_from_loader(fullname, _MovedModuleFinder)

    @staticmethod
    def create_module(spec):
        old = spec.name.partition(".")[2]
        new = _LAZY[old] if old in _CALLABLE_MODULES else "lsdbench." + _MOVED[old]
        if old not in _CALLABLE_MODULES:
            warnings.warn(f"{spec.name} moved to {new}; the old path goes in the next release",
                          DeprecationWarning, stacklevel=3)
        return importlib.import_module(new)

    @staticmethod
    def exec_module(module):
        pass


if not any(getattr(f, "__name__", "") == "_MovedModuleFinder" for f in sys.meta_path):
    sys.meta_path.append(_MovedModuleFinder)
