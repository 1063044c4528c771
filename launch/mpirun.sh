#!/usr/bin/env bash
# mpirun with sane defaults for the trainer.
#   launch/mpirun.sh [-np N] [--hostfile FILE] PROGRAM [ARGS...]
# - N defaults to $RANKS, else 4.
# - One machine: OPENBLAS_NUM_THREADS = cores / N (at least 1) unless already set; each rank is
#   bound to its own cores; --oversubscribe (and no binding) only when N exceeds the cores.
# - With a hostfile: Open MPI places ranks by the hostfile's slots; OPENBLAS_NUM_THREADS defaults
#   to 1 (one rank per core) unless set. The environment is forwarded to every rank (-x).
# - A SIGTERM or SIGINT to this script stops training at the next step with a checkpoint (exit 143
#   / 130); see the end.
# - The variables that let Open MPI run as root are set only when running as root.
set -euo pipefail
ranks="${RANKS:-4}"
hostfile=""
while [ $# -gt 0 ]; do
  case "$1" in
    -np|-n) ranks="$2"; shift 2 ;;
    --hostfile|-hostfile) hostfile="$2"; shift 2 ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || { echo "usage: launch/mpirun.sh [-np N] [--hostfile FILE] PROGRAM [ARGS...]" >&2; exit 2; }
if [ "$(id -u)" -eq 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
args=(-np "$ranks")
if [ -n "$hostfile" ]; then
  export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"
  args+=(--hostfile "$hostfile" --map-by "slot:PE=$OPENBLAS_NUM_THREADS" --bind-to core)
else
  cores="$(nproc)"
  if [ "$ranks" -gt "$cores" ]; then
    export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"
    args+=(--oversubscribe --bind-to none)
  else
    export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-$((cores / ranks))}"
    args+=(--map-by "slot:PE=$OPENBLAS_NUM_THREADS" --bind-to core)
  fi
fi
args+=(-x OPENBLAS_NUM_THREADS)
for variable in PATH LD_LIBRARY_PATH OPENBLAS_CORETYPE TRAINER_FAIL; do
  if [ -n "${!variable:-}" ]; then args+=(-x "$variable"); fi
done
# Stop signals: mpirun itself answers SIGTERM/SIGINT by killing the ranks a second later, but it
# passes SIGUSR1/SIGUSR2 on to every rank. So a TERM (INT) to this script becomes a USR1 (USR2) to
# mpirun, which the trainer treats as TERM (INT): every rank finishes its step, rank 0 writes the
# checkpoint, and the job exits 143 (130). A second signal kills the job at once.
mpirun "${args[@]}" "$@" &
job=$!
stops=0
forward() {
  stops=$((stops + 1))
  if [ "$stops" -eq 1 ]; then kill -"$1" "$job" 2>/dev/null || true; else kill -TERM "$job" 2>/dev/null || true; fi
}
trap 'forward USR1' TERM
trap 'forward USR2' INT
while true; do
  status=0
  wait "$job" || status=$?
  kill -0 "$job" 2>/dev/null || exit "$status"
done
