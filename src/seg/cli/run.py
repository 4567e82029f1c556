"""`seg run`: an .onnx model over a video, a camera, a folder or a glob of images."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

import typer

from seg._io import check_output_dir, check_output_file
from seg.cli._common import _IN_DIR, _IN_FILE, PROVIDER_CHOICES, _choice, _imgsz, _out_dir, _open_range, _positive, err, out_console, warn
from seg.errors import SegError
from seg.layout import VARIANTS
from seg.metadata import MAX_SIZE, MIN_SIZE
from seg.infer.multi import MAX_SOURCES, read_source_list
from seg.infer.plan import PLANS
from seg.tables import Column, fmt, show
from seg.text import plural, shown


def _refuse_overwriting_inputs(src, video: Optional[Path], out_video: Optional[Path], out_dir: Optional[Path],
                               save_masks: Optional[Path]) -> None:
    """An output that is an input is refused before any work: `--video cam.mp4 --out cam.mp4` replaced
    the clip with a 2-frame overlay, and `--folder p --out p` overwrote the photos."""
    if video is not None and out_video is not None and out_video.resolve() == video.resolve():
        raise SegError(f"--out {out_video} is the input video: choose another file name")
    paths = getattr(src, "paths", None)
    if not paths:
        return
    inputs = {p.resolve() for p in paths}
    for option, folder, suffix in (("--out", out_dir, ".jpg"), ("--save-masks", save_masks, ".png")):
        if folder is None:
            continue
        if folder.resolve() in {p.parent for p in inputs}:  # outputs among the photos: the next run reads them
            raise SegError(f"{option} {folder} is a folder of the input images: choose another folder")
        clash = next((p for name in src.names if (p := (folder / f"{name}{suffix}").resolve()) in inputs), None)
        if clash is not None:
            raise SegError(f"{option} {folder} would overwrite the input {clash}: choose another folder")


def _existing_files(folder: Path) -> int:
    return sum(1 for p in folder.iterdir() if p.is_file()) if folder.is_dir() else 0


STAGE_COLUMNS = [Column("stage", lambda r: r[0])] + [
    Column(f"{k} ms", lambda r, k=k: f"{r[1][k]:.1f}", right=True) for k in ("mean", "p50", "p95")]


def run(
    model: str = typer.Option("resnet_fcn", "--model", "-m", help="An .onnx file, or a model name (-> <runs>/<name>/<name>.onnx)."),
    video: Optional[Path] = typer.Option(None, **_IN_FILE, help="Video file to segment."),
    source: Optional[list[str]] = typer.Option(None, metavar="SOURCE", help="Camera index (0), /dev/videoN, or an "
                                               "rtsp:// or http:// stream. Repeat it (or give a .txt listing them) to run "
                                               f"several sources, cameras, videos and folders mixed, up to {MAX_SOURCES}, "
                                               "in one process with batched inference: outputs per source in "
                                               "<out>/<source>/."),
    batch: int = typer.Option(4, min=1, max=64, help="Several sources: frames per session call (one per source at "
                              "most). Each holds a decoded frame and its model input: 4 x 1080p is ~25 MB + inputs."),
    batch_timeout_ms: float = typer.Option(20.0, min=1.0, max=10_000.0, help="Several sources: a batch is pushed when "
                                           "full or this long after its first frame, so a slow or dead source never "
                                           "holds up the others."),
    plan: str = typer.Option("auto", callback=_choice(*PLANS), help="CPU sessions for several sources: batched (one "
                             "session, a thread per core), batched-nospin (its idle threads not spin-waiting), per-core "
                             "(a 1-thread session per core), or auto: measured once per model and machine (a few "
                             "seconds), then kept. One source: batched-nospin applies; auto and per-core run batched."),
    folder: Optional[Path] = typer.Option(None, **_IN_DIR, help="Folder of images."),
    recursive: bool = typer.Option(False, help="With --folder: include sub-folders; outputs are named by the path "
                                   "below the folder, sub/x.jpg -> sub_x.jpg (overlay) and sub_x.png (mask)."),
    images: Optional[str] = typer.Option(None, help="Glob of images, e.g. 'shots/*.jpg' (quote it)."),
    provider: str = typer.Option("auto", callback=_choice(*PROVIDER_CHOICES),
                                 help="auto (TensorRT > CUDA > CPU, the first that works), tensorrt, cuda or cpu."),
    fp16: bool = typer.Option(False, help="TensorRT: build fp16 engines."),
    threads: Optional[int] = typer.Option(None, min=1, max=1024, help="CPU provider threads [default: one per core]."),
    variant: str = typer.Option("fp32", callback=_choice(*VARIANTS), help="With a model name: which export to run, fp32, "
                                "int8, fp16, e2e, e2e.int8, e2e.fp16, auto or e2e.auto (-> "
                                "<runs>/<name>/<name>.e2e.auto.onnx: the one `seg export --precision auto` chose here)."),
    opt_level: str = typer.Option("all", callback=_choice("disable", "basic", "extended", "all"),
                                  help="ONNX Runtime graph optimisation: disable|basic|extended|all."),
    save_optimized: bool = typer.Option(False, help="CPU: keep the optimised graph in <model dir>/.ort-cache/ (or, "
                                        "read-only there, in $SEG_CACHE_DIR or ~/.cache/seg/ort) for a faster next start."),
    imgsz: Optional[int] = typer.Option(None, callback=_imgsz, help=f"Longer side fed to the model (aspect kept, multiple "
                                        f"of 32), {MIN_SIZE}..{MAX_SIZE}; 0 = the frame's own size (at most {MAX_SIZE}) "
                                        "[default: the training images' size from the model's metadata, torchvision's preset "
                                        "(shorter side 520) for its pretrained models, else 512]."),
    alpha: float = typer.Option(0.5, min=0.0, max=1.0, help="Opacity of the class colours in overlays."),
    legend: bool = typer.Option(False, help="Draw the names of the classes present."),
    out: Optional[Path] = typer.Option(None, help="Overlay video (video/camera) or folder (images) "
                                       "[default: <runs>/predict/<source>-<model file>/]."),
    save_masks: Optional[Path] = typer.Option(None, callback=_out_dir("--save-masks folder"),
                                              help="Also write palette PNG masks (VOC format) here (several sources: in <folder>/<source>/)."),
    save_json: Optional[str] = typer.Option(None, "--save-json", metavar="PATH", help="Also write one JSON record "
                                            "per frame (JSON lines, flushed as each frame is done): its time, size and "
                                            "per class the share of its pixels; - = standard output (the log then "
                                            "goes to standard error). Schema: docs/results.md."),
    regions: bool = typer.Option(False, help="With --save-json: per class also its connected regions (count, the "
                                 "largest's area and bounding box)."),
    show_window: bool = typer.Option(False, "--show", help="Show a live window (needs a display; q or Esc quits). "
                                     "Without one, seg warns and runs headless."),
    max_frames: Optional[int] = typer.Option(None, min=1, help="Stop after this many frames (or images)."),
    realtime: bool = typer.Option(False, help="Drop stale frames instead of lagging (for live cameras); a video file is played at its own "
                                  "frame rate, as the camera it stands in for, and frames drop only when the model falls behind."),
    timeout: float = typer.Option(10.0, callback=_positive(3600), help="Seconds a camera/stream may take to "
                                  f"connect and to send each frame before seg stops waiting [{_open_range(3600)}]."),
    runs: Path = typer.Option(Path("runs"), help="Runs folder for model names and default outputs."),
) -> None:
    """Segment a video, camera or images with an .onnx model.

    ONNX Runtime + OpenCV: overlays (a video, or images) and optionally palette PNG masks.
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from seg.infer import Segmenter
    from seg.infer.pipeline import run_pipeline
    from seg.infer.sources import open_source, source_stem
    from seg.layout import resolve_onnx, run_outputs, trt_cache_dir

    if len([x for x in (video, source, folder, images) if x is not None]) != 1:
        raise SegError("pass exactly one of --video, --source, --folder, --images")
    specs = read_source_list(source) if source else []
    if len(specs) > 1 or (source and source[0].endswith(".txt")):
        return _run_many(model, runs, variant, specs, out, save_masks, provider, imgsz, threads, opt_level, batch,
                         batch_timeout_ms, max_frames, realtime, timeout, alpha, legend, plan)
    source = specs[0] if specs else None
    if regions and save_json is None:
        raise SegError("--regions adds to the --save-json records: pass --save-json PATH (or -)")
    json_path = None if save_json in (None, "-") else check_output_file(Path(save_json), "--save-json file")
    console = err if save_json == "-" else out_console  # stdout carries the records: people read stderr
    onnx_path = resolve_onnx(model, runs, variant)
    # Outputs are named and checked before anything is opened: per source *and* model file, so a
    # second model or variant on the same video never overwrites the first one's results.
    name = source_stem(video, source, folder, images)
    out_video, out_dir = run_outputs(runs, name, onnx_path, out, video is not None or source is not None)
    if out_video is not None:
        check_output_file(out_video, "output video")
    else:
        out_dir = check_output_dir(out_dir, "output folder")
    for folder_out in (out_dir, save_masks):
        if folder_out is not None and (n := _existing_files(folder_out)):
            warn(f"{folder_out} already holds {n} files; those with the names of this run's outputs are replaced")
    if show_window:
        from seg.infer.display import display_problem

        problem = display_problem()
        if problem:
            warn(f"--show: {problem}; running without a window")
            show_window = False
    src = open_source(video, source, folder, images, recursive, timeout)  # cheap for files; a camera gets --timeout
    if out is None and out_video is not None and any(v % 2 for v in src.size):
        out_video = out_video.with_suffix(".avi")  # OpenCV's mp4 writers crop odd sizes; its MJPEG .avi keeps them
    try:
        _refuse_overwriting_inputs(src, video, out_video, out_dir, save_masks)
    except BaseException:
        src.close()
        raise
    try:
        seg = Segmenter(onnx_path, provider=provider, imgsz=imgsz, threads=threads, fp16=fp16,
                        cache_dir=trt_cache_dir(runs), opt_level=opt_level, save_optimized=save_optimized,
                        frame_sizes=src.frame_sizes,
                        varying_sizes=not src.is_video, spinning=plan != "batched-nospin")
    except BaseException:
        src.close()
        raise
    if out_video is not None and out_video.exists():
        warn(f"replacing {out_video} (an earlier run's output)")
    weights = seg.meta.get("weights", "?")
    err.print(shown(f"{seg.meta.get('model')} ({onnx_path}{', UNTRAINED weights' if weights == 'random-init' else ''}) "
                    f"on {seg.provider_verdict()}, model input {seg.size_rule()}"), highlight=False, soft_wrap=True)
    total = min(x for x in (src.count, max_frames) if x) if (src.count or max_frames) else None
    from seg.infer.results import JsonLines

    stream = sys.stdout if save_json == "-" else (open(json_path, "w") if json_path is not None else None)
    try:
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=err, disable=not sys.stderr.isatty(), transient=True) as bar:
            task = bar.add_task(name, total=total)
            summary = run_pipeline(seg, src, out_video=out_video, out_dir=out_dir, masks_dir=save_masks, alpha=alpha,
                                   legend=legend, show=show_window, max_frames=max_frames, realtime=realtime,
                                   on_frame=lambda n: bar.update(task, completed=n),
                                   on_result=JsonLines(stream, regions) if stream is not None else None)
    finally:
        if stream is not None and stream is not sys.stdout:
            stream.close()
    if summary.consumer_gone and save_json == "-":
        # `seg run --save-json - | head -3`: the reader is gone; stdout now points nowhere, so that
        # Python's own flush at exit does not print a BrokenPipeError.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        warn("the reader of --save-json - stopped reading: the run ended there")
    for w in summary.warnings:
        warn(w)
    show(console, STAGE_COLUMNS, list(summary.stage_stats().items()),
         title=f"{plural(summary.frames, 'frame' if src.is_video else 'image')}, {summary.fps:.1f} "
               f"{'FPS' if src.is_video else 'images/s'} end to end",
         caption=f"{summary.wall_s:.1f} s on {summary.provider}{', interrupted' if summary.interrupted else ''}")
    extra = [f"{summary.skipped} skipped"] if summary.skipped else []
    extra += [f"{summary.dropped} dropped (realtime)"] if summary.dropped else []
    if json_path is not None:
        summary.outputs["records"] = str(json_path)
    for key, value in summary.outputs.items():
        console.print(f"{key}: {shown(value)}", highlight=False, soft_wrap=True)
    if extra:
        console.print(", ".join(extra), highlight=False, soft_wrap=True)
    if summary.interrupted:
        from seg import signals

        raise typer.Exit(signals.exit_code())


