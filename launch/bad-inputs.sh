#!/usr/bin/env bash
# A battery of bad inputs across the commands (bad corpora, absurd sizes, mistyped paths, unusable
# option values, broken configs, wrong files). Each must end with exit status 1 and exactly one
# line on standard error: no crash (a signal), no hang (60 s), no silent acceptance (exit 0).
# Prints one line per case and the totals; exits 1 if any case fails. (CI runs the same classes
# as unit and multi-rank tests; this is the quick tour.)
source "$(dirname "$0")/common.sh"
swift build -c release --product trainer
trainer="$root/.build/release/trainer"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
"$trainer" prepare --input "$root/Sources/TrainerKit/Resources/shakespeare.txt" --output lm.h5 > /dev/null
"$trainer" train --set data.dataset=lm.h5 --set run_dir=ck --set schedule.max_steps=2 --sample 0 > /dev/null
head -c 5000 /dev/urandom > rand.bin; printf 'caf\xe9\n' > latin1.txt; : > empty.txt; printf 'a\tb\n' > tiny.tsv
echo "model: [" > broken.yaml; echo "model: {layers: -1}" > negative.yaml; echo "nonsense: 1" > unknown.yaml
cases=(
  "prepare --input rand.bin --output o.h5"
  "prepare --input latin1.txt --output o.h5"
  "prepare --input rand.bin --output o.h5 --tokenizer word"
  "prepare --input tiny.tsv --output o.h5 --tokenizer bogus"
  "prepare --input . --output o.h5 --tokenizer word"
  "prepare --input missing.txt --output o.h5"
  "prepare --input empty.txt --output o.h5"
  "prepare --input latin1.txt --output o.h5 --val-fraction -0.1"
  "train --set data.dataset=lm.h5 --set data.block_size=1000000000 --set run_dir=r"
  "train --set data.dataset=lm.h5 --set model.channels=200000 --set run_dir=r"
  "train --set data.dataset=lm.h5 --set model.layers=100000000 --set run_dir=r"
  "train --set data.dataset=lm.h5 --set eval.batches=1000000000000 --set run_dir=r"
  "train --set data.dataset=lm.h5 --set data.batch_size=1000000000 --set data.micro_batch_size=1000000000 --set run_dir=r"
  "train --set data.dataset=dta/typo.h5 --set run_dir=r"
  "train --set data.dataset=lm.h5 --set run_dir=ck --set schedule.max_steps=3"
  "train --set data.dataset=lm.h5 --set run_dir=empty.txt"
  "train --resume --set data.dataset=lm.h5 --set run_dir=nothing-here"
  "train --resume --overwrite"
  "train --config broken.yaml"
  "train --config negative.yaml"
  "train --config unknown.yaml"
  "train --config missing.yaml"
  "train --set model.layers=abc"
  "train --bogus-flag"
  "sample --checkpoint ck/ckpt.h5 --threads 0"
  "sample --checkpoint ck/ckpt.h5 --temperature inf"
  "sample --checkpoint ck/ckpt.h5 --tokens -1"
  "sample --checkpoint lm.h5"
  "sample --checkpoint rand.bin"
  "translate --checkpoint ck/ckpt.h5 --length-penalty nan hello"
  "eval --checkpoint ck/ckpt.h5 --dataset rand.bin"
  "inspect rand.bin"
)
crashes=0; hangs=0; accepted=0; unclear=0
for arguments in "${cases[@]}"; do
  status=0
  # shellcheck disable=SC2086
  timeout 60 "$trainer" $arguments > out.txt 2> err.txt || status=$?
  lines=$(grep -c . err.txt || true)
  if [ "$status" -eq 124 ]; then verdict=HANG; hangs=$((hangs + 1))
  elif [ "$status" -ge 128 ]; then verdict=CRASH; crashes=$((crashes + 1))
  elif [ "$status" -eq 0 ]; then verdict=ACCEPTED; accepted=$((accepted + 1))
  elif [ "$lines" -ne 1 ]; then verdict="$lines-LINES"; unclear=$((unclear + 1))
  else verdict=ok; fi
  printf "%-8s %s\n         %s\n" "$verdict" "$arguments" "$(head -1 err.txt | cut -c1-160)"
done
echo "bad-inputs: ${#cases[@]} cases: $crashes crashes, $hangs hangs, $accepted accepted, $unclear not one line"
[ $((crashes + hangs + accepted + unclear)) -eq 0 ]
