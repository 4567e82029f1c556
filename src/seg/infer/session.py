"""ONNX Runtime sessions: the one session factory of seg, and the provider that really works.

``auto`` tries TensorRT, then CUDA, then CPU. A GPU provider counts as working only when the
session it creates runs on it: onnxruntime-gpu lists CUDA and TensorRT even where CUDA, cuDNN or
TensorRT libraries are missing, and then (i) quietly puts everything on the CPU, or (ii) with
TensorRT and dynamic shapes, fails only at the first run, where ``InferenceSession.run()`` silently
re-creates the session on the CPU. So, for a GPU provider (as ONNX Runtime's sources and docs
describe, 1.31):

- the chain is the documented one: TensorRT -> CUDA -> CPU, CUDA -> CPU (nodes a provider cannot
  take go to the next one), with ONNX Runtime's silent whole-session fallback to the CPU disabled;
- one warm-up run at the profile's shape happens here (it builds TensorRT's engine), and node
  placement is read back (``session.record_ep_graph_assignment_info``): a failure, or a graph with no
  node on the GPU, is reported and the next provider tried;
- TensorRT gets explicit min/opt/max shape profiles (so new frame sizes within them never rebuild
  the engine) and an engine cache keyed by the model file's *content* (ONNX Runtime names cached
  engines from the file name, node names and versions: a re-export with new weights to the same
  path would otherwise load the old engine).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from seg.errors import SegError
from seg.layout import DEFAULT_TRT_CACHE, user_cache_dir  # noqa: F401  (user_cache_dir re-exported)
from seg.infer.providers import (  # noqa: F401  (re-exported: the session's vocabulary)
    AUTO_ORDER, CHAIN, GPU, INSTALL_HINT, NO_DRIVER, NOT_IN_BUILD, PROVIDERS, TRIVIAL, Attempt, ShapeRange, content_key,
    check_provider, has_nvidia_gpu, library_problem, provider_options)

OPT_LEVELS = {
    "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}


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


def _warmup_feed(sess: ort.InferenceSession, shapes: ShapeRange | None) -> dict[str, np.ndarray]:
    """A zero input at the profile's optimal shape (an e2e graph takes uint8 NHWC frames)."""
    i = sess.get_inputs()[0]
    h, w = (shapes or ShapeRange()).opt_hw or (shapes or ShapeRange()).max_hw
    if "uint8" in i.type:
        return {i.name: np.zeros((1, h, w, 3), np.uint8)}
    dtype = np.float16 if "float16" in i.type else np.float32
    return {i.name: np.zeros((1, 3, h, w), dtype)}


# int8 files in ONNX Runtime's QOperator format (QLinearConv, what seg's int8 variants are): the
# CUDA provider has no QLinearConv kernel and TensorRT takes only symmetric Q/DQ int8, so on a GPU
# the convolutions would run on the CPU with copies around them, under a "cuda" label.
QOPERATOR_ON_GPU = ("an int8 file in QOperator form (QLinearConv) runs on the CPU only: the CUDA provider has no "
                    "QLinearConv kernel and TensorRT takes Q/DQ int8 only; on a GPU run the fp16 or fp32 file")


def _qoperator(model: str | bytes) -> bool:
    import onnx

    try:
        m = onnx.load_from_string(model) if isinstance(model, bytes) else onnx.load(model, load_external_data=False)
    except Exception:
        return False
    return any(n.op_type in ("QLinearConv", "QLinearMatMul", "ConvInteger") for n in m.graph.node)


def _input_of(model: str | bytes) -> tuple[str, bool]:
    """(input name, NHWC?) of a model, read from a quick CPU session (no weights copied twice)."""
    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    i = sess.get_inputs()[0]
    return i.name, "uint8" in i.type


