#!/usr/bin/env bash
# The quality bar of the GPT: nanoGPT's CPU configuration (configs/nanogpt-cpu.yaml) trained on the
# shipped corpus, single process. Prints the final validation loss and the wall time, and fails if
# the loss is above the bar (1.86; a PyTorch/JAX model equivalent to nanoGPT reaches 1.84 ± 0.01).
source "$(dirname "$0")/common.sh"
swift build -c release --product trainer
mkdir -p runs
run="runs/quality-$(date +%s)"
start=$(date +%s)
.build/release/trainer train --config configs/nanogpt-cpu.yaml --set run_dir="$run" --set log_interval=100 "$@" | tee "$run.log"
end=$(date +%s)
loss=$(grep -o 'val loss [0-9.]*' "$run.log" | tail -1 | awk '{print $3}')
echo "quality: val loss $loss after 2000 steps, wall time $((end - start)) s (bar: <= 1.86)"
awk -v l="$loss" 'BEGIN { exit !(l <= 1.86) }'
