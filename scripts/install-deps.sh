#!/usr/bin/env bash
# Installs the Debian packages cellgraph needs to build and test. Idempotent: packages already
# present are skipped, and nothing is done when all are there. Works as root on a fresh machine
# (uses sudo otherwise, when available).
set -euo pipefail

PACKAGES=(
  build-essential      # gcc, make
  cmake                # >= 3.25 (Debian bookworm ships 3.25.1)
  pkg-config
  libopenblas-openmp-dev  # OpenBLAS built with OpenMP, sharing cellgraph's thread pool
  libcjson-dev         # safetensors JSON headers
  zlib1g-dev           # gzip-compressed source files
  libyaml-dev          # yeast-GEM model
  libcmocka-dev        # unit tests
  libplplot-dev        # PNG plots (loss curves, predicted vs measured)
  plplot-driver-cairo  # PLplot's pngcairo device
  libomp-dev           # OpenMP for clang builds (the fuzz build)
  clang                # libFuzzer harnesses (make fuzz, make test's fuzz-smoke)
  libclang-rt-dev      # libFuzzer and the sanitizer runtimes for clang (libclang-rt-14-dev on bookworm)
  strace               # tests: kills a command at a chosen system call (tests/test_crash.c)
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "install-deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
