#!/usr/bin/env bash
# Weak scaling of data-parallel training: the seeds' full GPT (configs/gpt-full.yaml: 6 layers,
# 384 dims, context 256) at W = 1, 2, 4, ... ranks up to the cores, one BLAS thread per rank, the
# same work per rank (PER_RANK micro-batches of 8 sequences, default 1), for `reduction: exact`
# and `float`. Prints tokens/s, the all-reduce share of the step and the efficiency relative to
# W = 1. STEPS=n timed steps per point (best is kept); MAX_RANKS=n caps W.
source "$(dirname "$0")/common.sh"
swift build -c release --product trainer
cores="$(nproc)"
max="${MAX_RANKS:-$cores}"
per_rank="${PER_RANK:-1}"
steps="${STEPS:-2}"
printf "%-10s %5s %12s %12s %12s\n" reduction ranks tokens/s all-reduce efficiency
for reduction in exact float; do
  base=""
  ranks=1
  while [ "$ranks" -le "$max" ]; do
    line=$(OPENBLAS_NUM_THREADS=1 "$root/launch/mpirun.sh" -np "$ranks" .build/release/trainer bench step \
             --config configs/gpt-full.yaml --threads 1 --steps "$steps" \
             --set data.batch_size=$((ranks * 8 * per_rank)) --set reduction="$reduction" | tail -1)
    tokens=$(echo "$line" | awk '{print $4}')
    share=$(echo "$line" | awk '{print $6}')
    [ -n "$base" ] || base="$tokens"
    efficiency=$(awk -v t="$tokens" -v b="$base" -v w="$ranks" 'BEGIN { printf "%.1f%%", 100 * t / (b * w) }')
    printf "%-10s %5d %12s %12s %12s\n" "$reduction" "$ranks" "$tokens" "$share" "$efficiency"
    ranks=$((ranks * 2))
  done
done
