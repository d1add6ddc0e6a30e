"""Modules that can be called like their main function.

``lsdbench.evaluate`` is both a module (``lsdbench.evaluate.evaluate``, as older code and the docs use
it) and the name users expect for the function (``from lsdbench import evaluate``). A package
attribute cannot be both, so the module itself is made callable; the same holds for ``compare`` and
``sweep``.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable


class _CallableModule(types.ModuleType):
    def __call__(self, *args, **kwargs):
        return self.__lsdbench_call__(*args, **kwargs)


def make_callable(module_name: str, function: Callable) -> None:
    """Calling the module ``module_name`` calls ``function`` (its docstring becomes the module's help)."""
    module = sys.modules[module_name]
    module.__class__ = _CallableModule
    module.__lsdbench_call__ = function
