"""Where seg keeps things under a runs folder (torch-free): one place for every default path.

    <runs>/<model>/best.pt, last.pt              seg train
    <runs>/<model>/<model>[.e2e][.int8|.fp16|.auto].onnx   seg export (fp32, then its variants)
    <runs>/predict/<source>-<model file>/        seg run's default outputs
    <runs>/trt_cache/                            TensorRT engines and timing caches
    <runs>/bench/<model>.random[.<variant>].onnx seg bench --random-init
"""

from __future__ import annotations

import os
from pathlib import Path

from seg.errors import SegError

# The files `seg export` writes per model, by variant name (`seg bench --variants`, `seg run --variant`).
VARIANTS = ("fp32", "int8", "fp16", "e2e", "e2e.int8", "e2e.fp16", "auto", "e2e.auto")


def checkpoint_path(runs: str | os.PathLike, name: str, which: str = "best") -> Path:
    """``<runs>/<name>/best.pt`` (or ``last.pt``)."""
    return Path(runs) / name / f"{which}.pt"


def variant_path(runs: str | os.PathLike, name: str, precision: str = "fp32", e2e: bool = False) -> Path:
    """``<runs>/<name>/<name>[.e2e][.int8|.fp16].onnx``."""
    return Path(runs) / name / variant_name(name, precision, e2e)


def variant_name(stem: str, precision: str = "fp32", e2e: bool = False) -> str:
    """``<stem>[.e2e][.int8|.fp16].onnx``: a variant's file name beside its fp32 file ``<stem>.onnx``."""
    parts = [stem] + (["e2e"] if e2e else []) + ([precision] if precision != "fp32" else [])
    return ".".join(parts) + ".onnx"


def parse_variant(variant: str) -> tuple[str, bool]:
    """``"e2e.int8"`` -> ``("int8", True)``; ``"fp32"`` -> ``("fp32", False)``; SegError if unknown."""
    if variant not in VARIANTS:
        raise SegError(f"unknown variant {variant!r}; choose from: {', '.join(VARIANTS)}")
    e2e = variant.startswith("e2e")
    return (variant.split(".", 1)[1] if "." in variant else "fp32") if e2e else variant, e2e


def run_outputs(runs: str | os.PathLike, source: str, model_file: str | os.PathLike, out: Path | None,
                video: bool) -> tuple[Path | None, Path | None]:
    """(output video, output folder) of ``seg run``: a video for a video or camera source (``out``
    or ``<predict dir>/<source>.mp4``; .mp4 or .avi), else a folder (``out`` or the predict dir)."""
    default_dir = predict_dir(runs, source, model_file)
    if not video:
        return None, Path(out) if out is not None else default_dir
    out_video = Path(out) if out is not None else default_dir / f"{source}.mp4"
    if out_video.suffix.lower() not in (".mp4", ".avi"):
        raise SegError(f"--out {out_video} must end in .mp4 or .avi for a video source")
    return out_video, None


def predict_dir(runs: str | os.PathLike, source: str, model_file: str | os.PathLike) -> Path:
    """``<runs>/predict/<source>-<model file stem>``: per source *and* model file, so that another
    model or variant on the same video never overwrites the first one's results."""
    return Path(runs) / "predict" / f"{source}-{Path(model_file).name.removesuffix('.onnx')}"


def trt_cache_dir(runs: str | os.PathLike) -> Path:
    return Path(runs) / "trt_cache"


def random_init_path(runs: str | os.PathLike, name: str, variant: str = "fp32") -> Path:
    """Untrained exports of ``seg bench --random-init``: ``<runs>/bench/<name>.random[.<variant>].onnx``."""
    return Path(runs) / "bench" / (f"{name}.random.onnx" if variant == "fp32" else f"{name}.random.{variant}.onnx")


def user_cache_dir() -> Path:
    """seg's per-user cache: ``$SEG_CACHE_DIR``, else ``$XDG_CACHE_HOME/seg``, else ``~/.cache/seg``."""
    if os.environ.get("SEG_CACHE_DIR"):
        return Path(os.environ["SEG_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "seg"
