"""Start-up of the CLI: `lsdbench --help` against importing the evaluation stack, in one run.

The ratio is the target (issue 13: `--help` under 0.5 s, no torch / scikit-learn / scipy; the imports
themselves are checked in tests/test_startup.py).
"""

from __future__ import annotations

import subprocess
import sys
import time


def wall(args: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, *args], check=True, capture_output=True, timeout=300)
    return time.perf_counter() - t0


def test_help_starts_without_the_evaluation_stack(benchmark, machine):
    full = min(wall(["-c", "import lsdbench.run.evaluate, lsdbench.comparison.compare"]) for _ in range(3))
    help_s = benchmark.pedantic(lambda: min(wall(["-m", "lsdbench", "--help"]) for _ in range(3)), rounds=1,
                                iterations=1)
    benchmark.extra_info.update({"help_s": round(help_s, 3), "evaluation_import_s": round(full, 3),
                                 "help_over_import": round(help_s / full, 3), "machine": machine})
    assert help_s < full  # the point of the lazy imports: --help must not pay for torch and scipy
