"""GPU smoke check (CUDA and TensorRT): skipped, with the reason, where no usable CUDA is.

    bash benchmarks/gpu_smoke.sh     # on a GPU machine: this module + seg doctor -> benchmarks/results/gpu-<name>/

Each check compares the GPU against the CPU on the same inputs, so a GPU path that quietly ran on
the CPU, used a stale TensorRT engine or rebuilt engines per frame size is caught. Small random-init
models and inputs: a few minutes on one GPU, most of it TensorRT engine builds.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pytest


def _absent(provider: str) -> str | None:
    """Why ``provider`` cannot run on this machine, judged without seg's own code (so that a bug in
    seg's session factory fails these checks instead of skipping them): the driver answers
    nvidia-smi, and ONNX Runtime's provider library loads with its dependencies."""
    import ctypes
    import shutil
    from pathlib import Path

    import onnxruntime as ort

    if shutil.which("nvidia-smi") is None or subprocess.run(["nvidia-smi", "-L"], capture_output=True).returncode:
        return "no NVIDIA driver (nvidia-smi -L fails)"
    try:
        ort.preload_dlls()
    except Exception:
        pass
    lib = next(iter((Path(ort.__file__).parent / "capi").glob(f"*onnxruntime_providers_{provider}.*")), None)
    if lib is None:
        return f"this onnxruntime has no {provider} provider (the GPU build is onnxruntime-gpu)"
    try:
        ctypes.CDLL(str(lib))
    except OSError as e:
        return f"its library does not load: {e}"
    return None


CUDA_PROBLEM = _absent("cuda")
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(CUDA_PROBLEM is not None, reason=f"no usable CUDA: {CUDA_PROBLEM}")]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """simple_unet (random init) exported with CPU *and* CUDA parity checks, plus its fp16/e2e variants."""
    import torch

    from seg.export import export_checkpoint
    from seg.layout import variant_path

    runs = tmp_path_factory.mktemp("gpu_runs")
    out = variant_path(runs, "simple_unet")
    report = export_checkpoint("simple_unet", out=out, runs=runs, random_init=True,
                               verify_shapes=((2, 3, 128, 128), (1, 3, 97, 131)))
    assert torch.cuda.is_available()
    return runs, out, report


def _labels(path, provider, x, **kw):
    from seg.infer.session import create_session

    sess, used = create_session(path, provider, **kw)
    assert used == provider
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


def test_export_parity_on_cuda(exported):
    _, _, report = exported
    cuda = [c for c in report["verification"]["checks"] if c["provider"] == "CUDAExecutionProvider"]
    assert len(cuda) == 2 and all(c["passed"] and c["argmax_agreement"] >= 0.999 for c in cuda), cuda


def test_cuda_matches_cpu_for_fp32_fp16_and_e2e(exported, synth_root):
    from seg.data import VOCSegmentation
    from seg.infer.preprocess import model_input
    from seg.layout import variant_path
    from seg.metadata import read_meta
    from seg.variants import make_variant

    runs, fp32, _ = exported
    val = VOCSegmentation(synth_root, "2007", "val")
    for precision, e2e in (("fp16", False), ("fp32", True), ("fp16", True)):
        make_variant(fp32, variant_path(runs, "simple_unet", precision, e2e), precision=precision, e2e=e2e,
                     heldout=val, max_drop=100, force=True)
    image = val.load(0)[0]
    for precision, e2e, floor in (("fp32", False, 0.999), ("fp32", True, 0.999), ("fp16", False, 0.99),
                                  ("fp16", True, 0.99)):
        path = variant_path(runs, "simple_unet", precision, e2e)
        x = model_input(image, read_meta(path))
        cpu, gpu = _labels(path, "cpu", x), _labels(path, "cuda", x)
        if not e2e:
            cpu, gpu = cpu.argmax(1), gpu.argmax(1)
        assert (cpu == gpu).mean() >= floor, (precision, e2e)


