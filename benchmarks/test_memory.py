"""Peak memory (RSS) of ``lsdbench eval`` on a whole suite with the small reference models, in a fresh process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import SMOKE, reference_encoder

SUITE = "smoke" if SMOKE else "open"
# a parent whose only child is the eval, so RUSAGE_CHILDREN is the eval's own peak (KiB on Linux)
PEAK = ("import resource, subprocess, sys, json; r = subprocess.run(sys.argv[1:]); "
        "print(json.dumps({'rc': r.returncode, 'peak_kib': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))")


@pytest.mark.parametrize("name", ["mlm", "lsd_tn_diffusion"])
def test_peak_memory_of_eval(benchmark, name, tmp_path, machine):
    reference_encoder(name)  # skip when the checkpoint is missing
    cmd = [sys.executable, "-c", PEAK, sys.executable, "-m", "lsdbench", "eval", "--encoder", name, "--suite", SUITE,
           "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "results"), "--quiet"]

    def run():
        out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
        assert out.returncode == 0, out.stderr[-2000:]
        report = json.loads(out.stdout.strip().splitlines()[-1])
        assert report["rc"] == 0, out.stderr[-2000:]
        return report["peak_kib"]

    peak_kib = benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info.update({"encoder": name, "suite": SUITE, "peak_mib": round(peak_kib / 1024, 1),
                                 "target_mib": 2048, "machine": machine})
    assert peak_kib > 0
