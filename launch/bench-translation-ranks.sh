#!/usr/bin/env bash
# Translator steps on one process versus several ranks, same cores: the shipped Shakespeare split
# into sentences and paired with the next sentence (a long-tailed length distribution, like real
# sentence pairs: 1 to 128 BPE tokens), configs/translation-toy.yaml's model with 128 positions,
# 4 micro-batches of 16 pairs per step. Prints, over STEPS steps (default 100): the seconds spent
# in training steps, and on several ranks the share waiting for the slowest rank (load imbalance)
# and in the all-reduce (communication), from each run's metrics.jsonl.
# RANKS=n ranks (default 2) against 1 process with n threads.
source "$(dirname "$0")/common.sh"
swift build -c release --product trainer
trainer="$root/.build/release/trainer"
ranks="${RANKS:-2}"
steps="${STEPS:-100}"
work="$root/runs/bench-translation-ranks"
mkdir -p "$work"
tr '\n' ' ' < Sources/TrainerKit/Resources/shakespeare.txt | sed 's/  */ /g; s/\([.?!]\) /\1\n/g' \
  | sed 's/^ *//' | grep -v '^$' > "$work/sentences.txt"
paste -d '\t' <(sed '$d' "$work/sentences.txt") <(sed '1d' "$work/sentences.txt") > "$work/pairs.tsv"
"$trainer" prepare --input "$work/pairs.tsv" --output "$work/pairs.h5" --tokenizer bpe --vocab-size 4000 \
  --max-length 128 | tail -1
args=(train --config configs/translation-toy.yaml --set model.positions=128 --set data.block_size=128
      --set data.dataset="$work/pairs.h5" --set schedule.max_steps="$steps" --set eval.interval=0 --sample 0)
summary() {  # summary <label> <run_dir>: step seconds, wait and all-reduce shares
  awk -v label="$1" '/"ms":/ {
      for (i = 1; i <= NF; i++) { gsub(/[{},"]/, "", $i) }
      for (i = 1; i < NF; i++) { if ($i == "ms:") ms += $(i+1); if ($i == "wait_ms:") w += $(i+1); if ($i == "allreduce_ms:") a += $(i+1) }
      n++ }
    END { printf "%-28s %4d steps %8.2f s   wait %5.1f%%   all-reduce %5.1f%%\n", label, n, ms / 1000, 100 * w / ms, 100 * a / ms }' "$2/metrics.jsonl"
}
rm -rf "$work/one" "$work/ranks"
OPENBLAS_NUM_THREADS="$ranks" "$trainer" "${args[@]}" --set threads="$ranks" --set run_dir="$work/one" > "$work/one.log"
"$root/launch/mpirun.sh" -np "$ranks" "$trainer" "${args[@]}" --set threads=1 --set run_dir="$work/ranks" > "$work/ranks.log"
echo "translator, $(nproc) cores, $(grep -m1 'OpenBLAS kernel' "$work/one.log" | cut -d';' -f1)"
summary "1 process × $ranks threads" "$work/one"
summary "$ranks ranks × 1 thread" "$work/ranks"
