#!/bin/bash
# Evaluate one encoder on a suite with a Slurm job array: each array task embeds its shard of the
# sequences into the shared embedding cache (no probe), then one job checks the cache and probes.
#
#   jid=$(sbatch --parsable examples/slurm_eval.sh)                                  # the array: embed
#   sbatch --dependency=afterok:$jid --array=0 --export=ALL,STAGE=probe examples/slurm_eval.sh   # probe
#
# Settings come from the environment (sbatch passes it on): ENCODER (a spec, as for `lsdbench eval`),
# ENCODER_NAME (its name, for `cache verify`; the same for registered encoders), ENCODER_OPTS (extra
# arguments such as "--encoder-opt layer=20"), SUITE, PRECISION, OUT, and LSDBENCH_CACHE_DIR, which
# every array task must share: a folder on a file system all nodes see. No lock or database is needed:
# every cache file has a name of its own and is written to a temporary file, then renamed.
#
# The array size is the shard count: lsdbench reads SLURM_ARRAY_TASK_ID of SLURM_ARRAY_TASK_COUNT
# (shard I of N owns the sequences whose sha256 falls in it, as torchrun's ranks do). A task that fails
# or times out can be run again alone (sbatch --array=3 ...): it embeds only what its shard still lacks.

#SBATCH --job-name=lsdbench-eval
#SBATCH --array=0-7
#SBATCH --gres=gpu:1
#SBATCH --cpus-per-task=8
#SBATCH --mem=32G
#SBATCH --time=04:00:00
#SBATCH --output=lsdbench-%x-%A_%a.out

set -euo pipefail

ENCODER=${ENCODER:-esm2}
ENCODER_NAME=${ENCODER_NAME:-$ENCODER}
SUITE=${SUITE:-open}
PRECISION=${PRECISION:-fp32}  # bf16 or fp16 for encoders with a precision option; recorded in the results
OUT=${OUT:-results/$ENCODER_NAME-$PRECISION}
# shellcheck disable=SC2206  # ENCODER_OPTS is meant to split into arguments
ARGS=(--encoder "$ENCODER" ${ENCODER_OPTS:-} --suite "$SUITE" --precision "$PRECISION" --quiet)

if [[ "${STAGE:-embed}" == "probe" ]]; then
    # every shard marked done and every sequence cached (exit status 1 names what is missing) ...
    lsdbench cache verify --encoder "$ENCODER_NAME"
    # ... then one whole run: it finds every embedding cached, fits the probes and writes the results
    lsdbench eval "${ARGS[@]}" --shard none --out "$OUT"
else
    # this array task's shard only: fills the cache, writes a completion marker, fits no probe
    lsdbench eval "${ARGS[@]}"
fi
