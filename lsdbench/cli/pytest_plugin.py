"""pytest plugin (entry point ``pytest11``): evaluate encoders from pytest.

``pytest --lsdbench-encoder SPEC [--lsdbench-encoder-opt K=V] [--lsdbench-suite S | --lsdbench-task T]
[--lsdbench-probe P] [--lsdbench-out DIR]`` adds one test per task; a test fails with the encoder's own
error when it misbehaves, and the summary lists each score with its 95 % CI. Without explicit paths only
these evaluations are collected (name paths to run your own tests alongside). Fixtures for your own tests:

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
                    help="keyword option for the encoder(s), JSON scalars decoded (e.g. dim=32); repeatable")
    group.addoption("--lsdbench-suite", default="open", help="task suite (default: open)")
    group.addoption("--lsdbench-task", action="append", default=[], metavar="TASK",
                    help="evaluate these tasks instead of the suite; repeatable")
    group.addoption("--lsdbench-probe", default="linear", choices=["linear", "mlp"],
                    help="probe (default: linear)")
    group.addoption("--lsdbench-out", default=None, metavar="DIR",
                    help="also write one result file per task here (default: none)")


class EncoderTaskItem(pytest.Item):
    """One (encoder, task) evaluation."""

    def __init__(self, *, spec: str, task_name: str, **kwargs):
        super().__init__(**kwargs)
        self.spec, self.task_name = spec, task_name
        self.result = None

    def runtest(self):
        from lsdbench.encode.encoders import parse_options, resolve
        from lsdbench.results.result import result_filename, write_result
        from lsdbench.run.evaluate import evaluate_task
        from lsdbench.tasks.registry import load_task

        opts = self.config.getoption("--lsdbench-encoder-opt")
        encoder = resolve(self.spec, **parse_options(opts))
        task = load_task(self.task_name, progress=False)
        probe = self.config.getoption("--lsdbench-probe")
        self.result = evaluate_task(encoder, task, probe=probe, spec=self.spec, progress=False)
        out = self.config.getoption("--lsdbench-out")
        if out:
            write_result(Path(out) / result_filename(encoder.name, encoder.config, task.name, probe), self.result)
        low, high = self.result.ci
        self.user_properties.append((self.result.metric, self.result.score, low, high))

    def repr_failure(self, excinfo):
        from lsdbench.errors import UserError

        if isinstance(excinfo.value, UserError):
            return f"{self.spec} on {self.task_name}: {excinfo.value}"
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, None, f"lsdbench {self.spec} :: {self.task_name}"


def _evaluations_only(config) -> bool:
    """`pytest --lsdbench-encoder X` with no paths evaluates X; the project's own tests run only when
    paths are named explicitly."""
    args_source = getattr(config, "args_source", None)
    return bool(config.getoption("--lsdbench-encoder")) and args_source is not None \
        and args_source != pytest.Config.ArgsSource.ARGS


def pytest_ignore_collect(collection_path, config):
    # not collected at all (rather than collected and deselected: "246 deselected" said nothing useful)
    return True if _evaluations_only(config) else None


class EvaluationsCollector(pytest.Collector):
    """The (encoder, task) items, collected like any test (so "collected N items" counts them)."""

    def collect(self):
        from lsdbench.errors import UserError
        from lsdbench.tasks.registry import get_card, list_cards

        config = self.config
        try:
            names = config.getoption("--lsdbench-task") or [c.name for c in list_cards(config.getoption("--lsdbench-suite"))]
            for name in names:
                get_card(name)  # an unknown task fails collection with a clear message
        except UserError as exc:
            raise self.CollectError(f"lsdbench: {exc}") from None
        for spec in config.getoption("--lsdbench-encoder"):
            for name in names:
                yield EncoderTaskItem.from_parent(self, name=f"lsdbench[{spec}-{name}]", spec=spec, task_name=name)


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector):
    report = yield
    if isinstance(collector, pytest.Session) and collector.config.getoption("--lsdbench-encoder") and report.passed:
        report.result.append(EvaluationsCollector.from_parent(collector, name="lsdbench", path=collector.path))
    return report


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not config.getoption("--lsdbench-encoder"):
        return
    rows = [r for r in terminalreporter.stats.get("passed", []) if r.user_properties and "lsdbench[" in r.nodeid]
    if rows:
        terminalreporter.section("lsdbench scores")
        for report in rows:
            metric, value, low, high = report.user_properties[0]
            name = report.nodeid.split("lsdbench[")[-1].rstrip("]")
            terminalreporter.write_line(f"{name}: {metric} = {value:.4f}  (95% CI [{low:.4f}, {high:.4f}])")


@pytest.fixture
def lsdbench_task():
    from lsdbench.tasks.registry import load_task

    def load(name: str):
        return load_task(name, progress=False)
    return load


@pytest.fixture
def lsdbench_evaluate():
    from lsdbench.encode.encoders import resolve
    from lsdbench.run.evaluate import evaluate_task
    from lsdbench.tasks.registry import load_task

    def run(encoder, task, probe: str = "linear", **options):
        enc = resolve(encoder, **options) if isinstance(encoder, str) else encoder
        loaded = load_task(task, progress=False) if isinstance(task, str) else task
        return evaluate_task(enc, loaded, probe=probe, spec=encoder if isinstance(encoder, str) else None,
                             progress=False)
    return run


@pytest.fixture
def lsdbench_assert_beats():
    from lsdbench.stats import paired_test

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
