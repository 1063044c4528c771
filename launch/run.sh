#!/usr/bin/env bash
# The main job: installs missing system packages, builds in release mode, and trains the default
# config (a character-level GPT on the built-in Shakespeare corpus), then prints a sample.
# Extra arguments go to `trainer train`, e.g. launch/run.sh --config configs/nanogpt-cpu.yaml
source "$(dirname "$0")/common.sh"
swift build -c release --product trainer
exec .build/release/trainer train "$@"
