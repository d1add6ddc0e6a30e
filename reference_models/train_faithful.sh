#!/usr/bin/env bash
# Train the paper-faithful readings (configs/faithful.toml, issue 26) on CPU: LSD-TN in both readings of
# Token Norm (contextual: per-type standardization of a contextual latent; homogeneous: a residue's
# latent distribution depends on its type only), LSD-NM with weighted reconstruction, then one denoiser
# per latent space. Two stages run at a time on one thread each (2 cores). Rerunning resumes.
#   bash reference_models/train_faithful.sh [RUN_DIR]      (RUN_DIR default: runs/faithful)
set -euo pipefail
cd "$(dirname "$0")/.."
RUN="${1:-runs/faithful}"
CK=reference_models/checkpoints
export OMP_NUM_THREADS=1
T="--config faithful --set train.num_threads=1 --data $RUN/data --no-progress"
mkdir -p "$RUN"
[ -f "$RUN/data/data.json" ] || lsd-train data --out "$RUN/data"
lsd-train lsd_tn $T --set 'lsd_tn.bottleneck="token_norm_homogeneous"' --out "$RUN/lsd_tn_homogeneous" \
    --export "$CK/lsd_tn_homogeneous" > "$RUN/lsd_tn_homogeneous.log" 2>&1 &
lsd-train lsd_tn $T --out "$RUN/lsd_tn_vae" --export "$CK/lsd_tn_vae" > "$RUN/lsd_tn_vae.log" 2>&1
wait
lsd-train lsd_nm $T --out "$RUN/lsd_nm_weighted" --export "$CK/lsd_nm_weighted" > "$RUN/lsd_nm_weighted.log" 2>&1 &
lsd-train diffusion $T --latent "$CK/lsd_tn_homogeneous" --out "$RUN/lsd_tn_homogeneous_diffusion" \
    --export "$CK/lsd_tn_homogeneous_diffusion" > "$RUN/lsd_tn_homogeneous_diffusion.log" 2>&1
lsd-train diffusion $T --latent "$CK/lsd_tn_vae" --out "$RUN/lsd_tn_vae_diffusion" \
    --export "$CK/lsd_tn_vae_diffusion" > "$RUN/lsd_tn_vae_diffusion.log" 2>&1
wait
lsd-train diffusion $T --latent "$CK/lsd_nm_weighted" --out "$RUN/lsd_nm_weighted_diffusion" \
    --export "$CK/lsd_nm_weighted_diffusion" > "$RUN/lsd_nm_weighted_diffusion.log" 2>&1
