#!/usr/bin/env bash
# The translation bar: configs/translation-toy.yaml (a 2+2-layer encoder–decoder) trained on the
# shipped English → Italian toy task, single process. Prints BLEU and chrF on the whole validation
# split (greedy decoding, sacreBLEU-compatible scores) and the wall time.
source "$(dirname "$0")/common.sh"
swift build -c release --product trainer
mkdir -p runs
run="runs/translation-quality-$(date +%s)"
start=$(date +%s)
.build/release/trainer train --config configs/translation-toy.yaml --set run_dir="$run" "$@" | tee "$run.log"
end=$(date +%s)
scores=$(grep -o 'bleu [0-9.]*, chrf [0-9.]*' "$run.log" | tail -1)
echo "quality-translation: $scores on the validation split, wall time $((end - start)) s"
.build/release/trainer eval --checkpoint "$run/ckpt.h5" --beam 4
