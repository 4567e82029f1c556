"""What seg knows about each ONNX Runtime execution provider (torch-free): names, the chain
behind each GPU provider, TensorRT's shape profiles and content-keyed engine cache, CUDA's
options, and why a provider's library would not load. :mod:`seg.infer.session` uses it to open
sessions that really run where they say.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import onnxruntime as ort

from seg.errors import SegError

PROVIDERS = {"tensorrt": "TensorrtExecutionProvider", "cuda": "CUDAExecutionProvider", "cpu": "CPUExecutionProvider"}
AUTO_ORDER = ("tensorrt", "cuda", "cpu")
# What runs behind each provider: the nodes TensorRT cannot take go to CUDA, CUDA's to the CPU
# (TensorRT on part of a graph needs a profile per part, which ORT refuses to guess: seg says so)
# (shape arithmetic stays on the CPU by design). ONNX Runtime's TensorRT docs prescribe this order.
CHAIN = {"tensorrt": ("tensorrt", "cuda", "cpu"), "cuda": ("cuda", "cpu"), "cpu": ("cpu",)}
GPU = ("tensorrt", "cuda")
SHORT = {v: k for k, v in PROVIDERS.items()}  # "CUDAExecutionProvider" -> "cuda"


def check_provider(name: str, auto: bool = True) -> str:
    """``name`` when it is a provider seg knows (``auto`` too, where it may be), else the one
    "unknown provider" error of every command."""
    choices = (("auto",) if auto else ()) + AUTO_ORDER
    if name not in choices:
        raise SegError(f"unknown provider {name!r}; choose one of: {', '.join(choices)}")
    return name
NOT_IN_BUILD = "not in this onnxruntime build (the GPU build is the onnxruntime-gpu package)"
NO_DRIVER = "no NVIDIA driver on this machine"
# A CPU-only onnxruntime needs no explanation outside `seg doctor`; a GPU build on a machine without
# a driver does (someone installed it for a GPU): `on cpu (tensorrt, cuda: no NVIDIA driver ...)`.
TRIVIAL = (NOT_IN_BUILD,)


def passed_over(attempts: list["Attempt"]) -> list[str]:
    """Why auto did not take the providers before the one it took, one clause per reason:
    ``["tensorrt, cuda: no NVIDIA driver on this machine"]``."""
    by_reason: dict[str, list[str]] = {}
    for a in attempts:
        if not a.ok and a.reason not in TRIVIAL:
            by_reason.setdefault(a.reason, []).append(a.provider)
    return [f"{', '.join(ps)}: {reason}" for reason, ps in by_reason.items()]
# What to install when a provider's own library cannot load (docs/runtime.md, "GPUs", says more).
INSTALL_HINT = {
    "tensorrt": "install TensorRT 10 (e.g. pip install 'tensorrt-cu13-libs<11') and put its library folder on LD_LIBRARY_PATH",
    "cuda": "pip install 'onnxruntime-gpu[cuda,cudnn]' brings CUDA and cuDNN",
}


def content_key(model: str | os.PathLike | bytes) -> str:
    """A digest of the model's bytes: what a cached TensorRT engine must be keyed by."""
    h = hashlib.sha256()
    if isinstance(model, bytes):
        h.update(model)
    else:
        with open(model, "rb") as f:
            while block := f.read(1 << 22):
                h.update(block)
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class ShapeRange:
    """The input sizes a TensorRT engine is built for (its optimisation profile): batch up to
    ``batch``, height and width from 32 up to ``max_hw``, tuned for ``opt_hw``. seg run derives it
    from ``--imgsz`` (the longer side fed to the model), so no frame makes TensorRT rebuild."""

    max_hw: tuple[int, int] = (512, 512)
    opt_hw: tuple[int, int] | None = None  # default: max_hw
    batch: int = 1
    # an e2e graph that sizes frames itself: (max, opt) of the resized frames, the tensor TensorRT's
    # part of the graph starts at (the antialiased Resize before it runs on CUDA)
    resized: tuple[tuple[int, int], tuple[int, int]] | None = None

    @classmethod
    def for_imgsz(cls, imgsz: int, batch: int = 1) -> "ShapeRange":
        side = max(32, -(-imgsz // 32) * 32)
        return cls((side, side), None, batch)

    @classmethod
    def for_frames(cls, meta: dict, frames: "list[tuple[int, int]]", imgsz: int | None = None,
                   batch: int = 1, own_size: bool = False) -> "ShapeRange":
        """The one profile rule: up to the largest input the model is fed for these frames (H, W),
        by :func:`seg.infer.preprocess.input_size` (the Segmenter's own: a preset's shorter side 520
        makes a 500x375 photo 693x520), each side rounded up to 32; tuned for the first frame's. Every
        caller that opens a TensorRT session (run, bench, eval, guardrails) sizes it so. ``own_size``:
        scoring, where a graph that sizes frames itself is fed each image's own longer side."""
        from dataclasses import replace

        from seg.infer.preprocess import graph_rule, input_size

        def up(hw: tuple[int, int]) -> tuple[int, int]:
            return (max(32, -(-hw[0] // 32) * 32), max(32, -(-hw[1] // 32) * 32))

        def span(sizes: list[tuple[int, int]]) -> tuple[tuple[int, int], tuple[int, int]]:
            sizes = [up(s) for s in sizes] or [(512, 512)]
            return (max(h for h, _ in sizes), max(w for _, w in sizes)), sizes[0]

        rule = graph_rule(meta, imgsz)
        if rule and own_size and rule.sizable:  # scored near its own size (own_size_inputs)
            resized = span([replace(rule, size=max(h, w)).of(h, w) for h, w in frames])
        else:
            resized = span([rule.of(h, w) for h, w in frames]) if rule else None
        return cls(*span([input_size(h, w, meta, imgsz) for h, w in frames]), batch, resized)

    def key(self) -> str:
        """A short name for this profile: engines built for other profiles must not replace each other."""
        opt = self.opt_hw or self.max_hw
        inner = f"-r{self.resized[0][0]}x{self.resized[0][1]}" if self.resized else ""
        return f"b{self.batch}-{self.max_hw[0]}x{self.max_hw[1]}-o{opt[0]}x{opt[1]}{inner}"

    def profile(self, name: str, nhwc: bool) -> dict[str, str]:
        """``trt_profile_{min,opt,max}_shapes`` for input ``name`` (NCHW, or NHWC for e2e graphs)."""
        def dims(n: int, hw: tuple[int, int]) -> str:
            return f"{name}:{n}x{hw[0]}x{hw[1]}x3" if nhwc else f"{name}:{n}x3x{hw[0]}x{hw[1]}"
        opt = self.opt_hw or self.max_hw
        shapes = {"trt_profile_min_shapes": dims(1, (32, 32)), "trt_profile_opt_shapes": dims(1, opt),
                  "trt_profile_max_shapes": dims(self.batch, self.max_hw)}
        if self.resized:
            from seg.metadata import E2E_RESIZED_NAME

            inner = ShapeRange(*self.resized, self.batch).profile(E2E_RESIZED_NAME, True)
            shapes = {k: f"{v},{inner[k]}" for k, v in shapes.items()}
        return shapes


@dataclass
class Attempt:
    """What happened when a provider was tried: ``ok``, else the one-line ``reason``; for GPU
    providers the node count per provider that took them, and the warm-up run's milliseconds."""

    provider: str
    ok: bool = False
    reason: str = ""
    placement: dict[str, int] = field(default_factory=dict)
    warmup_ms: float | None = None

    def verdict(self) -> str:
        if not self.ok:
            return f"{self.provider}: {self.reason}"
        nodes = sum(self.placement.values())
        on = ", ".join(f"{n} on {p.removesuffix('ExecutionProvider')}" for p, n in self.placement.items())
        return f"{self.provider}: works" + (f" ({nodes} nodes: {on})" if nodes else "")


def has_nvidia_gpu() -> bool:
    """A cheap look for an NVIDIA driver before asking ONNX Runtime to load CUDA or TensorRT
    (which, failing, prints a page of errors and falls back to the CPU)."""
    if sys.platform.startswith("linux"):
        # /dev/dxg: WSL2, where the Windows driver serves CUDA and no /proc/driver/nvidia exists
        return any(os.path.exists(p) for p in ("/proc/driver/nvidia/version", "/dev/nvidiactl", "/dev/dxg"))
    return shutil.which("nvidia-smi") is not None


def provider_options(name: str, model: str | bytes, fp16: bool, cache_dir: Path, shapes: ShapeRange | None,
                      input_name: str, nhwc: bool, tf32: bool, conv_search: str) -> dict:
    if name == "tensorrt":
        # a new file content never meets an old engine; a video's profile and a folder's keep their own
        engines = cache_dir / f"{content_key(model)}-{(shapes or ShapeRange()).key()}{'-fp16' if fp16 else ''}"
        try:
            engines.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise SegError(f"cannot create the TensorRT engine cache {engines}: {e.strerror or e}") from None
        if not os.access(engines, os.W_OK | os.X_OK):  # exists but read-only: engines would rebuild every start
            raise SegError(f"the TensorRT engine cache {engines} is not writable (engines would be rebuilt at "
                           "every start): point --runs at a writable folder")
        return {"trt_fp16_enable": fp16, "trt_engine_cache_enable": True, "trt_engine_cache_path": str(engines),
                # the timing cache holds per-layer tactics, valid across models: shared
                "trt_timing_cache_enable": True, "trt_timing_cache_path": str(cache_dir),
                **(shapes or ShapeRange()).profile(input_name, nhwc)}
    if name == "cuda":
        # HEURISTIC for inputs of changing sizes: EXHAUSTIVE re-benchmarks cuDNN for every new shape
        # (cuDNN < 9; with cuDNN 9's frontend ORT picks a heuristic mode either way, and the cost of
        # a new shape is plan building, which this does not avoid).
        return {"cudnn_conv_algo_search": conv_search, "use_tf32": int(tf32)}
    return {}


def library_problem(name: str) -> str | None:
    """Why ONNX Runtime's library for provider ``name`` cannot load here (the first library it misses,
    e.g. "libcublasLt.so.13: cannot open shared object file"), or None when it loads. ONNX Runtime
    itself only logs this, then runs everything on the CPU."""
    import ctypes

    capi = Path(ort.__file__).parent / "capi"
    lib = next(iter(capi.glob(f"*onnxruntime_providers_{name}.*")), None)
    if lib is None:
        return None
    try:
        ctypes.CDLL(str(lib))
    except OSError as e:
        return str(e).split(": ", 1)[-1] if str(lib) in str(e) else str(e)
    return None


def tiny_model() -> bytes:
    """A seg-shaped model (``image`` [N,3,H,W] -> ``logits`` [N,21,H,W], dynamic N/H/W): two convs,
    in memory: what ``seg doctor`` and ``seg bench`` try each provider with."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w1 = numpy_helper.from_array(rng.standard_normal((8, 3, 3, 3), dtype=np.float32) * 0.1, "w1")
    w2 = numpy_helper.from_array(rng.standard_normal((21, 8, 1, 1), dtype=np.float32) * 0.1, "w2")
    nodes = [helper.make_node("Conv", ["image", "w1"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"]), helper.make_node("Conv", ["r1", "w2"], ["logits"])]
    graph = helper.make_graph(nodes, "seg_doctor", [helper.make_tensor_value_info(
        "image", TensorProto.FLOAT, ["batch", 3, "height", "width"])], [helper.make_tensor_value_info(
            "logits", TensorProto.FLOAT, ["batch", 21, "height", "width"])], [w1, w2])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=9).SerializeToString()
