"""ONNX Runtime sessions: pick the best execution provider that actually works here.

``auto`` tries TensorRT, then CUDA, then CPU. onnxruntime-gpu lists the GPU providers even on
a machine without CUDA libraries and then silently falls back to the CPU, so a provider counts
as working only if the session it creates really runs on it.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import sys
from pathlib import Path

import onnxruntime as ort

from seg.errors import SegError

PROVIDERS = {"tensorrt": "TensorrtExecutionProvider", "cuda": "CUDAExecutionProvider", "cpu": "CPUExecutionProvider"}
AUTO_ORDER = ("tensorrt", "cuda", "cpu")


def _options(name: str, fp16: bool, cache_dir: Path) -> dict:
    if name == "tensorrt":
        # Engines take minutes to build; the cache makes the second start fast.
        return {"trt_fp16_enable": fp16, "trt_engine_cache_enable": True, "trt_engine_cache_path": str(cache_dir),
                "trt_timing_cache_enable": True, "trt_timing_cache_path": str(cache_dir)}
    return {}


def has_nvidia_gpu() -> bool:
    """A cheap look for an NVIDIA driver before asking ONNX Runtime to load CUDA or TensorRT
    (which, failing, prints a page of errors and falls back to the CPU)."""
    if sys.platform.startswith("linux"):
        return os.path.exists("/proc/driver/nvidia/version") or os.path.exists("/dev/nvidiactl")
    return shutil.which("nvidia-smi") is not None


def _try(path: str, name: str, opts: ort.SessionOptions, fp16: bool, cache_dir: Path) -> ort.InferenceSession | None:
    provider = PROVIDERS[name]
    if provider not in ort.get_available_providers() or (name != "cpu" and not has_nvidia_gpu()):
        return None
    if name != "cpu":
        if name == "tensorrt":
            cache_dir.mkdir(parents=True, exist_ok=True)
        try:
            ort.preload_dlls()  # CUDA/cuDNN from nvidia-* wheels, when present
        except Exception:
            pass
    chain = [(provider, _options(name, fp16, cache_dir))] + ([] if name == "cpu" else ["CPUExecutionProvider"])
    try:
        # ORT prints its own fallback notice to stdout; whether the provider took is checked below.
        with contextlib.redirect_stdout(io.StringIO()):
            sess = ort.InferenceSession(path, opts, providers=chain)
    except Exception as e:
        if name == "cpu":  # the model itself is unreadable: say so
            raise SegError(f"ONNX Runtime cannot load {path}: {str(e).strip().splitlines()[0]}") from None
        return None
    return sess if sess.get_providers()[0] == provider else None


def create_session(
    path: str | os.PathLike,
    provider: str = "auto",
    threads: int | None = None,
    fp16: bool = False,
    cache_dir: str | os.PathLike = "runs/trt_cache",
    spinning: bool = True,
) -> tuple[ort.InferenceSession, str]:
    """Open ``path`` on ``provider`` (auto|tensorrt|cuda|cpu); return (session, provider used).

    An explicitly requested provider that cannot run here is a SegError listing the ones that
    can. ``threads`` sets the CPU provider's intra-op threads (default: ORT's, one per core).
    ``spinning=False`` stops ORT's idle threads from busy-waiting between runs, which would
    steal the cores from whatever runs next (other pipeline stages, or PyTorch in a benchmark).
    """
    path = str(path)
    if not Path(path).is_file():
        raise SegError(f"model file {path} does not exist")
    if provider != "auto" and provider not in PROVIDERS:
        raise SegError(f"unknown provider {provider!r}; choose one of: auto, {', '.join(PROVIDERS)}")
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        opts.intra_op_num_threads = threads
    opts.log_severity_level = 3
    if not spinning:
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    previous = 2
    ort.set_default_logger_severity(4)  # probing a missing GPU stack logs loud errors; we report instead
    try:
        order = AUTO_ORDER if provider == "auto" else (provider,)
        for name in order:
            sess = _try(path, name, opts, fp16, Path(cache_dir))
            if sess is not None:
                return sess, name
        working = [n for n in AUTO_ORDER if n == "cpu" or _try(path, n, opts, fp16, Path(cache_dir)) is not None]
        raise SegError(f"provider {provider} is not usable on this machine; available: {', '.join(working)}")
    finally:
        ort.set_default_logger_severity(previous)
