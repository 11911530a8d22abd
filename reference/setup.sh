#!/usr/bin/env bash
# Creates reference/.venv with the Python reference tooling: torch, torch_geometric, numpy, safetensors
# (from PyPI). Only the parity fixtures and the peer benchmarks need it; nothing in the C build or the
# C tests does (the fixtures are committed).
#
# NOTE: torch is a large download (about 1-3 GB with its CUDA libraries from PyPI). For a CPU-only torch
# (a few hundred MB) set TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu before running this.
#
# Idempotent: an existing venv in which every package already imports is left as it is.
# Usage: reference/setup.sh            then  reference/.venv/bin/python reference/make_fixtures.py
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$HERE/.venv"
PY="${PYTHON:-python3}"
CHECK='import torch, torch_geometric, numpy, safetensors; print("torch", torch.__version__, "| torch_geometric", torch_geometric.__version__, "| numpy", numpy.__version__, "| safetensors", safetensors.__version__)'

if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "$CHECK" 2>/dev/null; then
    echo "reference/.venv is ready"
    exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
    echo "creating $VENV"
    "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --upgrade pip
echo "installing torch (a large download: about 1-3 GB) ..."
if [ -n "${TORCH_INDEX_URL:-}" ]; then
    "$VENV/bin/python" -m pip install --index-url "$TORCH_INDEX_URL" torch
else
    "$VENV/bin/python" -m pip install torch
fi
"$VENV/bin/python" -m pip install torch_geometric numpy safetensors
"$VENV/bin/python" -c "$CHECK"
echo "reference/.venv is ready"
