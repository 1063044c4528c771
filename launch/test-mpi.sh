#!/usr/bin/env bash
# Multi-process tests (run by launch/test.sh after the unit tests): the determinism contract of
# ARCHITECTURE.md ("Determinism") under mpirun, and failures that must take the whole job down with a message.
# Uses the release binary; ranks beyond the cores are oversubscribed, one BLAS thread per rank.
# KEEP_WORK=1 keeps the working folder (its logs) for a look after a failure.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
trainer="$root/.build/release/trainer"
work="$(mktemp -d)"
trap '[ -n "${KEEP_WORK:-}" ] || rm -rf "$work"' EXIT
cd "$work"
if [ "$(id -u)" -eq 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
export OPENBLAS_NUM_THREADS=1
mpi() { timeout 300 mpirun --oversubscribe --bind-to none -np "$@"; }
failures=0
pass() { echo "ok: $1"; }
fail() { echo "FAILED: $1"; failures=$((failures + 1)); }

# A small corpus and config: the default GPT, 12 steps, 4 micro-batches of 3 sequences.
"$trainer" prepare --input "$root/Sources/TrainerKit/Resources/shakespeare.txt" --output data.h5 > /dev/null
common=(--set data.dataset=data.h5 --set schedule.decay_steps=12 --set eval.interval=4 --set eval.batches=4
        --set sync_check_interval=3 --set model.dropout=0.1 --set log_interval=4 --sample 0)
run() {  # run <ranks> <run_dir> <steps> [extra args...]
  local ranks=$1 dir=$2 steps=$3; shift 3
  # A failed run is reported by the check that follows (with its log), not by `set -e` ending the script.
  mpi "$ranks" "$trainer" train "${common[@]}" --set run_dir="$dir" --set schedule.max_steps="$steps" "$@" > "$dir.log" 2>&1 \
    || echo "run $dir: exit $?" >> "$dir.log"
}
same_model() { h5diff -q "$1/ckpt.h5" "$2/ckpt.h5" /model /model; }

# 1. One process (plain `trainer`, no mpirun), 2 and 4 ranks: byte-identical /model after 12 steps.
"$trainer" train "${common[@]}" --set run_dir=w1 --set schedule.max_steps=12 > w1.log 2>&1
run 2 w2 12
run 4 w4 12
same_model w1 w2 && pass "trainer and mpirun -np 2 write identical /model" || fail "1 vs 2 ranks differ"
same_model w1 w4 && pass "trainer and mpirun -np 4 write identical /model" || fail "1 vs 4 ranks differ"
grep -q "all-reduce" w4.log && pass "multi-rank log lines report the all-reduce share" || fail "no all-reduce share in the log"

# 2. Checkpoint at step 6 on 4 ranks, resume on 2 ranks to step 12: identical to the 1-process run.
run 4 r 6
run 2 r 12 --resume
same_model w1 r && pass "4 ranks to step 6 + resume on 2 ranks = 1 process to step 12" || fail "resume across rank counts differs"

# 3. The float all-reduce (for comparison) trains too.
run 2 f 12 --set reduction=float && grep -q "done: 12 steps" f.log && pass "reduction: float runs" || fail "reduction: float"

# 4. Ranks started with different configs are refused at start, naming the odd rank.
set +e
timeout 120 mpirun --oversubscribe --bind-to none -np 1 "$trainer" train "${common[@]}" --set run_dir=c --set schedule.max_steps=4 \
  : -np 1 "$trainer" train "${common[@]}" --set run_dir=c --set schedule.max_steps=4 --set optimizer.lr=3e-4 > c.log 2>&1
status=$?
set -e
[ $status -ne 0 ] && [ $status -ne 124 ] && grep -q "rank 1 started with a different config or dataset than rank 0" c.log \
  && pass "different configs are refused" || fail "different configs (status $status): $(tail -3 c.log)"

# 5. A rank that throws takes the job down with its message (MPI_Abort), never a hang.
set +e
TRAINER_FAIL=1:5 mpi 2 "$trainer" train "${common[@]}" --set run_dir=x --set schedule.max_steps=12 > x.log 2>&1
status=$?
set -e
[ $status -ne 0 ] && [ $status -ne 124 ] && grep -q "error (rank 1 of 2): injected failure at step 5" x.log \
  && pass "a failing rank stops the job with its message" || fail "failing rank (status $status): $(tail -3 x.log)"

# 6. A rank that dies (SIGKILL) takes the job down, never a hang.
set +e
TRAINER_FAIL=1:5:kill mpi 2 "$trainer" train "${common[@]}" --set run_dir=k --set schedule.max_steps=12 > k.log 2>&1
status=$?
set -e
[ $status -ne 0 ] && [ $status -ne 124 ] && pass "a killed rank stops the job (status $status)" || fail "killed rank (status $status): $(tail -3 k.log)"

# 7. A batch that does not split over the ranks is a one-line error.
set +e
mpi 3 "$trainer" train "${common[@]}" --set run_dir=d --set schedule.max_steps=2 > d.log 2>&1
status=$?
set -e
[ $status -ne 0 ] && grep -q "do not divide evenly over 3 ranks" d.log && pass "micro-batches not divisible by ranks are refused" \
  || fail "3 ranks (status $status): $(tail -3 d.log)"

# 8. The translator: the same invariance on a seq2seq config (padding masks, bucketed batches,
#    cross-attention, BLEU evaluation split over the ranks).
"$trainer" prepare --generate toy-en-it --pairs 3000 --output toy.tsv > /dev/null
"$trainer" prepare --input toy.tsv --output toy.h5 --tokenizer word --max-length 24 > /dev/null
seq=(--set model.kind=seq2seq --set model.layers=1 --set model.channels=32 --set model.heads=4 --set model.positions=24
     --set model.dropout=0.1 --set model.label_smoothing=0.1 --set model.activation=relu --set data.dataset=toy.h5
     --set data.batch_size=16 --set data.micro_batch_size=4 --set data.block_size=24 --set schedule.decay_steps=8
     --set eval.interval=4 --set eval.batches=2 --set log_interval=4 --sample 0)
s2s() {  # s2s <ranks> <run_dir> <steps> [extra args...]
  local ranks=$1 dir=$2 steps=$3; shift 3
  mpi "$ranks" "$trainer" train "${seq[@]}" --set run_dir="$dir" --set schedule.max_steps="$steps" "$@" > "$dir.log" 2>&1
}
"$trainer" train "${seq[@]}" --set run_dir=t1 --set schedule.max_steps=8 > t1.log 2>&1
s2s 2 t2 8
s2s 4 t4 8
same_model t1 t2 && same_model t1 t4 && pass "seq2seq: 1, 2 and 4 ranks write identical /model" || fail "seq2seq ranks differ"
grep -q "bleu" t4.log && pass "seq2seq evaluation reports BLEU" || fail "no BLEU in the seq2seq log"
s2s 4 tr 4
s2s 2 tr 8 --resume
same_model t1 tr && pass "seq2seq: 4 ranks to step 4 + resume on 2 ranks = 1 process" || fail "seq2seq resume across rank counts differs"

# 9. The communicator's own tests on 3 ranks: every collective, and a reduction in several buckets,
#    checked on every rank (one wrong value on one rank fails the job).
if mpi 3 "$root/.build/release/trainerPackageTests.xctest" TrainerKitTests.CommunicatorTests > comm.log 2>&1 \
   && [ "$(grep -c "Executed 2 tests, with 0 failures" comm.log)" -ge 3 ]; then
  pass "communicator tests pass on each of 3 ranks"
else
  fail "communicator tests under mpirun: $(grep -m3 "error" comm.log)"
fi

# 10. A model larger than one all-reduce bucket (3 buckets of ~1M values, started during the last
#     micro-batch's backward pass): 2 ranks still equal 1 process.
big=(--set model.channels=256 --set model.layers=3 --set schedule.max_steps=3)
"$trainer" train "${common[@]}" "${big[@]}" --set run_dir=g1 > g1.log 2>&1
run 2 g2 3 "${big[@]}"
same_model g1 g2 && pass "a 2.4M-parameter model (several buckets): 1 process = 2 ranks" || fail "several buckets: 1 vs 2 ranks differ"

# 11. precision: bf16 (matrix products on oneDNN) keeps the contract: 1, 2 and 4 ranks write identical
#     /model, and a 4-rank checkpoint resumed on 2 ranks equals one process.
if grep -qw avx512_bf16 /proc/cpuinfo; then
  "$trainer" train "${common[@]}" --set precision=bf16 --set run_dir=h1 --set schedule.max_steps=12 > h1.log 2>&1
  run 2 h2 12 --set precision=bf16
  run 4 h4 12 --set precision=bf16
  run 4 hr 6 --set precision=bf16
  run 2 hr 12 --set precision=bf16 --resume
  grep -q "precision bf16" h1.log && same_model h1 h2 && same_model h1 h4 && same_model h1 hr \
    && ! same_model w1 h1 && pass "precision bf16: 1, 2 and 4 ranks and a resume across rank counts write identical /model" \
    || fail "precision bf16 across ranks: $(grep -m1 "precision" h1.log)"
else
  echo "skipped: precision bf16 under mpirun needs a CPU with avx512_bf16, which this one lacks"
fi

# 12. blas_kernel under mpirun: with OPENBLAS_CORETYPE=Haswell inherited, `auto` re-executes every
#    rank with the CPU's best family before MPI starts (and the ranks still agree bit for bit with
#    one process); `inherit` keeps Haswell.
best=$("$trainer" bench kernels --list-kernels | tail -n 1)
if [ -n "$best" ] && [ "$best" != Haswell ] && "$trainer" bench kernels --list-kernels | grep -qx Haswell; then
  OPENBLAS_CORETYPE=Haswell "$trainer" train "${common[@]}" --set run_dir=b1 --set schedule.max_steps=4 > b1.log 2>&1
  OPENBLAS_CORETYPE=Haswell mpi 2 -x OPENBLAS_CORETYPE "$trainer" train "${common[@]}" --set run_dir=b2 --set schedule.max_steps=4 > b2.log 2>&1
  grep -q "OpenBLAS kernel $best (blas_kernel auto; replaces Haswell from OPENBLAS_CORETYPE=Haswell)" b2.log && same_model b1 b2 \
    && pass "blas_kernel auto: 2 ranks re-executed with $best, identical to one process" || fail "blas_kernel auto: $(grep -m1 "OpenBLAS kernel" b2.log)"
  OPENBLAS_CORETYPE=Haswell mpi 2 -x OPENBLAS_CORETYPE "$trainer" train "${common[@]}" --set run_dir=b3 --set schedule.max_steps=2 \
    --set blas_kernel=inherit > b3.log 2>&1
  grep -q "OpenBLAS kernel Haswell (blas_kernel inherit, from OPENBLAS_CORETYPE=Haswell; this CPU can run $best)" b3.log \
    && pass "blas_kernel inherit keeps Haswell and says what the CPU could run" || fail "blas_kernel inherit: $(grep -m1 "OpenBLAS kernel" b3.log)"
else
  echo "skipped: blas_kernel auto under mpirun needs a CPU that runs both Haswell and a faster family (best here: ${best:-none})"
fi

# 13. SIGTERM (a preemption) to launch/mpirun.sh while 2 ranks train: every rank finishes its step,
#     rank 0 writes the checkpoint of the step reached (not the last periodic one), the job exits
#     143, and resuming to the end gives the same /model as an uninterrupted run (0 steps lost).
stop=(--set schedule.max_steps=3000 --set schedule.decay_steps=3000 --set eval.interval=1000 --set checkpoint.interval=1000
      --set log_interval=1)
"$root/launch/mpirun.sh" -np 2 "$trainer" train "${common[@]}" "${stop[@]}" --set run_dir=s2 > s2.log 2>&1 &
job=$!
for _ in $(seq 600); do grep -q "^step 40:" s2.log 2>/dev/null && break; sleep 0.1; done
kill -TERM "$job"
status=0; wait "$job" || status=$?
stopped=$(grep -o "stopped by SIGTERM at step [0-9]*" s2.log | grep -o "[0-9]*$" || echo 0)
last=$(grep -o "^step [0-9]*: loss" s2.log | tail -1 | grep -o "[0-9]*" || echo -1)
if [ "$status" -eq 143 ] && [ "$stopped" -gt 0 ] && [ "$stopped" -eq $((last + 1)) ]; then
  pass "SIGTERM to mpirun: exit 143 with a checkpoint at step $stopped (the last step run was $last: 0 steps lost)"
else
  fail "SIGTERM to mpirun: exit $status, checkpoint step $stopped, last step run $last"
fi
end=$((stopped + 5))
"$root/launch/mpirun.sh" -np 2 "$trainer" train "${common[@]}" "${stop[@]}" --set schedule.max_steps=$end --set run_dir=s2 \
  --resume > s2r.log 2>&1 || true
"$trainer" train "${common[@]}" "${stop[@]}" --set schedule.max_steps=$end --set run_dir=s1 > s1.log 2>&1 || true
same_model s1 s2 && [ "$(grep -c '"loss"' s2/metrics.jsonl)" -eq "$end" ] \
  && pass "resumed after SIGTERM on 2 ranks = uninterrupted 1 process to step $end; metrics.jsonl has each step once" \
  || fail "resume after SIGTERM differs from the uninterrupted run, or metrics.jsonl repeats steps"

# 14. A full disk (simulated with a file-size limit: writes fail with EFBIG) is a one-line error and
#     exit 1, never a crash: prepare leaves no temporary file and no output; a checkpoint that does
#     not fit leaves the previous one intact.
mkdir -p full
status=0
( ulimit -f 100; trap '' XFSZ; exec "$trainer" prepare --input "$root/Sources/TrainerKit/Resources/shakespeare.txt" \
    --output full/data.h5 ) > full/prepare.out 2> full/prepare.err || status=$?
left=$(ls -A full | grep -v '^prepare\.' || true)
if [ "$status" -eq 1 ] && [ "$(wc -l < full/prepare.err)" -eq 1 ] && grep -q "full/data.h5: .*File too large" full/prepare.err \
   && [ -z "$left" ]; then
  pass "prepare on a full disk: exit 1, one line naming the file, nothing left behind"
else
  fail "prepare on a full disk: exit $status, $(head -3 full/prepare.err), left: $left"
fi
big=(--set model.channels=256 --set model.heads=4 --set checkpoint.interval=1)
"$trainer" train "${common[@]}" "${big[@]}" --set run_dir=fd --set schedule.max_steps=1 > fd.log 2>&1
status=0
( ulimit -f 25000; trap '' XFSZ; exec "$trainer" train "${common[@]}" "${big[@]}" --set run_dir=fd --set schedule.max_steps=3 \
    --resume ) > fd2.log 2> fd2.err || status=$?
step=$(h5dump -a /step fd/ckpt.h5 2>/dev/null | grep -o "(0): [0-9]*" | grep -o "[0-9]*$")
if [ "$status" -eq 1 ] && [ "$(wc -l < fd2.err)" -eq 1 ] && grep -q "fd/ckpt.h5: .*File too large" fd2.err && [ "$step" = 1 ] \
   && [ -z "$(ls -A fd | grep tmp)" ]; then
  pass "a checkpoint on a full disk: exit 1, one line, the previous checkpoint (step 1) intact, no temporary left"
else
  fail "a checkpoint on a full disk: exit $status, $(head -3 fd2.err), checkpoint step $step, files: $(ls -A fd)"
fi

# 15. A stopped rank (SIGSTOP: what a hung file system or a wedged node looks like) stops the job
#     within watchdog_seconds, with a line naming it, instead of hanging it forever.
mpi 2 "$trainer" train "${common[@]}" --set schedule.max_steps=3000 --set schedule.decay_steps=3000 --set eval.interval=1000 \
  --set log_interval=1 --set watchdog_seconds=3 --set run_dir=wd > wd.log 2>&1 &
job=$!
for _ in $(seq 600); do grep -q "^step 20:" wd.log 2>/dev/null && break; sleep 0.1; done
late=$(pgrep -f "^$trainer train .*run_dir=wd" | sort -n | tail -1)
start=$(date +%s)
kill -STOP "$late"
status=0; wait "$job" || status=$?
seconds=$(( $(date +%s) - start ))
kill -9 "$late" 2>/dev/null || true
if [ "$status" -ne 0 ] && [ "$seconds" -le 30 ] && grep -q "rank 1 did not check in within 3 s" wd.log; then
  pass "a stopped rank stops the job in $seconds s, named: $(grep -o 'error (rank 0 of 2): .*did not check in' wd.log | head -1 | cut -c21-)"
else
  fail "stopped rank: exit $status after $seconds s: $(grep -m1 'error' wd.log)"
fi

# 16. trace: 2 ranks with --trace write one Chrome trace-event file for steps 2-5 (both ranks' tracks;
#     each micro-batch's forward before its backward; every bucket's all-reduce inside its step and
#     never ending on one rank before it started on the other, which checks the clock alignment; the
#     evaluation and the checkpoint write of step 4), print the summary line, and train bit-identically
#     to the untraced 2-rank run of section 1.
run 2 traced 12 --trace --set trace_skip_steps=2 --set trace_steps=4 --set checkpoint.interval=4
cat > check_trace.py <<'PY'
import json, sys
trace = json.load(open(sys.argv[1]))
assert trace["displayTimeUnit"] == "ms", "displayTimeUnit"
events = trace["traceEvents"]
names = {e["pid"]: e["args"]["name"] for e in events if e["name"] == "process_name"}
assert names == {0: "rank 0", 1: "rank 1"}, names
spans = [e for e in events if e["ph"] == "X"]
def find(pid, name, step):
    found = [e for e in spans if e["pid"] == pid and e["name"] == name and e["args"].get("step") == step]
    assert len(found) == 1, (pid, name, step, len(found))
    return found[0]["ts"], found[0]["ts"] + found[0]["dur"]
buckets = {}
for pid in (0, 1):
    starts = [e["ts"] for e in spans if e["pid"] == pid]
    assert starts == sorted(starts), "rank %d: ts not monotone" % pid
    steps = sorted(e["name"] for e in spans if e["pid"] == pid and e["name"].startswith("step "))
    assert steps == ["step %d" % s for s in range(2, 6)], steps
    for step in range(2, 6):
        begin, end = find(pid, "step %d" % step, step)
        for k in ((0, 1) if pid == 0 else (2, 3)):
            forward, backward = find(pid, "forward %d" % k, step), find(pid, "backward %d" % k, step)
            assert forward[1] <= backward[0], ("forward after backward", pid, step, k)
            outer = find(pid, "micro-batch %d" % k, step)
            assert begin <= outer[0] <= forward[0] and backward[1] <= outer[1] <= end, ("nesting", pid, step, k)
        mine = [e for e in spans if e["pid"] == pid and e["tid"] >= 1 and e["args"]["step"] == step]
        assert mine, ("no bucket all-reduce", pid, step)
        for e in mine:
            assert e["name"] == "all-reduce bucket %d" % e["args"]["bucket"] and e["tid"] == 1 + e["args"]["bucket"], e
            assert e["args"]["bytes"] > 0 and begin <= e["ts"] and e["ts"] + e["dur"] <= end, ("bucket outside its step", pid, e)
            buckets[(pid, step, e["args"]["bucket"])] = (e["ts"], e["ts"] + e["dur"])
    find(pid, "evaluation", 4)
assert [e["pid"] for e in spans if e["name"] == "checkpoint write"] == [0], "one checkpoint write, on rank 0"
find(0, "checkpoint write", 4)
for (pid, step, bucket), (start, end) in buckets.items():
    other = buckets[(1 - pid, step, bucket)]
    assert end >= other[0] - 50, ("an all-reduce ended on rank %d before rank %d started it" % (pid, 1 - pid), step, bucket)
print("%d spans, %d bucket all-reduces" % (len(spans), len(buckets)))
PY
if same_model w2 traced && grep -q "^trace: traced/trace.json, steps 2–5, 2 ranks (clocks aligned within .*all-reduce in flight" traced.log \
   && python3 check_trace.py traced/trace.json > traced.check 2>&1; then
  pass "trace: 2 ranks write one Chrome trace ($(cat traced.check)); /model identical to the untraced run"
else
  fail "trace: $(tail -2 traced.check 2>/dev/null) $(grep -m1 '^trace:' traced.log) $(same_model w2 traced || echo '/model differs from the untraced run')"
fi

# 17. Ranks on different machines talk over TCP. Open MPI's TCP transport alone (--mca pml ob1
#     --mca btl tcp,self: no shared memory; over the loopback interface, which every machine has)
#     takes that path on one machine: 2 ranks write /model bit-identical to 1 process. With `self`
#     alone the 2 ranks cannot even start, so the run did talk over TCP.
tcp=(--mca pml ob1 --mca btl tcp,self --mca btl_tcp_if_include lo)
mpi 2 "${tcp[@]}" "$trainer" train "${common[@]}" --set run_dir=tcp --set schedule.max_steps=12 > tcp.log 2>&1 \
  || echo "run tcp: exit $?" >> tcp.log
set +e
mpi 2 --mca pml ob1 --mca btl self "$trainer" train "${common[@]}" --set run_dir=selfonly --set schedule.max_steps=2 \
  > selfonly.log 2>&1
status=$?
set -e
same_model w1 tcp && [ $status -ne 0 ] && [ $status -ne 124 ] \
  && pass "2 ranks over TCP only (btl tcp,self) write /model identical to 1 process (btl self alone: exit $status)" \
  || fail "TCP: $(tail -2 tcp.log) (btl self alone: exit $status)"

# 18. As on a cluster: launch/install.sh --prefix puts bin/trainer and share/trainer/{configs,launch}
#     in a folder of their own (--binary: the release build; install.sh's own build, with the Swift
#     runtime linked in, is a second full build), and the installed binary runs from a folder
#     outside the clone: mpirun with a hostfile (`localhost slots=2`, as launch/hostfile.example
#     names real nodes), 2 ranks over TCP, /model bit-identical to 1 process; `bench step` finds its
#     default config in share/trainer/configs.
"$root/launch/install.sh" --prefix "$work/prefix" --binary "$trainer" > install.log 2>&1 || echo "install: exit $?" >> install.log
mkdir -p node
echo "localhost slots=2" > node/hosts
( cd node && timeout 300 mpirun --hostfile hosts -np 2 --bind-to none "${tcp[@]}" -x OPENBLAS_NUM_THREADS \
    "$work/prefix/bin/trainer" train "${common[@]}" --set data.dataset="$work/data.h5" --set run_dir=hf \
    --set schedule.max_steps=12 ) > hf.log 2>&1 || echo "run hf: exit $?" >> hf.log
( cd node && "$work/prefix/bin/trainer" bench step --threads 1 --steps 1 --set model.layers=1 --set model.channels=32 \
    --set model.heads=2 --set data.batch_size=4 --set data.micro_batch_size=4 --set data.block_size=32 ) > bench.log 2>&1 || true
if same_model w1 node/hf && [ -f "$work/prefix/share/trainer/configs/default.yaml" ] && [ -x "$work/prefix/share/trainer/launch/mpirun.sh" ] \
   && grep -q "a node needs" install.log && grep -q "^trainer bench step: $work/prefix/share/trainer/configs/gpt-full.yaml" bench.log; then
  pass "installed binary, mpirun --hostfile (localhost slots=2) over TCP from another folder: /model identical to 1 process"
else
  fail "installed binary with a hostfile: $(tail -2 install.log) $(tail -2 hf.log) $(head -2 bench.log)"
fi

if [ $failures -ne 0 ]; then echo "test-mpi: $failures failure(s)"; exit 1; fi
echo "test-mpi: all passed"
