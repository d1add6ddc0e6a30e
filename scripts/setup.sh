#!/usr/bin/env bash
# Install lsdbench and its test tools into the current Python environment.
# Where no torch is installed, take the CPU build first (torch==2.13.0), so that pip never resolves
# the unpinned `torch` requirement to several GB of CUDA wheels; an installed torch is kept as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
TORCH_SPEC="${LSDBENCH_TORCH_SPEC:-torch==2.13.0}"
if ! "$PYTHON" -c "import torch" >/dev/null 2>&1; then
    echo "lsdbench setup: no torch found; installing $TORCH_SPEC (CPU build)"
    "$PYTHON" -m pip install --quiet "$TORCH_SPEC"
fi
"$PYTHON" -m pip install --quiet -e ".[${LSDBENCH_EXTRAS:-dev}]"
"$PYTHON" -c "import torch, lsdbench; print(f'lsdbench {lsdbench.__version__} with torch {torch.__version__}')"
