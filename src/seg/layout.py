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


def check_onnx_out(out: str | os.PathLike) -> Path:
    """``out`` as a Path when it names an .onnx file (what every export and variant writes)."""
    if Path(out).suffix != ".onnx":
        raise SegError(f"output path {out} must end in .onnx")
    return Path(out)


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


DEFAULT_TRT_CACHE = trt_cache_dir("runs")  # under the default runs folder; seg run passes trt_cache_dir(--runs)


def random_init_path(runs: str | os.PathLike, name: str, variant: str = "fp32") -> Path:
    """Untrained exports of ``seg bench --random-init``: ``<runs>/bench/<name>.random[.<variant>].onnx``."""
    return Path(runs) / "bench" / (f"{name}.random.onnx" if variant == "fp32" else f"{name}.random.{variant}.onnx")


def user_cache_dir() -> Path:
    """seg's per-user cache: ``$SEG_CACHE_DIR``, else ``$XDG_CACHE_HOME/seg``, else ``~/.cache/seg``."""
    if os.environ.get("SEG_CACHE_DIR"):
        return Path(os.environ["SEG_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "seg"


def resolve_onnx(model: str, runs: Path, variant: str = "fp32") -> Path:
    """An .onnx path as given, or a model name -> <runs>/<name>/<name>[.e2e][.int8].onnx; a missing
    file is one line with the command that makes it on this install."""
    p = Path(model)
    if p.is_dir():
        raise SegError(f"--model {p} is a folder; pass an .onnx file or a model name")
    if p.suffix == ".onnx" or p.exists():
        if not p.is_file():
            raise SegError(f"model file {p} does not exist")
        if variant != "fp32":
            raise SegError("--variant picks a file by model name; with --model PATH.onnx the file is the variant")
        return p
    precision, e2e = parse_variant(variant)
    p = variant_path(runs, model, precision, e2e)
    if not p.is_file():
        raise SegError(f"no exported model at {p}: {_export_hint(runs, model, precision, e2e)}, or pass --model PATH.onnx")
    return p


def _export_hint(runs: Path, model: str, precision: str, e2e: bool) -> str:
    """The command that makes the missing file on *this* install, names shell-quoted (a hint is
    pasted into a shell): from the checkpoint with the training extra, else from the fp32 .onnx."""
    from shlex import quote

    from seg.machine import have_torch

    opts = (f" --precision {precision}" if precision != "fp32" else "") + (" --e2e" if e2e else "")
    if have_torch():
        return f"export one with `seg export --model {quote(model)}{opts}`"
    fp32 = variant_path(runs, model)
    calib = " --calib-data CLIP_OR_FOLDER" if precision in ("int8", "auto") else ""
    if fp32.is_file() and (precision != "fp32" or e2e):
        return f"build it from the fp32 export with `seg export --onnx {quote(str(fp32))}{opts}{calib}`"
    return (f"export {quote(model)} where the training extra is installed (`seg export --model {quote(model)}`) "
            "and copy the .onnx here")
