#!/usr/bin/env bash
# GPU smoke check: seg doctor, then the gpu-marked tests (CUDA vs CPU, TensorRT cache and profiles,
# training on CUDA, bench rows). On a GPU machine the output is kept in
# benchmarks/results/gpu-<gpu name>/gpu_smoke.txt; without usable CUDA the tests are skipped, say
# why, and nothing is written. Run it from the repo root with the full install:
#     bash benchmarks/gpu_smoke.sh            (PYTHON=... to use another interpreter)
set -uo pipefail
cd "$(dirname "$0")/.."
py="${PYTHON:-.venv/bin/python}"
gpu="$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 | tr 'A-Z ' 'a-z-')"
out=/dev/null
if [ -n "$gpu" ]; then
    mkdir -p "benchmarks/results/gpu-$gpu" && out="benchmarks/results/gpu-$gpu/gpu_smoke.txt"
fi
{
    echo "# $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
    "$py" -m seg.cli doctor
    "$py" -m pytest -v -rs -p no:cacheprovider -m gpu tests/test_gpu.py
} 2>&1 | tee "$out"
exit "${PIPESTATUS[0]}"
