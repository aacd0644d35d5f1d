#!/bin/sh
# Build the benchmark-only reference environment (never a dependency of openclap):
#   sh benchmarks/reference_env/build.sh [/work/benchenv-h21]
# A venv that sees the project venv's packages (torch 2.13 CPU, numpy, soundfile, soxr, librosa) through a
# .pth file, with the references installed without their dependencies, the transformers they were
# published with (4.57.6, which needs tokenizers 0.22 and huggingface_hub < 1), and the torchaudio and
# torchvision stand-ins of this folder (torchaudio's registry builds and PyPI's CUDA torchvision do not
# import with this CPU torch).
set -e
ENV=${1:-/work/benchenv-h21}
HERE=$(cd "$(dirname "$0")" && pwd)
PROJECT_VENV=$(cd "$HERE/../.." && .venv/bin/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
.venv/bin/python -m venv "$ENV" 2>/dev/null || "$HERE/../../.venv/bin/python" -m venv "$ENV"
SITE=$("$ENV/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
echo "$PROJECT_VENV" > "$SITE/zz_project_venv.pth"
echo "$HERE" > "$SITE/zz_torchaudio_shim.pth"
"$ENV/bin/pip" install -q --no-deps msclap==1.3.4 torchlibrosa==0.1.0 transformers==4.57.6 \
    tokenizers==0.22.1 "huggingface_hub<1.0"
# laion_clap 1.1.7 (the parity vectors' version) and what its modules import at load time beyond the project
# venv (h5py, pandas, ftfy, wget); torchvision is the stand-in above (import only: the unfused path and the
# text path never call it).
"$ENV/bin/pip" install -q --no-deps laion-clap==1.1.7 h5py==3.16.0 pandas==3.1.1 pytz==2026.6 ftfy==6.3.1 \
    wcwidth==0.9.5 wget==3.2