def test_seg_run_cuda_masks_match_cpu(exported, tmp_path):
    from seg.data import read_mask
    from seg.data.synth import write_video

    runs, fp32, _ = exported
    video = write_video(tmp_path / "v.mp4", frames=5, width=160, height=120, progress=False)
    for p in ("cpu", "cuda"):
        r = subprocess.run([sys.executable, "-m", "seg.cli", "run", "--model", str(fp32), "--video", str(video),
                            "--provider", p, "--imgsz", "128", "--out", str(tmp_path / f"{p}.mp4"),
                            "--save-masks", str(tmp_path / p)], capture_output=True, text=True)
        assert r.returncode == 0 and f"on {p}" in r.stderr, r.stderr
    for name in sorted(p.name for p in (tmp_path / "cpu").iterdir()):
        assert (read_mask(tmp_path / "cpu" / name) == read_mask(tmp_path / "cuda" / name)).mean() >= 0.999


@pytest.mark.skipif(_absent("tensorrt") is not None, reason="TensorRT is not installed here (libnvinfer)")
def test_tensorrt_cache_hit_new_weights_and_mixed_sizes(tmp_path):
    import torch

    from seg.export import to_onnx
    from seg.infer.session import ShapeRange, create_session
    from seg.models import get_model

    path, cache = tmp_path / "m.onnx", tmp_path / "trt"
    shapes = ShapeRange((256, 256))

    def export(seed):
        torch.manual_seed(seed)
        to_onnx(get_model("simple_unet").eval(), path, name="simple_unet", verify_shapes=None, simplify=False)

    def engines():  # name and write time: ONNX Runtime rewrites a rebuilt engine under the same name
        return sorted((str(p.relative_to(cache)), p.stat().st_mtime_ns) for p in cache.rglob("*.engine"))

    export(1)
    t = time.perf_counter()
    create_session(path, "tensorrt", cache_dir=cache, shapes=shapes)
    build_s = time.perf_counter() - t
    built = engines()
    assert built, "no engine was cached"
    t = time.perf_counter()
    sess, _ = create_session(path, "tensorrt", cache_dir=cache, shapes=shapes)
    assert engines() == built and time.perf_counter() - t < build_s  # a cache hit
    for h, w in ((256, 256), (96, 160), (224, 64), (32, 32)):  # inside the profile: no rebuild
        sess.run(None, {"image": np.zeros((1, 3, h, w), np.float32)})
    assert engines() == built

    export(2)  # retrained, same file name: the old engine must not answer
    sess, _ = create_session(path, "tensorrt", cache_dir=cache, shapes=shapes)
    assert len(engines()) == len(built) + 1
    x = np.random.default_rng(0).standard_normal((1, 3, 128, 128), dtype=np.float32)
    trt = sess.run(None, {"image": x})[0].argmax(1)
    cpu = create_session(path, "cpu")[0].run(None, {"image": x})[0].argmax(1)
    assert (trt == cpu).mean() >= 0.99


