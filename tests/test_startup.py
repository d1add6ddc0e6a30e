"""`lsdbench --help` and `lsdbench tasks` start without the heavy scientific stack (issue 13).

Imports are checked, not times (timings go to benchmarks/RESULTS.md): a command that only parses
arguments or lists cards must not pay for torch, scikit-learn or scipy.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "sklearn", "scipy", "pandas", "matplotlib")
PROBE = """
import contextlib, io, json, sys
from lsdbench.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    try:
        code = main({argv!r})
    except SystemExit as exc:  # --help exits through argparse
        code = exc.code
print(json.dumps({{"code": code, "heavy": [m for m in {heavy!r} if m in sys.modules]}}))
"""


@pytest.mark.parametrize("argv", [["--help"], ["eval", "--help"], ["compare", "--help"], ["run", "--help"],
                                  ["leaderboard", "build", "--help"], ["tasks"]])
def test_light_commands_import_no_heavy_library(argv):
    proc = subprocess.run([sys.executable, "-c", PROBE.format(argv=argv, heavy=HEAVY)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["code"] == 0 and report["heavy"] == [], report
