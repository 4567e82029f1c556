#!/usr/bin/env bash
# GPU smoke check: seg doctor, then the gpu-marked tests (CUDA vs CPU, TensorRT cache and profiles,
# training on CUDA, bench rows), with their output kept in benchmarks/results/gpu_smoke.txt.
# On a machine without usable CUDA the tests are skipped and say why. Run it from the repo root
# with the full install: bash benchmarks/gpu_smoke.sh
set -uo pipefail
cd "$(dirname "$0")/.."
py="${PYTHON:-.venv/bin/python}"
out=benchmarks/results/gpu_smoke.txt
{
    echo "# $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
    "$py" -m seg.cli doctor
    "$py" -m pytest -v -rs -p no:cacheprovider -m gpu tests/test_gpu.py
} 2>&1 | tee "$out"
exit "${PIPESTATUS[0]}"
