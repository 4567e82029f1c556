"""The ``seg`` command line: a thin typer layer, one library call per command.

Errors the user can fix are raised as :class:`seg.errors.SegError` anywhere below and printed
here as one line (``error: ...``) with exit code 1; usage errors exit with 2 (click's code).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from seg import __version__
from seg.errors import SegError

app = typer.Typer(
    help="seg: train, export, run and benchmark semantic-segmentation models (PyTorch -> ONNX).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
data_app = typer.Typer(help="Get datasets: real PASCAL VOC 2007, or a synthetic VOC-format set.", no_args_is_help=True)
app.add_typer(data_app, name="data")

out_console = Console()
err = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        out_console.print(f"seg {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    pass


@app.command()
def models(
    names: Optional[list[str]] = typer.Argument(None, help="Models to show (default: all)."),
    size: int = typer.Option(512, min=32, help="Square input size at which GFLOPs are counted."),
) -> None:
    """List the registered architectures with their parameters and GFLOPs."""
    from seg.models import MODELS, check_model_name, count_parameters, get_model, model_flops

    names = [check_model_name(n) for n in names] if names else list(MODELS)
    table = Table(title=f"seg models (GFLOPs at 1x3x{size}x{size}; a multiply-add = 2 FLOPs)")
    for col in ("model", "params", "GFLOPs", "description"):
        table.add_column(col, justify="right" if col in ("params", "GFLOPs") else "left")
    for name in names:
        params = count_parameters(get_model(name))
        doc = (MODELS[name].__doc__ or "").strip().splitlines()[0]
        table.add_row(name, f"{params:,}", f"{model_flops(name, size, size) / 1e9:.1f}", doc)
    out_console.print(table)


@data_app.command("voc2007")
def data_voc2007(
    root: Path = typer.Option(Path("data"), help="Folder to download and extract into (gets VOCdevkit/VOC2007)."),
    mirror: Optional[str] = typer.Option(None, help="Base URL of a mirror holding the two tarballs (same md5s)."),
    keep_archives: bool = typer.Option(True, help="Keep the .tar files after extraction."),
) -> None:
    """Download PASCAL VOC 2007 (trainval + test, ~870 MB), verify md5, resume, extract."""
    from seg.data.download import VOC2007, download_voc2007, mirrored

    resources = mirrored(mirror) if mirror else VOC2007
    voc_dir = download_voc2007(root, resources, keep_archives=keep_archives, progress=sys.stderr.isatty())
    out_console.print(f"VOC2007 ready in {voc_dir}")


@data_app.command("synth")
def data_synth(
    root: Path = typer.Option(Path("data/synth"), help="Folder to write (gets VOCdevkit/VOC2007)."),
    train: int = typer.Option(400, help="Number of training images."),
    val: int = typer.Option(100, help="Number of validation images."),
    size: int = typer.Option(160, help="Image width in pixels (heights vary in 0.75-1x of it)."),
    seed: int = typer.Option(0, help="Random seed; the same seed writes the same files."),
    overwrite: bool = typer.Option(False, help="Replace a synthetic set generated with other settings."),
    video: Optional[Path] = typer.Option(None, help="Also write a video of moving synthetic objects (.mp4 or .avi)."),
    frames: int = typer.Option(90, help="Frames in --video."),
) -> None:
    """Generate a synthetic dataset in the VOC layout (and optionally a video)."""
    from seg.data.synth import SynthConfig, check_video_args, generate, write_video

    progress = sys.stderr.isatty()
    if video is not None:
        check_video_args(video, frames)
    voc_dir = generate(root, SynthConfig(train=train, val=val, size=size, seed=seed), overwrite=overwrite, progress=progress)
    out_console.print(f"synthetic VOC set ({train} train, {val} val, {size} px wide) in {voc_dir}")
    if video is not None:
        write_video(video, frames=frames, seed=seed, progress=progress)
        out_console.print(f"synthetic video ({frames} frames) in {video}")


@app.command()
def train(
    model: str = typer.Option(..., "--model", "-m", help="Architecture: baseline_fcn, simple_unet, resnet_fcn or unet."),
    data: Path = typer.Option(..., help="VOCdevkit root: real VOC2007 (seg data voc2007) or the synthetic set (seg data synth)."),
    year: str = typer.Option("2007", help="VOC year folder to read (VOCdevkit/VOC<year>)."),
    train_split: str = typer.Option("train", help="Split to train on."),
    val_split: str = typer.Option("val", help="Split to evaluate on after every epoch."),
    out: Path = typer.Option(Path("runs"), help="Runs folder; this run writes <out>/<model>/."),
    epochs: Optional[int] = typer.Option(None, help="Epochs \\[default: 30, or no limit with --time-budget]."),
    time_budget: Optional[float] = typer.Option(None, help="Wall-clock MINUTES for the whole run; the LR schedule anneals to fit."),
    batch_size: int = typer.Option(8, help="Images per batch (per process under torchrun)."),
    crop_size: Optional[int] = typer.Option(None, help="Training crop \\[default: the data's median short side, to a multiple of 32]."),
    rotation: float = typer.Option(0.0, help="Max degrees of random rotation (0: off)."),
    jitter: float = typer.Option(0.3, help="Colour-jitter strength (0: off)."),
    optimizer: str = typer.Option("adamw", help="adamw or sgd."),
    lr: Optional[float] = typer.Option(None, help="Peak learning rate \\[default: 1e-3 adamw, 1e-2 sgd]."),
    weight_decay: float = typer.Option(1e-4, help="Weight decay."),
    schedule: str = typer.Option("cosine", help="LR schedule after warm-up: cosine or poly."),
    warmup: float = typer.Option(0.05, help="Fraction of the run spent in linear LR warm-up."),
    class_weights: str = typer.Option("none", help="Loss class weights from label frequencies: none, inverse or median."),
    backbone_weights: Optional[str] = typer.Option(None, help="resnet_fcn: imagenet (default), none, or a local .pth."),
    freeze_backbone: Optional[bool] = typer.Option(None, "--freeze-backbone/--train-backbone", help="resnet_fcn: train the decoder only."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    amp: str = typer.Option("auto", help="Mixed precision + channels_last: auto (CUDA, bf16-capable CPUs), on or off."),
    workers: Optional[int] = typer.Option(None, help="Data-loading processes \\[default: min(4, cores-1)]."),
    patience: int = typer.Option(0, help="Stop after this many epochs without a better val mIoU (0: never)."),
    seed: int = typer.Option(0, help="Random seed (data order, augmentation, init)."),
    resume: bool = typer.Option(False, help="Continue from <out>/<model>/last.pt."),
) -> None:
    """Train a model; checkpoints, metrics.jsonl, curves.png and results.json go to <out>/<model>/.

    Several GPUs: torchrun --nproc_per_node N $(which seg) train ...
    """
    from seg.train import TrainConfig
    from seg.train import train as run_training

    cfg = TrainConfig(
        model=model, data=str(data), year=year, train_split=train_split, val_split=val_split, out=str(out),
        epochs=epochs, time_budget_min=time_budget, batch_size=batch_size, crop_size=crop_size, rotation=rotation,
        jitter=jitter, optimizer=optimizer, lr=lr, weight_decay=weight_decay, schedule=schedule, warmup=warmup,
        class_weights=class_weights, backbone_weights=backbone_weights, freeze_backbone=freeze_backbone, device=device,
        amp=amp, workers=workers, patience=patience, seed=seed, resume=resume,
    )
    run_training(cfg, log=lambda msg: out_console.print(msg, highlight=False, soft_wrap=True))


@app.command("eval")
def evaluate(
    checkpoint: Path = typer.Option(..., help="A checkpoint written by seg train (best.pt or last.pt)."),
    data: Path = typer.Option(..., help="VOCdevkit root to evaluate on."),
    split: str = typer.Option("val", help="Split to evaluate."),
    year: str = typer.Option("2007", help="VOC year folder (VOCdevkit/VOC<year>)."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the metrics as JSON here."),
) -> None:
    """Score a checkpoint: mIoU, pixel accuracy and per-class IoU over a whole split."""
    from seg._io import write_json
    from seg.train import evaluate_checkpoint

    metrics, info = evaluate_checkpoint(checkpoint, data, split, year, device, progress=sys.stderr.isatty())
    names = info.get("class_names") or [str(i) for i in range(info["num_classes"])]
    table = Table(title=f"{info['model']}, {split} split", caption=f"{metrics.pixels:,} labelled pixels")
    table.add_column("class")
    table.add_column("IoU", justify="right")
    for name, iou in zip(names, metrics.iou):
        table.add_row(name, "-" if iou != iou else f"{iou:.4f}")
    out_console.print(table)
    out_console.print(f"mIoU {metrics.miou:.4f}  pixel acc {metrics.pixel_acc:.4f}  mean class acc {metrics.mean_class_acc:.4f}")
    if json_out is not None:
        write_json(json_out, {"checkpoint": str(checkpoint), "model": info["model"], "data": str(data), "split": split,
                              **metrics.as_dict(names)})


@app.command()
def export(
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Architecture to export (or --all)."),
    all_models: bool = typer.Option(False, "--all", help="Export the four models."),
    checkpoint: Optional[Path] = typer.Option(None, help="Checkpoint \\[default: <runs>/<model>/best.pt]."),
    out: Optional[Path] = typer.Option(None, help="Output .onnx \\[default: <runs>/<model>/<model>.onnx]."),
    runs: Path = typer.Option(Path("runs"), help="Runs folder holding <model>/best.pt."),
    random_init: bool = typer.Option(False, "--random-init", help="Export untrained weights (flagged in the metadata)."),
    opset: Optional[int] = typer.Option(None, help="ONNX opset \\[default: the exporter's own, 20 with torch 2.14]."),
    verify: bool = typer.Option(True, help="Check ONNX Runtime against PyTorch at three shapes (batch 2, odd sizes)."),
    simplify: bool = typer.Option(True, help="Simplify the graph with onnxslim; kept only if parity still holds."),
    report: Optional[Path] = typer.Option(None, help="Write the export/verification report as JSON here."),
    precision: str = typer.Option("fp32", help="fp32 | int8 (static quantisation, CPUs; accuracy guardrail) | "
                                  "fp16 (GPUs). Variants go next to the fp32 file: <model>[.e2e].int8.onnx."),
    e2e: bool = typer.Option(False, "--e2e", help="End-to-end graph: uint8 BGR frames [N,H,W,3] in, uint8 labels "
                             "[N,H,W] out (normalisation and argmax inside)."),
    calib_data: Optional[Path] = typer.Option(None, help="int8: VOCdevkit root whose train split calibrates and val "
                                              "split guards \\[default: the checkpoint's training data]."),
    calib_n: int = typer.Option(64, min=1, help="int8: number of calibration images."),
    float_ops: Optional[str] = typer.Option(None, help="int8: comma-separated op types left in float, e.g. "
                                            "Add,Concat,Resize (slower, sometimes more accurate; see the README)."),
    max_drop: float = typer.Option(1.0, min=0.0, help="Guardrail: most mIoU points the int8/fp16 model may lose."),
    force: bool = typer.Option(False, help="Write the int8/fp16 model even when it fails the guardrail."),
) -> None:
    """Export to ONNX: one self-contained file, dynamic batch/height/width, metadata, verified parity."""
    from seg._io import write_json
    from seg.export import DEFAULT_SHAPES, export_checkpoint
    from seg.export.quantize import Int8Config
    from seg.models import MODELS

    if all_models == (model is not None):
        raise SegError("pass either --model NAME or --all")
    names = list(MODELS) if all_models else [model]
    if all_models and (checkpoint is not None or out is not None):
        raise SegError("--checkpoint and --out name one model's files; with --all use the defaults under --runs")
    reports = []
    for name in names:
        r = export_checkpoint(name, checkpoint, out, runs=runs, random_init=random_init, opset=opset,
                              verify_shapes=DEFAULT_SHAPES if verify else None, simplify=simplify,
                              precision=precision, e2e=e2e, calib_data=calib_data, int8=Int8Config(calib_n=calib_n, exclude_ops=tuple(_csv_list(float_ops) or ())),
                              max_drop=max_drop, force=force, log=lambda m: err.print(m, highlight=False))
        reports.append(r)
        if precision != "fp32" or e2e:
            _print_variant(r)
            continue
        table = Table(title=f"{name} -> {r['path']} ({r['bytes'] / 1e6:.1f} MB, {r['total_s']:.0f} s"
                            f"{', simplified' if r['simplified'] else ''}{', UNTRAINED weights' if random_init else ''})")
        for col in ("provider", "input", "output", "max |diff|", "tolerance", "argmax agree", "ok"):
            table.add_column(col, justify="left" if col in ("provider", "input", "output") else "right")
        for c in (r["verification"] or {}).get("checks", []):
            table.add_row(c["provider"].removesuffix("ExecutionProvider"), "x".join(map(str, c["shape"])),
                          "x".join(map(str, c["output_shape"])), f"{c['max_abs_diff']:.2e}", f"{c['tolerance']:.2e}",
                          f"{c['argmax_agreement']:.4%}", "yes" if c["passed"] else "NO")
        if r["verification"] is None:
            out_console.print(f"{name} -> {r['path']} ({r['bytes'] / 1e6:.1f} MB), not verified (--no-verify)")
        else:
            out_console.print(table)
    if report is not None:
        write_json(report, reports if all_models else reports[0])


def _print_variant(r: dict) -> None:
    """One line per check of an int8/fp16/e2e export."""
    what = f"{r['precision']}{' e2e' if r['e2e'] else ''}"
    out_console.print(f"{r['model']} {what} -> {r['path']} ({r['bytes'] / 1e6:.1f} MB)", highlight=False)
    g = r.get("guardrail") or {}
    if "miou" in g:
        out_console.print(f"  guardrail on {g['images']} held-out images: mIoU {g['miou']:.4f} vs fp32 {g['fp32_miou']:.4f} "
                          f"({-g['drop_points']:+.2f} points, limit -{g['max_drop_points']:.2f}), label agreement "
                          f"{g['label_agreement']:.2%}: {'passed' if g['passed'] else 'FAILED (--force)'}", highlight=False)
    elif g:
        out_console.print(f"  guardrail skipped: {g['skipped']}", highlight=False)
    if "e2e_label_agreement" in r:
        out_console.print(f"  e2e graph vs plain model: label agreement {r['e2e_label_agreement']:.4%}", highlight=False)


def _resolve_onnx(model: str, runs: Path, variant: str = "fp32") -> Path:
    """An .onnx path as given, or a model name -> <runs>/<name>/<name>[.e2e][.int8].onnx (torch-free)."""
    from seg.metadata import parse_variant, variant_path

    p = Path(model)
    if p.suffix == ".onnx" or p.exists():
        if not p.is_file():
            raise SegError(f"model file {p} does not exist")
        if variant != "fp32":
            raise SegError("--variant picks a file by model name; with --model PATH.onnx the file is the variant")
        return p
    try:
        precision, e2e = parse_variant(variant)
    except ValueError as e:
        raise SegError(str(e)) from None
    p = variant_path(runs, model, precision, e2e)
    if not p.is_file():
        how = f"seg export --model {model}" + (f" --precision {precision}" if precision != "fp32" else "") + \
            (" --e2e" if e2e else "")
        raise SegError(f"no exported model at {p}: export one with `{how}`, or pass --model PATH.onnx")
    return p


@app.command()
def run(
    model: str = typer.Option("resnet_fcn", "--model", "-m", help="An .onnx file, or a model name (-> <runs>/<name>/<name>.onnx)."),
    video: Optional[Path] = typer.Option(None, help="Video file to segment."),
    source: Optional[str] = typer.Option(None, help="Camera index (0), /dev/videoN, or an rtsp:// or http:// stream."),
    folder: Optional[Path] = typer.Option(None, help="Folder of images."),
    recursive: bool = typer.Option(False, help="With --folder: include sub-folders."),
    images: Optional[str] = typer.Option(None, help="Glob of images, e.g. 'shots/*.jpg' (quote it)."),
    provider: str = typer.Option("auto", help="auto (TensorRT > CUDA > CPU, the first that works), tensorrt, cuda or cpu."),
    fp16: bool = typer.Option(False, help="TensorRT: build fp16 engines."),
    threads: Optional[int] = typer.Option(None, help="CPU provider threads \\[default: one per core]."),
    variant: str = typer.Option("fp32", help="With a model name: which export to run, fp32, int8, fp16, e2e, e2e.int8 "
                                "or e2e.fp16 (-> <runs>/<name>/<name>.e2e.int8.onnx)."),
    opt_level: str = typer.Option("all", help="ONNX Runtime graph optimisation: disable|basic|extended|all."),
    save_optimized: bool = typer.Option(False, help="CPU: keep the optimised graph in <model dir>/.ort-cache/ "
                                        "for a faster next start."),
    imgsz: Optional[int] = typer.Option(None, help="Longer side fed to the model (aspect kept, multiple of 32); 0 = the "
                                        "frame's own size \\[default: the training images' size from the model's "
                                        "metadata, else 512]."),
    alpha: float = typer.Option(0.5, min=0.0, max=1.0, help="Opacity of the class colours in overlays."),
    legend: bool = typer.Option(False, help="Draw the names of the classes present."),
    out: Optional[Path] = typer.Option(None, help="Overlay video (video/camera) or folder (images) \\[default: <runs>/predict/<name>/]."),
    save_masks: Optional[Path] = typer.Option(None, help="Also write palette PNG masks (VOC format) here."),
    show: bool = typer.Option(False, help="Show a live window (needs a display; q or Esc quits)."),
    max_frames: Optional[int] = typer.Option(None, min=1, help="Stop after this many frames."),
    realtime: bool = typer.Option(False, help="Drop stale frames instead of lagging (for live cameras)."),
    runs: Path = typer.Option(Path("runs"), help="Runs folder for model names and default outputs."),
) -> None:
    """Segment a video, camera/stream or images with an exported model (ONNX Runtime + OpenCV)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from seg.infer import Segmenter
    from seg.infer.pipeline import run_pipeline
    from seg.infer.sources import VideoSource, camera_spec, folder_source, glob_source

    given = [x for x in (video, source, folder, images) if x is not None]
    if len(given) != 1:
        raise SegError("pass exactly one of --video, --source, --folder, --images")
    onnx_path = _resolve_onnx(model, runs, variant)
    seg = Segmenter(onnx_path, provider=provider, imgsz=imgsz, threads=threads, fp16=fp16, cache_dir=runs / "trt_cache",
                    opt_level=opt_level, save_optimized=save_optimized)
    if video is not None:
        src = VideoSource(str(video))
    elif source is not None:
        src = VideoSource(camera_spec(source), live=True)
    elif folder is not None:
        src = folder_source(folder, recursive)
    else:
        src = glob_source(images)
    name = src.stem
    out_video = out_dir = None
    if src.is_video:
        out_video = out or runs / "predict" / name / f"{name}.mp4"
        if out_video.suffix.lower() not in (".mp4", ".avi"):
            raise SegError(f"--out {out_video} must end in .mp4 or .avi for a video source")
    else:
        out_dir = out or runs / "predict" / name
    weights = seg.meta.get("weights", "?")
    err.print(f"{seg.meta.get('model')} ({onnx_path}{', UNTRAINED weights' if weights == 'random-init' else ''}) "
              f"on {seg.provider}, model input {seg.imgsz or 'native'} px", highlight=False)
    total = min(x for x in (src.count, max_frames) if x) if (src.count or max_frames) else None
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, disable=not sys.stderr.isatty(), transient=True) as bar:
        task = bar.add_task(name, total=total)
        summary = run_pipeline(seg, src, out_video=out_video, out_dir=out_dir, masks_dir=save_masks, alpha=alpha,
                               legend=legend, show=show, max_frames=max_frames, realtime=realtime,
                               on_frame=lambda n: bar.update(task, completed=n))
    for w in summary.warnings:
        err.print(f"warning: {w}", highlight=False, soft_wrap=True)
    table = Table(title=f"{summary.frames} frames, {summary.fps:.1f} FPS end to end",
                  caption=f"{summary.wall_s:.1f} s on {summary.provider}{', interrupted' if summary.interrupted else ''}")
    for col in ("stage", "mean ms", "p50 ms", "p95 ms"):
        table.add_column(col, justify="left" if col == "stage" else "right")
    for stage, st in summary.stage_stats().items():
        table.add_row(stage, f"{st['mean']:.1f}", f"{st['p50']:.1f}", f"{st['p95']:.1f}")
    out_console.print(table)
    extra = [f"{summary.skipped} skipped"] if summary.skipped else []
    extra += [f"{summary.dropped} dropped (realtime)"] if summary.dropped else []
    for key, value in summary.outputs.items():
        out_console.print(f"{key}: {value}", highlight=False)
    if extra:
        out_console.print(", ".join(extra))
    if summary.interrupted:
        raise typer.Exit(130)


