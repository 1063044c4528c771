#!/usr/bin/env bash
# Side by side with PyTorch on the same cores: the seeds' full GPT (configs/gpt-full.yaml: 6 layers,
# 6 heads, 384 dims, context 256, dropout 0.2, 64 sequences per step in micro-batches of 8)
# trained by `trainer bench step` and by PyTorch (launch/reference/torch_gpt.py, the same model and
# step), with the same threads, in one run: both in fp32 and, where the CPU has avx512_bf16, both in
# bf16 (our `precision: bf16` against PyTorch's bf16 autocast); fp32 also data-parallel (mpirun
# -np 2 / DDP over gloo, one thread per process). Prints tokens/s and the ratios.
#
# PyTorch's CPU wheel goes into a virtual environment under .build/ the first time (launch/torch-venv.sh).
#   STEPS=n      timed steps per measurement (default 2; the best is kept)
#   THREADS="1 2" thread counts (default: 1 and all cores)
#   BATCH=n      sequences per step (default 64, as the config)
#   DROPOUT=p    dropout on both sides (default 0.2, as the config; DROPOUT=0 compares the models
#                without it)
source "$(dirname "$0")/common.sh"
swift build -c release --product trainer
trainer="$root/.build/release/trainer"
steps="${STEPS:-2}"
cores="$(nproc)"
threads="${THREADS:-1 $cores}"
batch="${BATCH:-64}"
dropout="${DROPOUT:-0.2}"

source "$root/launch/torch-venv.sh"

flags=$(grep -m1 '^flags' /proc/cpuinfo || true)
bf16=0; [[ " $flags " == *" avx512_bf16 "* ]] && bf16=1
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $cores cores; avx512_bf16: $([ $bf16 = 1 ] && echo yes || echo no)"
echo "environment: OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-<unset>}; trainer: $("$trainer" bench kernels --list-kernels | tail -1) is the best kernel here (blas_kernel auto)"
echo "PyTorch: $("$python" -c 'import torch; print(torch.__version__, "with ATen CPU capability", torch.backends.cpu.get_cpu_capability())')"
echo "model: configs/gpt-full.yaml, dropout $dropout, $batch sequences × 256 tokens per step in micro-batches of 8; $steps timed steps each, best kept"

ours() {  # ours <threads> <precision> [ranks]: tokens/s of `trainer bench step`
  local t=$1 precision=$2 ranks=${3:-1}
  local args=(bench step --config configs/gpt-full.yaml --set data.batch_size="$batch" --set model.dropout="$dropout"
              --set precision="$precision" --threads "$t" --steps "$steps")
  if [ "$ranks" -eq 1 ]; then
    "$trainer" "${args[@]}" | tail -1
  else
    OPENBLAS_NUM_THREADS="$t" "$root/launch/mpirun.sh" -np "$ranks" "$trainer" "${args[@]}" | tail -1
  fi | awk '{print $4}'
}
theirs() {  # theirs <threads> <ranks> [--bf16]: tokens/s of PyTorch
  "$python" "$root/launch/reference/torch_gpt.py" --threads "$1" --ranks "$2" --batch "$batch" --dropout "$dropout" \
    --steps "$steps" "${@:3}" \
    | sed -n 's/.*tokens_per_s=\([0-9]*\).*/\1/p'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f×", a / b; else printf "-" }'; }

printf "\n%-8s %-28s %12s %22s\n" "threads" "run" "tokens/s" "trainer ÷ PyTorch"
for t in $threads; do
  o=$(ours "$t" fp32)
  f=$(theirs "$t" 1)
  printf "%-8s %-28s %12s %22s\n" "$t" "trainer fp32" "$o" ""
  printf "%-8s %-28s %12s %22s\n" "$t" "PyTorch fp32" "$f" "fp32: $(ratio "$o" "$f")"
  if [ $bf16 = 1 ]; then
    ob=$(ours "$t" bf16)
    b=$(theirs "$t" 1 --bf16)
    printf "%-8s %-28s %12s %22s\n" "$t" "trainer bf16" "$ob" ""
    printf "%-8s %-28s %12s %22s\n" "$t" "PyTorch bf16 autocast" "$b" "bf16: $(ratio "$ob" "$b")"
  fi
done
if [ "$cores" -ge 2 ]; then
  o=$(ours 1 fp32 2)
  f=$(theirs 1 2)
  printf "%-8s %-28s %12s %22s\n" "2×1" "trainer fp32 mpirun -np 2" "$o" ""
  printf "%-8s %-28s %12s %22s\n" "2×1" "PyTorch fp32 DDP 2 processes" "$f" "fp32: $(ratio "$o" "$f")"
fi
