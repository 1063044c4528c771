#!/usr/bin/env bash
# Installs whatever is missing of the system packages the trainer needs (Debian/Ubuntu), and checks
# that a Swift 6 toolchain is on PATH (or at /opt/swift). Safe to run again: it installs nothing
# that is already there.
set -euo pipefail

packages=(libopenmpi-dev openmpi-bin libopenblas-dev libhdf5-dev hdf5-tools libdnnl-dev pkg-config)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}" >&2
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v swift >/dev/null 2>&1; then
  if [ -x /opt/swift/usr/bin/swift ]; then
    echo "install-deps: add /opt/swift/usr/bin to PATH (done for this script's children)" >&2
  else
    echo "install-deps: no Swift toolchain found; install Swift 6 from https://www.swift.org/install/linux/ and put it on PATH" >&2
    exit 1
  fi
fi
