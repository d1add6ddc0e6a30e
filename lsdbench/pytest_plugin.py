"""pytest plugin (entry point ``pytest11``): evaluate encoders from pytest.

``pytest --lsdbench-encoder SPEC [--lsdbench-suite S] [--lsdbench-out DIR]`` adds one test per task of
the suite; a test fails with the encoder's own error when it misbehaves. Without explicit paths only
these evaluations run (name paths to run your own tests alongside). Fixtures for your own tests:

- ``lsdbench_task(name)`` -> a loaded :class:`lsdbench.types.Task`;
- ``lsdbench_evaluate(encoder, task, probe="linear", **options)`` -> a validated result dict
  (embeddings go through the cache, so evaluating a baseline twice costs one forward pass);
- ``lsdbench_assert_beats(result, baseline_result, alpha=0.05)`` -> asserts a significantly better
  primary metric on the same test items (paired bootstrap test) and returns the comparison.
"""

from __future__ import annotations

from pathlib import Path

import pytest


def pytest_addoption(parser):
    group = parser.getgroup("lsdbench", "protein representation benchmark")
    group.addoption("--lsdbench-encoder", action="append", default=[], metavar="SPEC",
                    help="encoder to evaluate (registered name, module:attr or path/file.py:attr); repeatable")
    group.addoption("--lsdbench-encoder-opt", action="append", default=[], metavar="KEY=VALUE",
                    help="keyword option for the encoder(s)")
    group.addoption("--lsdbench-suite", default="open", help="task suite (default: open)")
    group.addoption("--lsdbench-task", action="append", default=[], help="only these tasks")
    group.addoption("--lsdbench-probe", default="linear", choices=["linear", "mlp"])
    group.addoption("--lsdbench-out", default=None, help="directory for result files")


class EncoderTaskItem(pytest.Item):
    """One (encoder, task) evaluation."""

    def __init__(self, *, spec: str, task_name: str, **kwargs):
        super().__init__(**kwargs)
        self.spec, self.task_name = spec, task_name
        self.result = None

    def runtest(self):
        from .encoders import parse_options, resolve
        from .evaluate import evaluate_task
        from .registry import load_task
        from .results import result_filename, write_result

        opts = self.config.getoption("--lsdbench-encoder-opt")
        encoder = resolve(self.spec, **parse_options(opts))
        task = load_task(self.task_name, progress=False)
        probe = self.config.getoption("--lsdbench-probe")
        self.result = evaluate_task(encoder, task, probe=probe, spec=self.spec, progress=False)
        out = self.config.getoption("--lsdbench-out")
        if out:
            write_result(Path(out) / result_filename(encoder.name, encoder.config, task.name, probe), self.result)
        metric = task.card.primary_metric
        self.user_properties.append((metric, self.result["scores"]["test"][metric]))

    def repr_failure(self, excinfo):
        from .errors import USER_ERRORS

        if isinstance(excinfo.value, USER_ERRORS):
            return f"{self.spec} on {self.task_name}: {excinfo.value}"
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, None, f"lsdbench {self.spec} :: {self.task_name}"


def pytest_collection_modifyitems(session, config, items):
    specs = config.getoption("--lsdbench-encoder")
    if not specs:
        return
    from .registry import get_card, list_cards

    args_source = getattr(config, "args_source", None)
    if args_source is not None and args_source != pytest.Config.ArgsSource.ARGS and items:
        # `pytest --lsdbench-encoder X` with no paths evaluates X; the project's own tests run only
        # when paths are named explicitly.
        config.hook.pytest_deselected(items=list(items))
        items.clear()
    names = config.getoption("--lsdbench-task") or [c.name for c in list_cards(config.getoption("--lsdbench-suite"))]
    for spec in specs:
        for name in names:
            get_card(name)  # unknown task names fail collection with a clear message
            items.append(EncoderTaskItem.from_parent(session, name=f"lsdbench[{spec}-{name}]", spec=spec,
                                                     task_name=name))


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not config.getoption("--lsdbench-encoder"):
        return
    rows = [r for r in terminalreporter.stats.get("passed", []) if r.user_properties and "lsdbench[" in r.nodeid]
    if rows:
        terminalreporter.section("lsdbench scores")
        for report in rows:
            metric, value = report.user_properties[0]
            terminalreporter.write_line(f"{report.nodeid.split('lsdbench[')[-1].rstrip(']')}: {metric} = {value:.4f}")


@pytest.fixture
def lsdbench_task():
    from .registry import load_task

    def load(name: str):
        return load_task(name, progress=False)
    return load


@pytest.fixture
def lsdbench_evaluate():
    from .encoders import resolve
    from .evaluate import evaluate_task
    from .registry import load_task

    def run(encoder, task, probe: str = "linear", **options):
        enc = resolve(encoder, **options) if isinstance(encoder, str) else encoder
        loaded = load_task(task, progress=False) if isinstance(task, str) else task
        return evaluate_task(enc, loaded, probe=probe, spec=encoder if isinstance(encoder, str) else None,
                             progress=False)
    return run


@pytest.fixture
def lsdbench_assert_beats():
    from .stats import paired_test

    def check(result, baseline, alpha: float = 0.05, method: str = "bootstrap"):
        cmp = paired_test(result, baseline, method=method)
        name_a, name_b = result["encoder"]["name"], baseline["encoder"]["name"]
        metric = result["task"]["primary_metric"]
        assert cmp.better and cmp.p_value < alpha, (
            f"{name_a} does not beat {name_b} on {result['task']['name']} at alpha={alpha}: "
            f"{metric} {cmp.score_a:.4f} vs {cmp.score_b:.4f}, delta {cmp.delta:+.4f} "
            f"[{cmp.ci_low:+.4f}, {cmp.ci_high:+.4f}], p = {cmp.p_value:.3g}")
        return cmp
    return check
