#!/usr/bin/env bash
# The benchmark environment for bench_fit_vs_openretina.py: openretina 1.1.1 from PyPI in its own
# virtual environment (benchmarks/.venv, git-ignored), never a dependency of retinacodec.
#
# Working combination (checked with openretina 1.1.1): the CPU torch 2.13.0 wheel, openretina with its
# dependencies, then torchvision and torchaudio removed. openretina requires both, but their PyPI wheels
# do not work with this torch: torchvision 0.29.1 pins torch 2.14.1 (pip would pull the CUDA build),
# 0.28.0 installs but its compiled ops fail to load ("operator torchvision::nms does not exist"), which
# breaks `import lightning` (torchmetrics imports torchvision when present). openretina's models,
# data loaders and training do not import either (only its sridhar_2025 / karamanlis_2024 loaders do).
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
$PY -m venv .venv
.venv/bin/pip install torch==2.13.0
printf 'torch==2.13.0\ntorchvision==0.28.0\n' > .venv/constraints.txt
.venv/bin/pip install -c .venv/constraints.txt openretina==1.1.1
.venv/bin/pip uninstall -y torchvision torchaudio
.venv/bin/python -c "import openretina, lightning, torch; from openretina.models.core_readout import UnifiedCoreReadout; \
print('openretina', openretina.__version__ if hasattr(openretina, '__version__') else '1.1.1', 'torch', torch.__version__)"
