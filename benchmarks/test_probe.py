"""Probe fitting for the whole ``open`` suite with the linear probe on 512-d features: on the one
BLAS thread the protocol pins, and on two for comparison."""

from __future__ import annotations

import time

from conftest import SMOKE

from baselines.composition import KmerHash
from lsdbench.encode.encoders import policy_for
from lsdbench.probe import probing
from lsdbench.probe.probing import fit_and_score
from lsdbench.run.evaluate import task_embeddings
from lsdbench.tasks import registry

SUITE = "smoke" if SMOKE else "open"


def test_linear_probe_on_the_open_suite(benchmark, tmp_path, machine, monkeypatch):
    encoder = KmerHash(k=3, dim=512)  # real 512-d features, cheap to compute: the probe is what is timed
    tasks = [registry.load_task(c, progress=False) for c in registry.list_cards(SUITE)]
    feats = {t.name: task_embeddings(encoder, t, policy=policy_for(encoder), cache_dir=tmp_path, progress=False)
             for t in tasks}

    def fit_all():
        seconds = {}
        for task in tasks:
            f, s = feats[task.name], task.splits
            start = time.perf_counter()
            fit_and_score(task.type, task.card.primary_metric, f["train"], s["train"].labels, f["valid"],
                          s["valid"].labels, f["test"], s["test"].labels, s["test"].ids, probe="linear",
                          n_classes=task.card.n_classes)
            seconds[task.name] = round(time.perf_counter() - start, 3)
        return seconds

    seconds = benchmark.pedantic(fit_all, rounds=1, iterations=1)
    with monkeypatch.context() as m:
        m.setattr(probing, "LINEAR_PROBE_THREADS", 2)
        two_threads = fit_all()
    total, total_two = sum(seconds.values()), sum(two_threads.values())
    benchmark.extra_info.update({"suite": SUITE, "dim": 512, "fit_s": seconds, "total_s": round(total, 2),
                                 "two_threads_fit_s": two_threads, "two_threads_total_s": round(total_two, 2),
                                 "two_threads_over_one": round(total_two / total, 2),
                                 "train_rows": {t.name: len(t.splits["train"]) for t in tasks}, "machine": machine})
    assert all(v > 0 for v in seconds.values())
