"""ONNX Runtime sessions: pick the best execution provider that actually works here.

``auto`` tries TensorRT, then CUDA, then CPU. onnxruntime-gpu lists the GPU providers even on
a machine without CUDA libraries and then silently falls back to the CPU, so a provider counts
as working only if the session it creates really runs on it.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import sys
from pathlib import Path

import onnxruntime as ort

from seg.errors import SegError

PROVIDERS = {"tensorrt": "TensorrtExecutionProvider", "cuda": "CUDAExecutionProvider", "cpu": "CPUExecutionProvider"}
AUTO_ORDER = ("tensorrt", "cuda", "cpu")


OPT_LEVELS = {
    "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}


def user_cache_dir() -> Path:
    """seg's per-user cache: ``$SEG_CACHE_DIR``, else ``$XDG_CACHE_HOME/seg``, else ``~/.cache/seg``."""
    if os.environ.get("SEG_CACHE_DIR"):
        return Path(os.environ["SEG_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "seg"


def _cache_name(model_path: str | os.PathLike, opt_level: str) -> str:
    # Keyed by the file's identity (path, size, mtime), the ORT version and the level: an
    # `all`-level graph holds kernels laid out for this CPU and this ORT build.
    p = Path(model_path)
    st = p.stat()
    key = hashlib.sha1(f"{p.resolve()}|{st.st_size}|{st.st_mtime_ns}|{ort.__version__}|{opt_level}".encode()).hexdigest()[:12]
    return f"{p.stem}.{key}.onnx"


def optimized_cache_path(model_path: str | os.PathLike, opt_level: str = "all") -> Path:
    """Where ``save_optimized`` keeps the optimised graph of ``model_path``: ``<model dir>/.ort-cache/``,
    or seg's user cache folder when the model's folder is read-only (usual on edge devices)."""
    name = _cache_name(model_path, opt_level)
    beside = Path(model_path).parent / ".ort-cache"
    for folder in (beside, user_cache_dir() / "ort"):
        if (folder / name).is_file():
            return folder / name
    for folder in (beside, user_cache_dir() / "ort"):
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(folder, os.W_OK | os.X_OK):
            return folder / name
    raise SegError(f"cannot save the optimised graph: neither {beside} nor {user_cache_dir() / 'ort'} is writable "
                   "(set SEG_CACHE_DIR to a writable folder, or leave out --save-optimized)")


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


def _try(path: str | bytes, name: str, opts: ort.SessionOptions, fp16: bool, cache_dir: Path) -> ort.InferenceSession | None:
    provider = PROVIDERS[name]
    if provider not in ort.get_available_providers() or (name != "cpu" and not has_nvidia_gpu()):
        return None
    if name != "cpu":
        if name == "tensorrt":
            try:
                cache_dir.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise SegError(f"cannot create the TensorRT engine cache {cache_dir}: {e.strerror or e}") from None
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
            what = "the model" if isinstance(path, bytes) else path
            raise SegError(f"ONNX Runtime cannot load {what}: {str(e).strip().splitlines()[0]}") from None
        return None
    return sess if sess.get_providers()[0] == provider else None


def create_session(
    path: str | os.PathLike | bytes,
    provider: str = "auto",
    threads: int | None = None,
    fp16: bool = False,
    cache_dir: str | os.PathLike = "runs/trt_cache",
    spinning: bool = True,
    opt_level: str = "all",
    save_optimized: bool = False,
) -> tuple[ort.InferenceSession, str]:
    """Open ``path`` (a file, or a serialized model as bytes) on ``provider`` (auto|tensorrt|cuda|cpu);
    return (session, provider used). The one ONNX Runtime session factory of seg.

    An explicitly requested provider that cannot run here is a SegError listing the ones that
    can. ``threads`` sets the CPU provider's intra-op threads (default: ORT's, one per core).
    ``spinning=False`` stops ORT's idle threads from busy-waiting between runs, which would
    steal the cores from whatever runs next (other pipeline stages, or PyTorch in a benchmark).
    ``opt_level``: ONNX Runtime's graph optimisation level (disable|basic|extended|all).
    ``save_optimized`` (CPU provider): keep the optimised graph in ``<model dir>/.ort-cache/``
    and load it, optimisation skipped, on the next start (see the README for the measured gain).
    """
    if isinstance(path, bytes):
        save_optimized = False  # nothing on disk to key a cache by
    else:
        path = str(path)
        if not Path(path).is_file():
            raise SegError(f"model file {path} does not exist")
    if provider != "auto" and provider not in PROVIDERS:
        raise SegError(f"unknown provider {provider!r}; choose one of: auto, {', '.join(PROVIDERS)}")
    if opt_level not in OPT_LEVELS:
        raise SegError(f"unknown optimisation level {opt_level!r}; choose one of: {', '.join(OPT_LEVELS)}")
    opts = ort.SessionOptions()
    opts.graph_optimization_level = OPT_LEVELS[opt_level]
    # Only where the CPU provider will run it: an `all`-level graph holds CPU-only kernels.
    if save_optimized and (provider == "cpu" or provider == "auto" and not has_nvidia_gpu()):
        cached = optimized_cache_path(path, opt_level)
        if cached.is_file():
            path = str(cached)  # already optimised for this machine and ORT version
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        else:
            # ORT writes the file while building the session; a crash there leaves only a
            # temp name, which the next start ignores.
            tmp = cached.with_name(f".{cached.name}.tmp-{os.getpid()}")
            opts.optimized_model_filepath = str(tmp)
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
                if opts.optimized_model_filepath and Path(opts.optimized_model_filepath).is_file():
                    os.replace(opts.optimized_model_filepath, cached)
                return sess, name
        working = [n for n in AUTO_ORDER if n == "cpu" or _try(path, n, opts, fp16, Path(cache_dir)) is not None]
        raise SegError(f"provider {provider} is not usable on this machine; available: {', '.join(working)}")
    finally:
        ort.set_default_logger_severity(previous)
