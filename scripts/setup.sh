#!/usr/bin/env bash
# Create .venv and install openclap with its test dependencies (CPU-only torch, pinned first so that
# no multi-GB CUDA build is pulled in). Usage: bash scripts/setup.sh [PYTHON]
set -euo pipefail
cd "$(dirname "$0")/.."
python="${1:-python3}"
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q --compile torch==2.13.0
.venv/bin/python -m pip install -q --compile -e '.[dev]'
.venv/bin/python -c "import openclap, torch; print('openclap', openclap.__version__, 'torch', torch.__version__)"
