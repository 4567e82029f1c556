#!/usr/bin/env bash
# Triton end to end, on a machine that has it (not run where seg is developed: the ONNX Runtime
# backend ships in NVIDIA's containers only). Exports a model repository, starts the server on it
# (a local tritonserver, else NVIDIA's container via docker), sends real frames, compares labels
# with seg run's. Output: benchmarks/results/triton_check.txt.
#   bash benchmarks/triton_check.sh [MODEL.onnx] [container tag, default 25.01-py3]
set -euo pipefail
cd "$(dirname "$0")/.."
model="${1:-runs/simple_unet/simple_unet.e2e.onnx}"
tag="${2:-25.01-py3}"
repo="$(mktemp -d)"
name="$(basename "$model" .onnx | tr . _)"
out=benchmarks/results/triton_check.txt
seg export --onnx "$model" --format triton --repository "$repo" --max-batch 8
if command -v tritonserver >/dev/null; then
    tritonserver --model-repository "$repo" >"$repo/server.log" 2>&1 &
    server=$!
    trap 'kill $server 2>/dev/null; rm -rf "$repo"' EXIT
else
    gpus=$(command -v nvidia-smi >/dev/null && echo "--gpus all" || echo "")
    cid=$(docker run -d --rm $gpus -p 8000:8000 -v "$repo:/models" "nvcr.io/nvidia/tritonserver:$tag" \
          tritonserver --model-repository /models)
    trap 'docker stop "$cid" >/dev/null; rm -rf "$repo"' EXIT
fi
{ date -u; python benchmarks/triton_check.py --repository "$repo" --model "$name"; } | tee "$out"
