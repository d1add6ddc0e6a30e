#!/usr/bin/env bash
# Train the committed `small` reference checkpoints on CPU, stage after stage (about 90 minutes on 2
# cores; step counts, learning rates and widths are in configs/small.toml). Each stage resumes from its
# last checkpoint when rerun; the final weights are exported to reference_models/checkpoints/<name>/
# (safetensors + meta.json + model card with the health diagnostics of reference_models/evaluation/health.py).
#   bash reference_models/train_small.sh [RUN_DIR]      (RUN_DIR default: runs/train_small)
set -euo pipefail
cd "$(dirname "$0")/.."
RUN="${1:-runs/train_small}"
CK=reference_models/checkpoints
mkdir -p "$RUN"
# data of either format is reused: train.fasta (what the committed checkpoints were trained from) or the
# token files lsd-train data writes now; both give the same sequences, hashes and batches
[ -f "$RUN/data/data.json" ] || lsd-train data --out "$RUN/data"
for stage in mlm lsd_tn lsd_nm; do
    lsd-train "$stage" --config small --data "$RUN/data" --out "$RUN/$stage" --export "$CK/$stage" --no-progress
done
# one diffusion model per latent space; each reads its frozen encoder from the exported checkpoint
for latent in lsd_tn lsd_nm mlm; do
    lsd-train diffusion --config small --data "$RUN/data" \
        --latent "$CK/$latent" --out "$RUN/${latent}_diffusion" --export "$CK/${latent}_diffusion" --no-progress
done
