"""Write tests/data/reference_checkpoint_outputs.json: the committed checkpoints' CPU embeddings of three
fixed sequences, which `test_committed_checkpoints_embed_as_they_did_before_the_gpu_path` pins.

Run it only when the checkpoints (or, deliberately, their inference path) change, and say why in the
commit: the test exists to catch unintended changes to what the committed models embed.
    python scripts/pin_reference_outputs.py
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from lsdbench.atomic import atomic_write_text
from lsdbench.encode.encoders import resolve

OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "reference_checkpoint_outputs.json"
ENCODERS = {"mlm": {}, "mlm_latent": {}, "lsd_tn_latent": {}, "lsd_nm_latent": {},
            "mlm_diffusion": {"t": 0.3}, "lsd_tn_diffusion": {"t": 0.3}, "lsd_nm_diffusion": {"t": 0.3}}


def main() -> None:
    torch.set_num_threads(1)  # as the test runs them
    sequences = json.loads(OUT.read_text())["sequences"]  # the same three sequences as before
    encoders = {}
    for name, options in ENCODERS.items():
        x = resolve(name, **options).encode(sequences)
        encoders[name] = {"options": options, "embeddings": x.tolist()}
    atomic_write_text(OUT, json.dumps({"sequences": sequences, "encoders": encoders}, sort_keys=True) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
