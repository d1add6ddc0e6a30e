#!/usr/bin/env bash
# The time-boxed GPU campaign (issue 16): on one GPU, within 9 minutes of wall time, train all six stages
# (MLM, LSD-TN, LSD-NM and one denoiser per latent) at reference_models/configs/gpu_campaign.toml on the
# decontaminated Swiss-Prot corpus, collect their health diagnostics, evaluate the open suite with the
# trained encoders, and write checkpoints, model cards, result files and a timing table into one folder.
#   bash scripts/gpu_campaign.sh [OUT] [options of python -m reference_models.training.campaign]
#   (OUT default: runs/gpu_campaign; LSDBENCH_MIRROR must point at the task files on an offline machine)
# Exits 3 when the campaign ran past its budget (everything is still written).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-runs/gpu_campaign}"
shift || true
exec "${PYTHON:-python3}" -m reference_models.training.campaign --out "$OUT" "$@"
