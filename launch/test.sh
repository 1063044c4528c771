#!/usr/bin/env bash
# The whole test suite: installs missing system packages, builds in release mode, runs the unit
# tests (kernels, gradient checks, the JAX references, HDF5, MPI, training and resume), then the
# multi-process tests under mpirun (launch/test-mpi.sh).
source "$(dirname "$0")/common.sh"
swift build -c release --build-tests
swift test -c release --skip-build
"$root/launch/test-mpi.sh"
