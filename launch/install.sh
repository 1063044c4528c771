#!/usr/bin/env bash
# Builds the trainer once and installs it where cluster nodes can run it, without a Swift toolchain
# or the build folder:
#   launch/install.sh [--prefix DIR] [--binary FILE]
# - builds in release mode with the Swift runtime and Foundation linked in (-static-stdlib), in a
#   build folder of its own (.build/install), so that it never forces the everyday build
#   (.build/release) to start over, nor the other way round;
# - installs DIR/bin/trainer, DIR/share/trainer/configs/*.yaml and DIR/share/trainer/launch/
#   (mpirun.sh, slurm.sbatch, hostfile.example); DIR defaults to $HOME/.local;
# - prints `trainer --version` and the runtime packages a node needs (Open MPI, OpenBLAS, HDF5,
#   oneDNN), read from the installed binary's shared libraries.
# --binary FILE installs FILE instead of building (launch/test-mpi.sh installs the release build).
# The built-in corpus is inside the binary. The binary is built for this machine's CPU
# (-target-cpu native; on a CPU without all of its extensions it refuses to start, naming them);
# for nodes with other CPUs, build with TRAINER_TARGET_CPU=generic (or name the nodes' CPU, e.g.
# TRAINER_TARGET_CPU=skylake-avx512).
set -euo pipefail
prefix="$HOME/.local"
binary=""
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix="${2:?install.sh: --prefix needs a folder}"; shift 2 ;;
    --prefix=*) prefix="${1#--prefix=}"; shift ;;
    --binary) binary="${2:?install.sh: --binary needs a file}"; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "install.sh: unknown argument $1 (usage: launch/install.sh [--prefix DIR] [--binary FILE])" >&2; exit 2 ;;
  esac
done

# Relative paths are the caller's (common.sh moves to the repository root).
case "$prefix" in /*) ;; *) prefix="$PWD/$prefix" ;; esac
case "$binary" in /*|"") ;; *) binary="$PWD/$binary" ;; esac
source "$(dirname "$0")/common.sh"

if [ -z "$binary" ]; then
  build=(swift build -c release --product trainer --scratch-path "$root/.build/install")
  if [ "$(uname -s)" = Linux ]; then build+=(--static-swift-stdlib); fi
  echo "install.sh: ${build[*]}"
  # (Linking Foundation statically warns about its use of mktemp: not ours, and harmless.)
  if ! "${build[@]}" 2>&1 | { grep -v "the use of .mktemp' is dangerous" || true; }; then
    echo "install.sh: the build failed" >&2
    exit 1
  fi
  binary="$("${build[@]}" --show-bin-path)/trainer"
fi
[ -x "$binary" ] || { echo "install.sh: $binary is not an executable file" >&2; exit 1; }

mkdir -p "$prefix/bin" "$prefix/share/trainer/configs" "$prefix/share/trainer/launch"
prefix="$(cd "$prefix" && pwd)"
# A new file renamed over the old one: a node running the old binary keeps it.
cp "$binary" "$prefix/bin/.trainer.new"
chmod 755 "$prefix/bin/.trainer.new"
mv -f "$prefix/bin/.trainer.new" "$prefix/bin/trainer"
cp configs/*.yaml "$prefix/share/trainer/configs/"
cp launch/mpirun.sh launch/slurm.sbatch launch/hostfile.example "$prefix/share/trainer/launch/"
echo "install.sh: installed $prefix/bin/trainer, $prefix/share/trainer/configs and $prefix/share/trainer/launch"
"$prefix/bin/trainer" --version | sed 's/^/  /'

# The runtime packages: the Debian/Ubuntu packages that hold the binary's own shared libraries
# (their dependencies come with them), plus openmpi-bin for mpirun and orted on every node.
libraries=$(ldd "$prefix/bin/trainer" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }')
if command -v readelf >/dev/null 2>&1; then
  needed=$(readelf -d "$prefix/bin/trainer" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
  libraries=$(for library in $libraries; do
      if grep -qxF "$(basename "$library")" <<< "$needed"; then echo "$library"; fi
    done)
fi
if ldd "$prefix/bin/trainer" | grep -q "libswiftCore"; then
  echo "install.sh: note: this binary loads the Swift runtime from $(ldd "$prefix/bin/trainer" | awk '/libswiftCore/ { print $3 }'): nodes need that folder too"
fi
echo "install.sh: $(ldd "$prefix/bin/trainer" | wc -l) shared libraries in all (ldd)"
if command -v dpkg-query >/dev/null 2>&1; then
  packages=$(for library in $libraries; do
      dpkg-query -S "$(readlink -f "$library")" 2>/dev/null || dpkg-query -S "$library" 2>/dev/null
    done | cut -d: -f1 | sort -u | tr '\n' ' ')
  packages="openmpi-bin ${packages% }"
  echo "install.sh: a node needs these packages: $packages"
  echo "  sudo apt-get install --no-install-recommends $packages"
else
  echo "install.sh: a node needs mpirun (Open MPI) and these libraries:"
  for library in $libraries; do echo "  $library"; done
fi