def test_train_on_cuda_then_eval(synth_root, tmp_path):
    r = subprocess.run([sys.executable, "-m", "seg.cli", "train", "--model", "simple_unet", "--data", str(synth_root),
                        "--out", str(tmp_path), "--epochs", "1", "--batch-size", "4", "--crop-size", "64",
                        "--device", "cuda"], capture_output=True, text=True)
    assert r.returncode == 0 and "cuda" in r.stdout, r.stderr[-2000:]
    best = json.loads((tmp_path / "simple_unet" / "results.json").read_text())["best_val_miou"]
    r = subprocess.run([sys.executable, "-m", "seg.cli", "eval", "--checkpoint", str(tmp_path / "simple_unet" / "best.pt"),
                        "--data", str(synth_root), "--device", "cuda", "--json", str(tmp_path / "v.json")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads((tmp_path / "v.json").read_text())["miou"] == pytest.approx(best, abs=1e-3)


def test_bench_rows_name_the_provider_that_ran(synth_root, tmp_path):
    r = subprocess.run([sys.executable, "-m", "seg.cli", "bench", "--models", "baseline_fcn", "--random-init",
                        "--runs-dir", str(tmp_path), "--providers", "cuda", "--size", "128", "128", "--runs", "3",
                        "--variants", "fp32,e2e", "--data", str(synth_root), "--json", str(tmp_path / "b.json")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    rows = json.loads((tmp_path / "b.json").read_text())["rows"]
    assert {x["provider"] for x in rows} == {"cuda"}  # the PyTorch rows run on the GPU too
    # Evidence that is not seg's own label: the same file on the CPU, timed the same way, is slower.
    r = subprocess.run([sys.executable, "-m", "seg.cli", "bench", "--models", "baseline_fcn", "--random-init",
                        "--runs-dir", str(tmp_path), "--providers", "cpu", "--size", "128", "128", "--runs", "3",
                        "--variants", "fp32", "--engines", "onnxruntime", "--json", str(tmp_path / "c.json")],
                       capture_output=True, text=True)
    cpu = next(x for x in json.loads((tmp_path / "c.json").read_text())["rows"] if x["variant"] == "fp32")
    gpu = next(x for x in rows if x["engine"] == "onnxruntime" and x["variant"] == "fp32")
    assert gpu["latency_ms_p50"] < cpu["latency_ms_p50"], (gpu["latency_ms_p50"], cpu["latency_ms_p50"])


def test_streams_and_buckets_on_cuda(exported, real_voc, tmp_path):
    """Issue 22 on a GPU: the e2e graph that sizes frames itself runs on CUDA with CPU's labels;
    `seg bench --streams 1,8` runs on CUDA; a folder of photos of several sizes meets few shapes
    (buckets) with labels at each photo's size. Figures printed for the smoke log."""
    from seg.images import read_bgr
    from seg.infer import Segmenter
    from seg.layout import variant_path

    runs, fp32, _ = exported
    e2e = variant_path(runs, "simple_unet", "fp32", True)
    if not e2e.is_file():
        from seg.variants import make_variant

        make_variant(fp32, e2e, e2e=True)
    frame = read_bgr(sorted((real_voc / "VOCdevkit" / "VOC2012" / "JPEGImages").glob("*.jpg"))[0])
    cpu, gpu = Segmenter(e2e, provider="cpu"), Segmenter(e2e, provider="cuda")
    assert gpu.provider == "cuda" and (cpu.predict(frame) == gpu.predict(frame)).mean() >= 0.999
    r = subprocess.run([sys.executable, "-m", "seg.cli", "bench", "--models", str(e2e), "--providers", "cuda",
                        "--streams", "1,8", "--clip", str(real_voc / "video" / "bikes.mp4"), "--frames", "40",
                        "--json", str(tmp_path / "s.json")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    rows = json.loads((tmp_path / "s.json").read_text())["results"][0]["rows"]
    print(f"streams on cuda: 1 -> {rows[0]['aggregate_fps']:.1f} FPS, 8 -> {rows[1]['aggregate_fps']:.1f} FPS "
          f"({rows[1]['aggregate_fps'] / rows[0]['aggregate_fps']:.2f}x, goal >= 3x), p95 {rows[1]['p95_ms']:.0f} ms")
    photos = [read_bgr(p) for p in sorted((real_voc / "VOCdevkit" / "VOC2012" / "JPEGImages").glob("*.jpg"))]
    seg = Segmenter(fp32, provider="cuda", varying_sizes=True)
    assert seg.bucket == 64
    shapes = {seg.input_size(*f.shape[:2]) for f in photos}
    for f in photos:  # warm-up: one plan per shape
        seg.predict(f)
    t = time.perf_counter()
    for f in photos:
        assert seg.predict(f).shape == f.shape[:2]
    ms = (time.perf_counter() - t) * 1e3 / len(photos)
    print(f"folder of {len({f.shape for f in photos})} photo sizes on cuda: {len(shapes)} input shapes, "
          f"{ms:.1f} ms a photo after warm-up (goal <= 10 ms)")
