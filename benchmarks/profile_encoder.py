"""Where an encoder's forward time goes: torch.profiler's top operators for one reference encoder.

    python benchmarks/profile_encoder.py [ENCODER] [N_SEQUENCES]      (default: mlm 64)

Used to explain the MFU figure in RESULTS.md: the share of time in matmuls (addmm/mm/bmm) against
attention, layer norms, GELU and the rest.
"""

from __future__ import annotations

import sys

import numpy as np
from torch.profiler import ProfilerActivity, profile

from lsdbench.encode.encoders import policy_for, resolve
from lsdbench.tasks import registry


def main(name: str = "mlm", n: int = 64) -> str:
    encoder = resolve(name)
    seqs = registry.load_task("subcellular_localization_small", progress=False).splits["test"].sequences
    rng = np.random.default_rng(0)
    pieces = [p for i in rng.choice(len(seqs), n, replace=False) for p in policy_for(encoder).pieces(seqs[i])]
    encoder.encode(pieces[:8])
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        encoder.encode(pieces)
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15)


if __name__ == "__main__":
    print(main(*(sys.argv[1:2] or ["mlm"]), *(int(a) for a in sys.argv[2:3])))
