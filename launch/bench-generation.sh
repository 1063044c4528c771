#!/usr/bin/env bash
# Generation speed with and without the key/value cache, in one run, next to nanoGPT's sampling
# loop in PyTorch (launch/reference/torch_sample.py: a forward pass over the cropped context per
# token, no cache) on the same threads:
#   - `trainer sample` for the default GPT (context 64) and configs/gpt-full.yaml (context 256), 500
#     tokens and only as many as fit the context: no cache, key/value cache (the same tokens), and
#     the cache with --context-shift (past the context, keep its newer half instead of sliding it
#     by one token, as nanoGPT's crop does, which needs a forward pass over the context per token);
#   - `trainer translate` of 500 toy English sentences, greedy and --beam 4, without and with the cache.
# Speed does not depend on the weights: the GPTs are trained for one step, the translator for 300.
#   THREADS=n   threads (default 1)
source "$(dirname "$0")/common.sh"
swift build -c release --product trainer
trainer="$root/.build/release/trainer"
threads="${THREADS:-1}"
work="$root/.build/bench-generation"
mkdir -p "$work"
source "$root/launch/torch-venv.sh"

echo "CPU: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores; $threads thread(s) per run"
echo "PyTorch: $("$python" -c 'import torch; print(torch.__version__)')"

train() {  # train <run name> <steps> [trainer train arguments]: a checkpoint under $work
  [ -f "$work/$1/ckpt.h5" ] || "$trainer" train --set run_dir="$work/$1" --set schedule.max_steps="$2" \
    --set eval.interval=0 --sample 0 --overwrite "${@:3}" >/dev/null
}
rate() { sed -n 's/.*, \([0-9.]*\) \(tokens\|sentences\)\/s.*/\1/p'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f×", a / b; else printf "-" }'; }

printf "\n%-34s %12s %12s %14s %14s\n" "sample (tokens/s)" "no cache" "cache" "cache + shift" "nanoGPT (torch)"
for model in default gpt-full; do
  if [ $model = default ]; then
    run=gpt-default; train $run 1; sizes=(--layers 4 --heads 4 --channels 128 --block 64); block=64
  else
    run=gpt-full; train $run 1 --config configs/gpt-full.yaml; sizes=(--layers 6 --heads 6 --channels 384 --block 256); block=256
  fi
  # 500 tokens, then only as many as fit the context (a prompt of one token + block − 1).
  for tokens in 500 $((block - 1)); do
    s() { "$trainer" sample --checkpoint "$work/$run/ckpt.h5" --timing --threads "$threads" --tokens $tokens "$@" 2>&1 >/dev/null | rate; }
    a=$(s --no-cache); b=$(s); c=$(s --context-shift)
    t=$("$python" "$root/launch/reference/torch_sample.py" "${sizes[@]}" --tokens $tokens --threads "$threads" \
        | sed -n 's/.*tokens_per_s=\([0-9]*\).*/\1/p')
    printf "%-34s %12s %12s %14s %14s\n" "$model, $tokens tokens" "$a" "$b" "$c" "$t"
    printf "%-34s %12s %12s %14s %14s\n" "  ÷ nanoGPT" "$(ratio "$a" "$t")" "$(ratio "$b" "$t")" "$(ratio "$c" "$t")" ""
  done
done

train translator 300 --config configs/translation-toy.yaml --set threads="$(nproc)"
[ -f "$work/sentences.txt" ] || { "$trainer" prepare --generate toy-en-it --pairs 500 --output "$work/toy.tsv" >/dev/null
                                   cut -f1 "$work/toy.tsv" > "$work/sentences.txt"; }
printf "\n%-34s %12s %12s %14s\n" "translate, 500 sentences" "no cache" "cache" "cache ÷ none"
for beam in 1 4; do
  tr() { "$trainer" translate --checkpoint "$work/translator/ckpt.h5" --timing --beam $beam --threads "$threads" "$@" \
           < "$work/sentences.txt" 2>&1 >/dev/null | rate; }
  a=$(tr --no-cache); b=$(tr)
  printf "%-34s %12s %12s %14s\n" "beam $beam (sentences/s)" "$a" "$b" "$(ratio "$b" "$a")"
done
