#!/usr/bin/env bash
# Measures `trainer prepare` on a ~70 MB corpus (the built-in Shakespeare repeated 60 times):
# prints the end-to-end rate (two streaming passes, SHA-256, deflate) and the tokenizing rate alone.
source "$(dirname "$0")/common.sh"
swift build -c release --product trainer
folder="$(mktemp -d)"
trap 'rm -rf "$folder"' EXIT
for _ in $(seq 1 60); do cat Sources/TrainerKit/Resources/shakespeare.txt; done > "$folder/corpus.txt"
.build/release/trainer prepare --input "$folder/corpus.txt" --output "$folder/corpus.h5"