def _try(model: str | bytes, name: str, make_opts, fp16: bool, cache_dir: Path, shapes: ShapeRange | None,
         tf32: bool, conv_search: str) -> tuple[ort.InferenceSession | None, Attempt]:
    attempt = Attempt(name)
    provider = PROVIDERS[name]
    if provider not in ort.get_available_providers():
        attempt.reason = NOT_IN_BUILD
        return None, attempt
    if name != "cpu" and not has_nvidia_gpu():
        attempt.reason = NO_DRIVER
        return None, attempt
    if name != "cpu" and _qoperator(model):
        attempt.reason = QOPERATOR_ON_GPU
        return None, attempt
    opts = make_opts()
    if name == "cpu":
        try:
            return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"]), Attempt(name, True)
        except Exception as e:  # the model itself is unreadable: say so
            what = "the model" if isinstance(model, bytes) else model
            raise SegError(f"ONNX Runtime cannot load {what}: {str(e).strip().splitlines()[0]}") from None
    try:
        # CUDA/cuDNN from nvidia-* wheels (onnxruntime-gpu[cuda,cudnn]), when present. It print()s
        # "Failed to load ..." to stdout where they are not, which broke `seg doctor --json`; a
        # missing library is said in one line just below.
        with contextlib.redirect_stdout(io.StringIO()):
            ort.preload_dlls()
    except Exception:
        pass
    # Asked first because ONNX Runtime's own failure for a missing TensorRT is a truncated
    # C++ signature (seen on an H200 with onnxruntime-gpu 1.31.1 and no TensorRT installed).
    missing = library_problem(name)
    if missing:
        attempt.reason = f"ONNX Runtime could not load it: {missing} ({INSTALL_HINT[name]})"
        return None, attempt
    opts.add_session_config_entry("session.record_ep_graph_assignment_info", "1")
    input_name, nhwc = _input_of(model)
    try:
        chain = [(PROVIDERS[n], provider_options(n, model, fp16, cache_dir, shapes, input_name, nhwc, tf32, conv_search))
                 for n in CHAIN[name]]
    except SegError as e:  # an engine cache that cannot be used: this provider fails, auto tries the next
        attempt.reason = str(e)
        return None, attempt
    try:
        # enable_fallback=0: no silent re-creation of the session on the CPU, at creation or at run().
        with contextlib.redirect_stdout(io.StringIO()):
            sess = ort.InferenceSession(model, opts, providers=chain, enable_fallback=0)
    except Exception as e:
        if name == "tensorrt" and "no associated shape profiles" in str(e):
            # TensorRT took part of the graph: ONNX Runtime wants a profile for every dynamic input of
            # every part, and seg gives one for the graph's input only (tensorrt_execution_provider.cc)
            attempt.reason = ("TensorRT takes only part of this graph, which ONNX Runtime cannot profile: "
                              "run it with --provider cuda")
        else:
            attempt.reason = f"cannot start: {_first_line(e)}"
        return None, attempt
    if sess.get_providers()[0] != provider:
        # its own library loaded (checked above): a library it pulls in at session time did not
        attempt.reason = ("ONNX Runtime could not load it: the session fell back to the CPU "
                          "(a CUDA, cuDNN or TensorRT library missing?)")
        return None, attempt
    try:
        t = time.perf_counter()
        sess.run(None, _warmup_feed(sess, shapes))  # builds the TensorRT engine; fails here, not mid-video
        attempt.warmup_ms = (time.perf_counter() - t) * 1e3
    except Exception as e:
        attempt.reason = f"fails on a first run: {_first_line(e)}"
        return None, attempt
    attempt.placement = _placement(sess)
    if attempt.placement and not attempt.placement.get(provider, 0):
        # get_providers() lists what was registered, not what runs: TensorRT can be left with
        # nothing ("No graph will run on TensorRT") while CUDA runs it all under a "tensorrt" label
        ran = ", ".join(p.removesuffix("ExecutionProvider") for p, n in attempt.placement.items() if n)
        attempt.reason = f"took no node of the model ({ran or 'the CPU'} ran it all)"
        return None, attempt
    attempt.ok = True
    return sess, attempt


def _placement(sess: ort.InferenceSession) -> dict[str, int]:
    """Nodes per execution provider, as ONNX Runtime assigned them ({} where it cannot say)."""
    counts: dict[str, int] = {}
    try:
        for sub in sess.get_provider_graph_assignment_info():
            counts[sub.ep_name] = counts.get(sub.ep_name, 0) + len(sub.get_nodes())
    except Exception:  # older onnxruntime: no placement report
        pass
    return counts


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0][:300] if text else type(e).__name__


