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
# The browser test (tests/serve/test_browser.py) drives Debian's chromium through Playwright, whose own
# browser download does not work here; install it when missing (~90 s), else that test is skipped.
if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null; then
  as_root=""
  [ "$(id -u)" -eq 0 ] || as_root="sudo -n"
  echo "installing Debian chromium for the browser test ..."
  if ! { $as_root apt-get update -qq && $as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }; then
    echo "warning: could not install chromium; tests/serve/test_browser.py will be skipped" >&2
  fi
fi
.venv/bin/python -c "import openclap, torch; print('openclap', openclap.__version__, 'torch', torch.__version__)"
