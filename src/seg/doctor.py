"""``seg doctor``: what this machine can really do (torch optional), like Ultralytics' ``yolo checks``.

Versions (seg, Python, ONNX Runtime and which build, OpenCV and its GUI, torch and its CUDA,
TensorRT's library), the CPU and its instruction-set class, the GPUs, and for each ONNX Runtime
provider a *working* check: a tiny model built in memory is run through the same session
factory as ``seg run`` (warm-up, node placement), timed, or the one-line reason it cannot run.
"""

from __future__ import annotations

import ctypes
import importlib.metadata as md
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from seg.layout import DEFAULT_TRT_CACHE


def _version(dist: str) -> str | None:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def check_providers(cache_dir: str) -> list[dict[str, Any]]:
    """Each ONNX Runtime provider tried alone on the tiny model: works (placement, ms per run) or why not."""
    from seg.errors import SegError
    from seg.infer.providers import tiny_model
    from seg.infer.session import AUTO_ORDER, ShapeRange, create_session, library_problem

    model, out = tiny_model(), []
    x = np.random.default_rng(1).standard_normal((1, 3, 64, 64), dtype=np.float32)
    for name in AUTO_ORDER:
        attempts: list = []
        try:
            sess, _ = create_session(model, name, cache_dir=cache_dir, shapes=ShapeRange((64, 64)), attempts=attempts)
            sess.run(None, {"image": x})
            t = time.perf_counter()
            sess.run(None, {"image": x})
            ms = (time.perf_counter() - t) * 1e3
            a = attempts[-1]
            out.append({"provider": name, "works": True, "ms": ms, "placement": a.placement,
                        "detail": a.verdict().split(": ", 1)[1]})
        except SegError as e:
            reason = attempts[-1].reason if attempts else str(e)
            if name != "cpu" and "could not load it" not in reason:
                lib = library_problem(name)  # what would fail next, even where this machine has no GPU
                reason += f"; its library: {'loads' if lib is None else lib}"
            out.append({"provider": name, "works": False, "ms": None, "placement": {}, "detail": reason})
    return out


def _gpus() -> list[str]:
    if shutil.which("nvidia-smi"):
        r = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                           capture_output=True, text=True, timeout=20)
        if r.returncode == 0:
            return [ln.strip() for ln in r.stdout.splitlines() if ln.strip()]
    return []


def _tensorrt_lib() -> str:
    names = ["nvinfer_10.dll"] if sys.platform == "win32" else ["libnvinfer.so.10", "libnvinfer.so"]
    for n in names:
        try:
            ctypes.CDLL(n)
            return f"found ({n})"
        except OSError:
            continue
    return "not found (the TensorRT provider needs TensorRT 10's libnvinfer)"


def _torch() -> dict[str, Any] | None:
    from seg.machine import installed

    if not installed("torch"):
        return None
    import torch

    return {"version": str(torch.__version__), "cuda": torch.version.cuda,
            "cuda_available": torch.cuda.is_available(),
            "cudnn": torch.backends.cudnn.version() if torch.cuda.is_available() else None}


def doctor(cache_dir: str | Path = DEFAULT_TRT_CACHE) -> dict[str, Any]:
    """Everything ``seg doctor`` prints, as a dict (``--json``)."""
    import cv2
    import onnxruntime as ort

    from seg import __version__
    from seg.infer.display import display_problem
    from seg.machine import machine_info
    from seg.roofline import measure_peaks

    gui = next((ln.split(":", 1)[1].strip() for ln in cv2.getBuildInformation().splitlines()
                if ln.strip().startswith("GUI:")), "?")
    m = machine_info()
    return {
        "versions": {
            "seg": __version__, "python": platform.python_version(), "platform": platform.platform(),
            "onnxruntime": ort.__version__,
            "onnxruntime_build": "onnxruntime-gpu" if _version("onnxruntime-gpu") else "onnxruntime (CPU)",
            "onnxruntime_providers": ort.get_available_providers(), "numpy": np.__version__,
            "opencv": cv2.__version__, "opencv_gui": gui, "display": display_problem() or "available",
            "torch": _torch(), "tensorrt_library": _tensorrt_lib(),
        },
        "machine": {"cpu": m["cpu"], "cpu_class": m["cpu_class"], "cores": m["cores"], "cpu_flags": m["cpu_flags"],
                    "gpus": _gpus(), "peaks": measure_peaks(repeats=4)},
        "providers": check_providers(cache_dir),
    }
