#!/usr/bin/env bash
# The whole test suite: installs missing system packages, builds in release mode, runs the unit
# tests (kernels, gradient checks, the JAX references, HDF5, MPI, training and resume) once per
# OpenBLAS kernel family that matters on this CPU, then the multi-process tests under mpirun
# (launch/test-mpi.sh).
#
# Unit tests must not depend on the last bits of a BLAS kernel's rounding, so they run once per
# family: OPENBLAS_CORETYPE=Haswell (AVX2, what many CI images force) and each faster family the CPU
# runs (SkylakeX on AVX-512 CPUs). A CPU that lacks AVX2 or AVX-512 skips
# those runs with a printed reason.
source "$(dirname "$0")/common.sh"
swift build -c release --build-tests
trainer="$root/.build/release/trainer"

# Haswell, and every faster family this CPU runs (SkylakeX).
runnable=$("$trainer" bench kernels --list-kernels)
kernels=()
if grep -qx Haswell <<< "$runnable"; then
  kernels+=(Haswell $(sed -n '/^Haswell$/,$p' <<< "$runnable" | tail -n +2))
else
  echo "test.sh: skipping the unit-test run with OPENBLAS_CORETYPE=Haswell: this CPU lacks AVX2/FMA"
fi
grep -qx SkylakeX <<< "$runnable" || echo "test.sh: skipping the unit-test runs with AVX-512 kernels (SkylakeX): this CPU lacks avx512f"
if ((${#kernels[@]} == 0)); then kernels=("${OPENBLAS_CORETYPE:-}"); fi
for kernel in "${kernels[@]}"; do
  echo "test.sh: unit tests with OPENBLAS_CORETYPE=${kernel:-<unset>}"
  OPENBLAS_CORETYPE="$kernel" swift test -c release --skip-build
done
"$root/launch/test-mpi.sh"
