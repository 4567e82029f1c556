#!/usr/bin/env bash
# GPU smoke check: seg doctor, then the gpu-marked tests (CUDA vs CPU, TensorRT cache and profiles,
# training on CUDA, bench rows). On a GPU machine the output is kept in
# benchmarks/results/gpu-<gpu name>/gpu_smoke.txt. The checks skip only where an independent probe
# (nvidia-smi, the provider's own library) says the GPU or TensorRT is absent; any failure,
# `seg doctor`'s included, makes the script fail. Run it from the repo root with the full install:
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
    status=0
    echo "# $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
    "$py" -m seg.cli doctor || { echo "seg doctor failed"; status=1; }
    # TensorRT: runs wherever libnvinfer is present, and says so where it is not
    if "$py" -c "import ctypes; ctypes.CDLL('libnvinfer.so.10')" 2>/dev/null; then
        echo "# TensorRT: libnvinfer.so.10 found; its checks run below"
    else
        echo "# TensorRT: libnvinfer.so.10 not found; its checks are skipped (install TensorRT 10 to run them)"
    fi
    "$py" -m pytest -v -s -rs -n 0 -p no:cacheprovider -m gpu tests/test_gpu.py || status=1  # -s: the figures they print; -n 0: one process, timings alone on the GPU
    exit $status
} 2>&1 | tee "$out"
exit "${PIPESTATUS[0]}"
