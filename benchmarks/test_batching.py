"""What batch-invariant (bucketed) batching costs against token-budget ("fast") batching.

Bucketed calls are shaped by each sequence's own length (lsdbench/encode/buckets.py), so a sequence's embedding
has the same bits in any batch; fast batching packs length-sorted sequences into 16,384-token calls.
Both are timed on the same sequences in one run, on the harness's windows (what the suite feeds the
`small` models) and on full lengths, and the ratio goes in benchmarks/RESULTS.md. Each run also checks
the property that bucketing buys: the first sequences encoded alone give the same bits as inside the set.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import reference_encoder, timed
from test_encoding import views

ENCODERS = ["mlm", "lsd_tn_diffusion", "random_transformer"]
ALONE = 4  # sequences re-encoded one at a time for the bit-identity check


def encoder(name: str, batching: str):
    if name == "random_transformer":
        from lsdbench.encode.encoders import resolve
        return resolve(name, batching=batching)
    return reference_encoder(name, batching=batching)


@pytest.mark.parametrize("name", ENCODERS)
def test_bucketed_against_token_budget_batching(benchmark, name, deeploc_test, machine):
    bucketed, fast = encoder(name, "bucketed"), encoder(name, "fast")
    rows = {}
    for view, seqs in views(bucketed, deeploc_test).items():
        residues = sum(map(len, seqs))
        bucketed.encode(seqs[:8])
        fast.encode(seqs[:8])  # warm-up
        t_bucketed, x_bucketed = timed(bucketed.encode, seqs)
        t_fast, x_fast = timed(fast.encode, seqs)
        alone_b = np.concatenate([bucketed.encode([s]) for s in seqs[:ALONE]])
        alone_f = np.concatenate([fast.encode([s]) for s in seqs[:ALONE]])
        rows[view] = {"residues": residues, "bucketed_res_per_s": round(residues / t_bucketed),
                      "fast_res_per_s": round(residues / t_fast), "cost_ratio": round(t_bucketed / t_fast, 2),
                      "bucketed_alone_identical": bool(np.array_equal(alone_b, x_bucketed[:ALONE])),
                      "fast_alone_max_abs_diff": float(np.abs(alone_f - x_fast[:ALONE]).max()),
                      "bucketed_vs_fast_max_abs_diff": float(np.abs(x_bucketed - x_fast).max())}
        assert rows[view]["bucketed_alone_identical"], f"{name}, {view}: bucketed bits depend on the batch"
    benchmark.extra_info.update({"encoder": name, "sequences": len(deeploc_test), "views": rows,
                                 "machine": machine})
    seqs = views(bucketed, deeploc_test)["harness windows"]
    benchmark.pedantic(bucketed.encode, args=(seqs,), rounds=1, iterations=1)
