#!/usr/bin/env bash
# GPU check: the CUDA tests and the GPU rows of the scale benchmark, in under 8 minutes on one GPU.
#
# Needs a machine with CUDA, torch and torch-geometric (and pandas, pyarrow, typer, tensorboard,
# tqdm, scikit-learn, networkx, matplotlib, PyYAML: the project's runtime dependencies); the
# package runs from this source tree, nothing is installed. Results: the tests' log and the scale
# benchmark's JSON under runs/bench/ (and under $OUT when that is set, e.g. by a remote runner).
#
#     bash scripts/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
PY="${PYTHON:-python3}"
RESULTS="${OUT:-runs/bench}"
mkdir -p "$RESULTS" runs/bench

"$PY" - <<'PYCODE'
import torch
assert torch.cuda.is_available(), "no CUDA device: the GPU check needs one"
print("device:", torch.cuda.get_device_name(0), "| torch", torch.__version__)
PYCODE

# 1. the CUDA tests (train/evaluate on the GPU agree with the CPU; GRO on the GPU)
timeout 180 "$PY" -m pytest -q -p no:cacheprovider tests/test_cuda.py 2>&1 | tee "$RESULTS/cuda_tests.log"

# 2. ml-1m: NDCG@10 of a full training run plus epoch / evaluation seconds and peak memory;
#    ml-20m: one epoch and one full evaluation of every user (the large-data config)
timeout 150 "$PY" scripts/bench_scale.py --device cuda --presets ml-1m --quality synthetic:ml-1m \
    --out "$RESULTS" 2>&1 | tee "$RESULTS/scale_ml1m.log"
timeout 150 "$PY" scripts/bench_scale.py --device cuda --presets ml-20m --config configs/large.yaml \
    --out "$RESULTS" 2>&1 | tee "$RESULTS/scale_ml20m.log"
cp -f "$RESULTS"/scale__*.json runs/bench/ 2>/dev/null || true
