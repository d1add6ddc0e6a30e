"""pytest plugin: ``pytest --lsdbench-encoder SPEC`` evaluates an encoder, one test per task."""

from __future__ import annotations


def pytest_addoption(parser):
    group = parser.getgroup("lsdbench", "protein representation benchmark")
    group.addoption("--lsdbench-encoder", action="append", default=[], metavar="SPEC",
                    help="encoder to evaluate (registered name, module:attr or path/file.py:attr)")
    group.addoption("--lsdbench-suite", default="open", help="task suite (default: open)")
    group.addoption("--lsdbench-out", default=None, help="directory for result files")
