"""The floor plan: one sub-package per stage of the flow, imports running one way, no import circle.

Every import is read from the source (module level, inside functions and under TYPE_CHECKING alike),
so a lazy import cannot hide a wrong-way dependency.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Foundation first, then the stages in the order data flows through them. A module may import from its
# own layer and from layers before it, never from one after it.
LAYERS = ["base", "metrics", "stats", "tasks", "encode", "probe", "results", "comparison", "leaderboard",
          "run", "cli"]


def _modules(package: str) -> dict[str, Path]:
    out = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _resolve(name: str, known: dict[str, Path]) -> str | None:
    """The module a dotted import target lands in (a package's lazy export resolves to its module)."""
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str, path: Path, known: dict[str, Path]) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_pkg = path.name == "__init__.py"
    targets = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_pkg else 0)]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                if full in known:
                    targets.add(full)
                    continue
                exports = _lazy_exports(base, known)
                targets.add(exports.get(alias.name, base))
    return {t for t in (_resolve(t, known) for t in targets) if t and t != module}


def _lazy_exports(package: str, known: dict[str, Path]) -> dict[str, str]:
    if package not in known or known[package].name != "__init__.py":
        return {}
    return dict(getattr(importlib.import_module(package), "_EXPORTS", {}))


def _graph(package: str) -> dict[str, set[str]]:
    known = _modules(package)
    return {m: _imports(m, p, known) for m, p in known.items()}


def _layer(module: str) -> str:
    parts = module.split(".")
    if module == "lsdbench.__main__":
        return "cli"  # `python -m lsdbench`: an entry point like the command line
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in LAYERS) else "base"


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_every_lsdbench_sub_package_is_a_known_layer():
    packages = {p.name for p in (ROOT / "lsdbench").iterdir() if (p / "__init__.py").exists()}
    assert packages == set(LAYERS[1:]), "a new sub-package needs its place in LAYERS (and docs/architecture.md)"


@pytest.mark.parametrize(("package", "limit"), [("lsdbench", 10), ("reference_models", 5)])
def test_few_top_level_modules_beside_the_sub_packages(package, limit):
    top = sorted(p.name for p in (ROOT / package).glob("*.py"))
    assert len(top) <= limit, top


def test_imports_run_one_way_down_the_flow():
    wrong = []
    for module, targets in _graph("lsdbench").items():
        for target in targets:
            if not target.startswith("lsdbench"):
                continue
            if LAYERS.index(_layer(target)) > LAYERS.index(_layer(module)):
                wrong.append(f"{module} ({_layer(module)}) imports {target} ({_layer(target)})")
    assert not wrong, "\n".join(sorted(wrong))


def test_lsdbench_never_imports_the_models_that_plug_into_it():
    for module, path in _modules("lsdbench").items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                assert name.split(".")[0] not in {"baselines", "reference_models"}, f"{module} imports {name}"


@pytest.mark.parametrize("package", ["lsdbench", "reference_models"])
def test_no_import_circle(package):
    graph = {m: {t for t in ts if t.startswith(package)} for m, ts in _graph(package).items()}
    assert _cycles(graph) == []


def test_the_direction_check_catches_a_wrong_way_import(tmp_path):
    # the check itself: a stage importing a later stage is reported
    assert LAYERS.index(_layer("lsdbench.tasks.registry")) < LAYERS.index(_layer("lsdbench.run.benchmark"))
    assert _layer("lsdbench.errors") == "base" and _layer("lsdbench.stats") == "stats"
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]


def test_old_module_paths_still_import_with_a_warning():
    import sys

    sys.modules.pop("lsdbench.embed_cache", None)
    with pytest.warns(DeprecationWarning, match="lsdbench.embed_cache moved to lsdbench.encode.cache"):
        old = importlib.import_module("lsdbench.embed_cache")
    assert old is importlib.import_module("lsdbench.encode.cache")
    import lsdbench

    assert callable(lsdbench.evaluate) and lsdbench.evaluate.evaluate is lsdbench.run.evaluate.evaluate