def create_session(
    path: str | os.PathLike | bytes,
    provider: str = "auto",
    threads: int | None = None,
    fp16: bool = False,
    cache_dir: str | os.PathLike = DEFAULT_TRT_CACHE,
    spinning: bool = True,
    opt_level: str = "all",
    save_optimized: bool = False,
    shapes: ShapeRange | None = None,
    tf32: bool = True,
    conv_search: str = "EXHAUSTIVE",
    attempts: list[Attempt] | None = None,
    profile: str | None = None,
) -> tuple[ort.InferenceSession, str]:
    """Open ``path`` (a file, or a serialized model as bytes) on ``provider`` (auto|tensorrt|cuda|cpu);
    return (session, provider used). The one ONNX Runtime session factory of seg.

    An explicitly requested provider that cannot run here is a SegError saying why. ``threads``
    sets the CPU provider's intra-op threads (default: ORT's, one per core). ``spinning=False``
    stops ORT's idle threads from busy-waiting between runs, which would steal the cores from
    whatever runs next (other pipeline stages, or PyTorch in a benchmark). ``opt_level``: ONNX
    Runtime's graph optimisation level (disable|basic|extended|all). ``save_optimized`` (CPU
    provider): keep the optimised graph in ``<model dir>/.ort-cache/`` and load it, optimisation
    skipped, on the next start. GPU only: ``shapes`` is TensorRT's profile (default: up to
    512x512, batch 1), ``fp16`` builds fp16 TensorRT engines, ``tf32=False`` keeps CUDA convolutions
    in full fp32 (parity checks), ``conv_search`` is cuDNN's algorithm search (HEURISTIC for inputs
    of changing sizes). ``attempts`` receives what happened with each provider tried. ``profile``:
    a file prefix for ONNX Runtime's per-node profile (``session.end_profiling()`` writes it).
    """
    if isinstance(path, bytes):
        save_optimized = False  # nothing on disk to key a cache by
    else:
        path = str(path)
        if not Path(path).is_file():
            raise SegError(f"model file {path} does not exist")
    check_provider(provider)
    if opt_level not in OPT_LEVELS:
        raise SegError(f"unknown optimisation level {opt_level!r}; choose one of: {', '.join(OPT_LEVELS)}")
    cached = tmp = None
    level = OPT_LEVELS[opt_level]
    # Only where the CPU provider will run it: an `all`-level graph holds CPU-only kernels.
    if save_optimized and (provider == "cpu" or provider == "auto" and not has_nvidia_gpu()):
        cached = optimized_cache_path(path, opt_level)
        if cached.is_file():
            path, level = str(cached), ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # already optimised here
        else:
            # ORT writes the file while building the session; a crash there leaves only a temp
            # name, which the next start ignores.
            tmp = cached.with_name(f".{cached.name}.tmp-{os.getpid()}")

    def make_opts() -> ort.SessionOptions:
        opts = ort.SessionOptions()
        opts.graph_optimization_level = level
        if tmp is not None:
            opts.optimized_model_filepath = str(tmp)
        if threads:
            opts.intra_op_num_threads = threads
        opts.log_severity_level = 3
        if not spinning:
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if profile:
            opts.enable_profiling, opts.profile_file_prefix = True, profile
        return opts

    tried = attempts if attempts is not None else []
    previous = 2
    ort.set_default_logger_severity(4)  # probing a missing GPU stack logs loud errors; we report instead
    try:
        for name in AUTO_ORDER if provider == "auto" else (provider,):
            sess, attempt = _try(path, name, make_opts, fp16, Path(cache_dir), shapes, tf32, conv_search)
            tried.append(attempt)
            if sess is not None:
                if tmp is not None and tmp.is_file():
                    os.replace(tmp, cached)
                return sess, name
        raise SegError(f"provider {provider} is not usable on this machine: {tried[-1].reason}; "
                       "`seg doctor` shows what works here")
    finally:
        ort.set_default_logger_severity(previous)
