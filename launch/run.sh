#!/usr/bin/env bash
# The main job: installs missing system packages, builds in release mode, and trains the default
# config data-parallel over 4 MPI ranks (`mpirun -np 4 trainer`: a character-level GPT on the
# built-in Shakespeare corpus), then prints a sample. RANKS=N picks another rank count (1, 2 or 4
# for the default config); it starts over each time (--overwrite) unless given --resume; extra
# arguments go to `trainer train`, e.g.
#   launch/run.sh --config configs/nanogpt-cpu.yaml        (RANKS=1: 1 micro-batch per step)
source "$(dirname "$0")/common.sh"
swift build -c release --product trainer
# The demo starts over each time (--overwrite) unless told to resume.
start=(--overwrite)
for argument in "$@"; do case "$argument" in --resume*|--overwrite) start=() ;; esac; done
exec "$root/launch/mpirun.sh" -np "${RANKS:-4}" .build/release/trainer train "${start[@]}" "$@"
