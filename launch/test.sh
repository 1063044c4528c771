#!/usr/bin/env bash
# The whole test suite: installs missing system packages, builds in release mode, runs the unit
# tests (kernels, gradient checks, the JAX reference fixture, HDF5, MPI).
source "$(dirname "$0")/common.sh"
swift build -c release --build-tests
swift test -c release --skip-build