STREAM_COLUMNS = [Column("source", lambda s: s.name), Column("frames", lambda s: str(s.frames), right=True),
                  Column("FPS", lambda s: f"{s.fps:.1f}", right=True),
                  Column("dropped", lambda s: str(s.dropped), right=True, drop=2),
                  Column("p50 ms", lambda s: fmt(s.latency.stats()["p50"] if s.latency.n else None, ".1f"), right=True),
                  Column("p95 ms", lambda s: fmt(s.latency.stats()["p95"] if s.latency.n else None, ".1f"), right=True),
                  Column("status", lambda s: s.failed or "ok", drop=1)]


def _run_many(model, runs, variant, specs, out, save_masks, provider, imgsz, threads, opt_level, batch, batch_timeout_ms,
              max_frames, realtime, timeout, alpha, legend, plan_name) -> None:
    """``seg run --source A --source B ...``: every source in one process, batched (seg.infer.multi)."""
    from seg.infer import Segmenter
    from seg.infer.multi import open_all, run_many
    from seg.infer.plan import Plan, open_plan
    from seg.layout import predict_dir, resolve_onnx, trt_cache_dir

    onnx_path = resolve_onnx(model, runs, variant)
    out_root = check_output_dir(out if out is not None else predict_dir(runs, "multi", onnx_path), "output folder")
    sources, failed = open_all(specs, timeout)  # all of them failing: one line, before the model loads
    for spec, why in failed.items():
        warn(f"{spec}: {why}; the other sources run on")
    def make(p: Plan) -> list:
        return [Segmenter(onnx_path, provider=provider, imgsz=imgsz, threads=p.threads, cache_dir=trt_cache_dir(runs),
                          opt_level=opt_level, varying_sizes=True, spinning=p.spinning) for _ in range(p.sessions)]

    segs, chosen = open_plan(onnx_path, make, plan_name, next(s for s in sources if s is not None),
                             min(batch, len(specs)), threads, log=lambda m: err.print(m, highlight=False, soft_wrap=True))
    seg = segs[0]
    err.print(shown(f"{seg.meta.get('model')} ({onnx_path}) on {seg.provider_verdict()}, {len(specs)} sources, "
                    f"batches of up to {batch} (pushed after {batch_timeout_ms:g} ms); {chosen}"),
              highlight=False, soft_wrap=True)
    summary = run_many(segs, specs, out_root, masks_root=save_masks, batch=batch, timeout_ms=batch_timeout_ms,
                       max_frames=max_frames, realtime=realtime, source_timeout=timeout, alpha=alpha, legend=legend,
                       warn=warn, opened=sources, reasons=failed)
    show(out_console, STREAM_COLUMNS, summary.streams,
         title=f"{len(summary.streams)} sources: {summary.frames} frames, {summary.fps:.1f} FPS in aggregate",
         caption=f"{summary.wall_s:.1f} s on {seg.provider}, {summary.batches} batches (mean size "
                 f"{summary.batch_sizes.stats()['mean'] if summary.batch_sizes.n else 0:.1f}); outputs in {out_root}"
                 f"{', interrupted' if summary.interrupted else ''}")
    if summary.interrupted:
        from seg import signals

        raise typer.Exit(signals.exit_code())
    if summary.failed:
        raise SegError(f"{len(summary.failed)} of {len(summary.streams)} sources failed: "
                       + "; ".join(f"{s.spec} ({s.failed})" for s in summary.failed))