def _csv_list(value: Optional[str]) -> Optional[list[str]]:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


@app.command()
def bench(
    models: Optional[str] = typer.Option(None, help="Comma-separated models \\[default: all four]."),
    data: Optional[Path] = typer.Option(None, help="VOCdevkit root whose val split gives mIoU per engine."),
    year: str = typer.Option("2007", help="VOC year folder of --data."),
    size: tuple[int, int] = typer.Option((256, 256), help="Input height and width for timing."),
    batch: int = typer.Option(1, min=1, help="Batch size for timing."),
    providers: Optional[str] = typer.Option(None, help="Comma-separated ONNX Runtime providers \\[default: the best available]."),
    engines: str = typer.Option("onnxruntime,torch", help="Comma-separated engines: onnxruntime, torch (eager fp32, the reference)."),
    runs_n: int = typer.Option(20, "--runs", min=1, help="Timed runs per engine."),
    warmup: int = typer.Option(3, min=0, help="Untimed warm-up runs per engine."),
    runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help="Where <model>/best.pt and <model>.onnx live."),
    random_init: bool = typer.Option(False, "--random-init", help="Bench untrained weights where no checkpoint exists (flagged)."),
    variants: Optional[str] = typer.Option(None, help="Comma-separated ONNX variants: fp32, int8, fp16, e2e, e2e.int8, "
                                           "e2e.fp16; exported when missing \\[default: fp32,int8,e2e,e2e.int8 on CPU, "
                                           "fp16 ones on GPU]."),
    torch_bf16: Optional[bool] = typer.Option(None, "--torch-bf16/--no-torch-bf16", help="Add PyTorch bf16 autocast + "
                                              "channels_last rows \\[default: where the CPU has native bf16]."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write header + rows as JSON."),
    csv_out: Optional[Path] = typer.Option(None, "--csv", help="Write the rows as CSV."),
    md_out: Optional[Path] = typer.Option(None, "--md", help="Write a Markdown table."),
    plot: Optional[Path] = typer.Option(None, help="Write a PNG of FPS against mIoU."),
) -> None:
    """FPS, latency (p50/p90/p99) and mIoU per model x engine x provider, PyTorch alongside."""
    from rich.progress import Progress

    from seg.bench import ENGINES, row_label, write_outputs
    from seg.bench import bench as run_bench
    from seg.models import MODELS

    names = _csv_list(models) or list(MODELS)
    with Progress(console=err, disable=not sys.stderr.isatty(), transient=True) as bar:
        task = bar.add_task("bench", total=None)
        result = run_bench(names, runs=runs_dir, data=data, year=year, size=size, batch=batch,
                           providers=_csv_list(providers), engines=tuple(_csv_list(engines) or ENGINES), n_runs=runs_n,
                           warmup=warmup, random_init=random_init, torch_bf16=torch_bf16,
                           variants=tuple(_csv_list(variants)) if variants else None,
                           log=lambda m: err.print(m, highlight=False),
                           on_progress=lambda m: bar.update(task, description=m))
    h = result["header"]
    table = Table(title=f"seg bench: {h['batch']}x3x{h['size'][0]}x{h['size'][1]}, {h['runs']} runs"
                        f"{' (INTERRUPTED: partial)' if h['interrupted'] else ''}",
                  caption=f"{h['cpu']}, {h['cores']} cores, GPU {h.get('gpu') or 'none'}; ORT {h['onnxruntime']}, "
                          f"torch {h.get('torch', '-')}")
    cols = ("model", "engine", "precision", "provider", "weights", "p50 ms", "p90 ms", "p99 ms", "FPS", "vs torch fp32",
            "vs best torch", "mIoU", "pixel acc")
    for c in cols:
        table.add_column(c, justify="left" if c in cols[:5] else "right")

    def fmt(v, spec, suffix=""):
        return "-" if v is None else format(v, spec) + suffix

    for r in result["rows"]:
        table.add_row(r["model"], r["engine"], row_label(r), r["provider"], r["weights"], f"{r['latency_ms_p50']:.1f}",
                      f"{r['latency_ms_p90']:.1f}", f"{r['latency_ms_p99']:.1f}", f"{r['fps']:.1f}",
                      fmt(r.get("speedup_vs_torch"), ".2f", "x"), fmt(r.get("speedup_vs_torch_best"), ".2f", "x"),
                      fmt(r["miou"], ".3f"), fmt(r["pixel_acc"], ".3f"))
    out_console.print(table)
    for sk in h.get("skipped", []):
        out_console.print(f"{sk['model']} {sk['variant']}: not benchmarked: {sk.get('reason')}", highlight=False)
    write_outputs(result, json_out, csv_out, md_out, plot)
    if h["interrupted"]:
        raise typer.Exit(130)


@app.command()
def demo(
    minutes: float = typer.Option(10.0, min=0.2, help="Rough total budget; 60% of it trains the four models."),
    root: Path = typer.Option(Path("runs/demo"), help="Where data, runs and the bench go."),
    quick: bool = typer.Option(False, help="Tiny data and sizes: a smoke test in about a minute of training."),
) -> None:
    """The whole tool on the synthetic set: data -> train x4 -> export x4 -> run on a video -> bench."""
    from seg.demo import demo as run_demo

    run_demo(minutes, root, log=lambda m: out_console.print(m, highlight=False, soft_wrap=True), quick=quick)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the app, turning SegError into one line and exit 1."""
    try:
        app(args=argv, prog_name="seg")
    except SegError as e:
        msg = str(e)
        if "Original Traceback" in msg:  # re-raised from a DataLoader worker: keep the original line
            msg = msg.rstrip().splitlines()[-1].split("SegError: ", 1)[-1]
        err.print(f"[bold red]error:[/] {escape(msg)}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
