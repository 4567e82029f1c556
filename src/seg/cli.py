"""The ``seg`` command line: a thin typer layer, one library call per command.

Errors the user can fix are raised as :class:`seg.errors.SegError` anywhere below and printed
here as one line (``error: ...``) with exit code 1; usage errors (an unknown option, a value out
of its range, an input path that does not exist or is of the wrong kind) are one line too, with
exit code 2. Numbers and paths are checked while the arguments are parsed, so a bad value never
costs minutes of work first.

Why one ~850-line module: it is the whole command-line surface of eleven commands, and most of
its lines are their typer option declarations and help texts, which read best next to the
function they configure. The work is in the library; what a command does beyond calling it is
printing its tables (the column specs are here because only the CLI draws them).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Callable, Optional

import typer
from rich.console import Console
from rich.text import Text

from seg import __version__
from seg._io import check_output_dir, check_output_file
from seg.errors import SegError
from seg.layout import VARIANTS
from seg.metadata import MAX_SIZE, MIN_SIZE
from seg.tables import Column, fmt, show

_started = time.perf_counter()  # when this command began (reset by main): a training time budget counts from it

# rich_markup_mode=None: click's plain help, which wraps every cell at the terminal's width; typer's
# boxed rich help cut option names and defaults with an ellipsis at 80 columns.
app = typer.Typer(
    help="seg: train, export, run and benchmark semantic-segmentation models (PyTorch -> ONNX).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
)
data_app = typer.Typer(help="Get datasets: real PASCAL VOC 2007, or a synthetic VOC-format set.", no_args_is_help=True,
                       rich_markup_mode=None)
app.add_typer(data_app, name="data")

# No markup: paths, class names and messages are printed as they are (a "[train]" is not a tag).
out_console = Console(markup=False)
err = Console(stderr=True, markup=False)


def _error(message: str) -> None:
    """``error: message`` on stderr, the prefix in bold red where the terminal shows colour."""
    err.print(Text.assemble(("error:", "bold red"), " ", message), highlight=False, soft_wrap=True)


# ---- parse-time checks (typer callbacks): nothing runs before they pass --------------------------

def _out_file(what: str) -> Callable[[Optional[Path]], Optional[Path]]:
    """A callback refusing an output file that cannot be written (a folder, a read-only place)."""
    def check(value: Optional[Path]) -> Optional[Path]:
        return value if value is None else check_output_file(value, what)
    return check


def _out_dir(what: str) -> Callable[[Optional[Path]], Optional[Path]]:
    """A callback refusing an output folder that cannot be made or written."""
    def check(value: Optional[Path]) -> Optional[Path]:
        return value if value is None else check_output_dir(value, what)
    return check


def _choice(*choices: str) -> Callable[[Optional[str]], Optional[str]]:
    """A callback accepting one of ``choices`` (typer's Enum types would print Python class names)."""
    def check(value: Optional[str]) -> Optional[str]:
        if value is not None and value not in choices:
            raise typer.BadParameter(f"{value!r} is not one of {', '.join(choices)}.")
        return value
    return check


# seg.infer.session's providers, named here without importing onnxruntime (a test checks they agree).
PROVIDER_CHOICES = ("auto", "tensorrt", "cuda", "cpu")


def _positive(value: Optional[float]) -> Optional[float]:
    if value is not None and not value > 0:
        raise typer.BadParameter(f"{value:g} is not > 0.")
    return value


def _imgsz(value: Optional[int]) -> Optional[int]:
    if value is not None and value != 0 and not MIN_SIZE <= value <= MAX_SIZE:
        raise typer.BadParameter(f"{value} is neither 0 (the frame's own size) nor in the range {MIN_SIZE}..{MAX_SIZE}.")
    return value


def _hw(value: tuple[int, int]) -> tuple[int, int]:
    if not all(MIN_SIZE <= v <= MAX_SIZE for v in value):
        raise typer.BadParameter(f"{value[0]} {value[1]}: height and width must lie in {MIN_SIZE}..{MAX_SIZE}.")
    return value


def _require(command: str, *modules: str) -> None:
    """One line, not an ImportError, when a command needs what only the training extra installs."""
    from seg.machine import installed

    missing = [m for m in modules if not installed(m)]
    if missing:
        raise SegError(f'seg {command} needs the training extra ({", ".join(missing)} not installed): '
                       'pip install "seg[train]"')


TRAINING = ("torch", "torchvision")
# The seed write-up's architectures (seg.models.SEED_MODELS: bench's default set), named without
# importing the registry (it imports torch).
MODEL_NAMES = ("baseline_fcn", "simple_unet", "resnet_fcn", "unet")


# Existing inputs, checked by typer itself ("File 'x' is a directory." and so on).
_IN_FILE = dict(exists=True, dir_okay=False, readable=True)
_IN_DIR = dict(exists=True, file_okay=False, readable=True)


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
    size: int = typer.Option(512, min=MIN_SIZE, max=MAX_SIZE, help="Square input size at which GFLOPs are counted."),
) -> None:
    """List the architectures and where their weights come from.

    The seed write-up's four are trained with seg train; torchvision's pretrained models come
    with published weights (--weights coco-voc) and their published metrics."""
    _require("models", *TRAINING)
    from seg.models import MODELS, check_model_name, count_parameters, get_model, model_flops

    from seg.models.pretrained import PRETRAINED, published

    def weights(n: str) -> str:
        if n not in PRETRAINED:
            return "seed: seg train"
        m = published(n)["metrics"]
        return f"coco-voc: mIoU {m['miou']:.1%}, pixel acc {m['pixel_acc']:.1%}"

    names = [check_model_name(n) for n in names] if names else list(MODELS)
    rows = [{"model": n, "params": count_parameters(get_model(n)), "gflops": model_flops(n, size, size) / 1e9,
             "weights": weights(n), "doc": (MODELS[n].__doc__ or "").strip().splitlines()[0]} for n in names]
    columns = [Column("model", lambda r: r["model"]), Column("params", lambda r: f"{r['params']:,}", right=True),
               Column("GFLOPs", lambda r: f"{r['gflops']:.1f}", right=True), Column("weights", lambda r: r["weights"]),
               Column("description", lambda r: r["doc"], drop=1)]
    show(out_console, columns, rows, title=f"seg models (GFLOPs at 1x3x{size}x{size}; a multiply-add = 2 FLOPs; "
         "published metrics: COCO val2017, VOC labels)")


@data_app.command("voc2007")
def data_voc2007(
    root: Path = typer.Option(Path("data"), callback=_out_dir("data folder"),
                              help="Folder to download and extract into (gets VOCdevkit/VOC2007)."),
    mirror: Optional[str] = typer.Option(None, help="Base URL of a mirror holding the two tarballs (same md5s)."),
    keep_archives: bool = typer.Option(True, help="Keep the .tar files after extraction."),
) -> None:
    """Download PASCAL VOC 2007 (trainval + test, ~870 MB), verify md5, resume, extract."""
    from seg.data.download import VOC2007, download_voc2007, mirrored

    resources = mirrored(mirror) if mirror else VOC2007
    voc_dir = download_voc2007(root, resources, keep_archives=keep_archives, progress=sys.stderr.isatty())
    out_console.print(f"VOC2007 ready in {voc_dir}", highlight=False)


@data_app.command("synth")
def data_synth(
    root: Path = typer.Option(Path("data/synth"), callback=_out_dir("data folder"),
                              help="Folder to write (gets VOCdevkit/VOC2007)."),
    train: int = typer.Option(400, min=1, max=1_000_000, help="Number of training images."),
    val: int = typer.Option(100, min=1, max=1_000_000, help="Number of validation images."),
    size: int = typer.Option(160, min=MIN_SIZE, max=MAX_SIZE, help="Image width in pixels (heights vary in 0.75-1x of it)."),
    seed: int = typer.Option(0, min=0, max=2**32 - 1, help="Random seed; the same seed writes the same files."),
    overwrite: bool = typer.Option(False, help="Replace a synthetic set generated with other settings."),
    video: Optional[Path] = typer.Option(None, callback=_out_file("video"),
                                         help="Also write a video of moving synthetic objects (.mp4 or .avi)."),
    frames: int = typer.Option(90, min=1, max=100_000, help="Frames in --video."),
) -> None:
    """Generate a synthetic dataset in the VOC layout (and optionally a video)."""
    from seg.data.synth import SynthConfig, check_video_args, generate, write_video

    progress = sys.stderr.isatty()
    if video is not None:
        check_video_args(video, frames)
    voc_dir = generate(root, SynthConfig(train=train, val=val, size=size, seed=seed), overwrite=overwrite, progress=progress)
    out_console.print(f"synthetic VOC set ({train} train, {val} val, {size} px wide) in {voc_dir}", highlight=False)
    if video is not None:
        write_video(video, frames=frames, seed=seed, progress=progress)
        out_console.print(f"synthetic video ({frames} frames) in {video}", highlight=False)


@app.command()
def train(
    model: str = typer.Option(..., "--model", "-m", help="Architecture: baseline_fcn, simple_unet, resnet_fcn, unet, or "
                              "one of torchvision's pretrained models (seg models)."),
    data: Path = typer.Option(..., **_IN_DIR, help="VOCdevkit root: real VOC2007 (seg data voc2007) or the synthetic set (seg data synth)."),
    year: str = typer.Option("2007", help="VOC year folder to read (VOCdevkit/VOC<year>)."),
    train_split: str = typer.Option("train", help="Split to train on."),
    val_split: str = typer.Option("val", help="Split to evaluate on after every epoch."),
    out: Path = typer.Option(Path("runs"), callback=_out_dir("runs folder"), help="Runs folder; this run writes <out>/<model>/."),
    epochs: Optional[int] = typer.Option(None, min=1, max=1_000_000, help="Epochs [default: 30, or no limit with --time-budget]."),
    time_budget: Optional[float] = typer.Option(None, callback=_positive, max=1e6, help="Wall-clock MINUTES for the whole "
                                                "command, start-up and evaluations included; the LR schedule anneals to fit."),
    batch_size: int = typer.Option(8, min=2, max=4096, help="Images per batch (per process under torchrun); batch norm needs 2."),
    crop_size: Optional[int] = typer.Option(None, min=MIN_SIZE, max=MAX_SIZE, help="Training crop [default: the data's median short side, to a multiple of 32]."),
    rotation: float = typer.Option(0.0, min=0.0, max=180.0, help="Max degrees of random rotation (0: off)."),
    jitter: float = typer.Option(0.3, min=0.0, max=1.0, help="Colour-jitter strength (0: off)."),
    optimizer: str = typer.Option("adamw", help="adamw or sgd."),
    lr: Optional[float] = typer.Option(None, callback=_positive, max=10.0, help="Peak learning rate [default: 3e-3 adamw, 1e-2 sgd]."),
    weight_decay: float = typer.Option(1e-4, min=0.0, max=1.0, help="Weight decay."),
    schedule: str = typer.Option("cosine", help="LR schedule after warm-up: cosine or poly."),
    warmup: float = typer.Option(0.05, min=0.0, max=0.9, help="Fraction of the run spent in linear LR warm-up."),
    class_weights: str = typer.Option("none", help="Loss class weights from label frequencies: none, inverse or median."),
    backbone_weights: Optional[str] = typer.Option(None, help="resnet_fcn: imagenet (default), none, or a local .pth."),
    freeze_backbone: Optional[bool] = typer.Option(None, "--freeze-backbone/--train-backbone", help="resnet_fcn: train the decoder only."),
    weights: Optional[str] = typer.Option(None, help="torchvision's pretrained models (seg models): coco-voc (default: "
                                          "fine-tune the published weights), none, or a local .pth."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    amp: str = typer.Option("auto", help="Mixed precision + channels_last: auto (CUDA, bf16-capable CPUs), on or off."),
    workers: Optional[int] = typer.Option(None, min=0, max=256, help="Data-loading processes [default: 0 on 2 cores or fewer, else min(4, cores-1)]."),
    patience: int = typer.Option(0, min=0, max=1_000_000, help="Stop after this many epochs without a better val mIoU (0: never)."),
    seed: int = typer.Option(0, min=0, max=2**31 - 1, help="Random seed (data order, augmentation, init)."),
    resume: bool = typer.Option(False, help="Continue from <out>/<model>/last.pt."),
) -> None:
    """Train a model; its outputs go to <out>/<model>/.

    best.pt and last.pt (checkpoints), metrics.jsonl, curves.png and results.json.

    Several GPUs: torchrun --nproc_per_node N $(which seg) train ...
    """
    _require("train", *TRAINING, "matplotlib")
    from seg.train import TrainConfig
    from seg.train import train as run_training

    cfg = TrainConfig(
        model=model, data=str(data), year=year, train_split=train_split, val_split=val_split, out=str(out),
        epochs=epochs, time_budget_min=time_budget, batch_size=batch_size, crop_size=crop_size, rotation=rotation,
        jitter=jitter, optimizer=optimizer, lr=lr, weight_decay=weight_decay, schedule=schedule, warmup=warmup,
        class_weights=class_weights, backbone_weights=backbone_weights, freeze_backbone=freeze_backbone, weights=weights,
        device=device, amp=amp, workers=workers, patience=patience, seed=seed, resume=resume,
    )
    run_training(cfg, log=lambda msg: out_console.print(msg, highlight=False, soft_wrap=True), started=_started)


@app.command("eval")
def evaluate(
    checkpoint: Optional[Path] = typer.Option(None, **_IN_FILE, help="A checkpoint written by seg train (best.pt or "
                                              "last.pt); needs the training extra."),
    model: Optional[Path] = typer.Option(None, "--model", "-m", **_IN_FILE, help="Or an exported .onnx model: scored "
                                         "with ONNX Runtime, no torch needed."),
    data: Path = typer.Option(..., **_IN_DIR, help="VOCdevkit root to evaluate on."),
    split: str = typer.Option("val", help="Split to evaluate."),
    year: str = typer.Option("2007", help="VOC year folder (VOCdevkit/VOC<year>)."),
    device: str = typer.Option("auto", help="--checkpoint: auto, cpu or cuda."),
    provider: str = typer.Option("auto", callback=_choice(*PROVIDER_CHOICES),
                                 help="--model: auto (TensorRT > CUDA > CPU), tensorrt, cuda or cpu."),
    json_out: Optional[Path] = typer.Option(None, "--json", callback=_out_file("--json file"),
                                            help="Also write the metrics as JSON here."),
) -> None:
    """Score a checkpoint or an .onnx model: mIoU, IoU per class.

    Pixel accuracy and mean class accuracy too, over the whole split (void pixels excluded).
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from seg._io import write_json
    from seg.data import VOCSegmentation

    if (checkpoint is None) == (model is None):
        raise SegError("pass either --checkpoint FILE.pt or --model FILE.onnx")
    if checkpoint is not None:
        _require("eval --checkpoint", *TRAINING)
        from seg.train import evaluate_checkpoint

        metrics, info = evaluate_checkpoint(checkpoint, data, split, year, device, progress=sys.stderr.isatty())
        arch, what = info["model"], info["model"]
        names = info.get("class_names") or [str(i) for i in range(info["num_classes"])]
    else:
        from seg.infer.evaluate import evaluate_onnx

        dataset = VOCSegmentation(data, year, split)
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=err, disable=not sys.stderr.isatty(), transient=True) as bar:
            task = bar.add_task("eval", total=len(dataset))
            metrics, meta, used = evaluate_onnx(model, dataset, provider, on_image=lambda n: bar.update(task, completed=n))
        arch, names = meta.get("model"), meta["class_names"]
        what = f"{arch} ({model.name}, ONNX Runtime on {used})"
    show(out_console, [Column("class", lambda r: r[0]), Column("IoU", lambda r: fmt(r[1], ".4f"), right=True)],
         [(n, None if iou != iou else iou) for n, iou in zip(names, metrics.iou)],
         title=f"{what}, {split} split", caption=f"{metrics.pixels:,} labelled pixels")
    out_console.print(f"mIoU {metrics.miou:.4f}  pixel acc {metrics.pixel_acc:.4f}  mean class acc {metrics.mean_class_acc:.4f}",
                      highlight=False)
    if json_out is not None:
        source = {"checkpoint": str(checkpoint)} if checkpoint is not None else {"model_file": str(model)}
        write_json(json_out, {**source, "model": arch, "data": str(data), "split": split, **metrics.as_dict(names)})


# The verification table of `seg export`: one row per provider x input shape.
VERIFY_COLUMNS = [
    Column("provider", lambda c: c["provider"].removesuffix("ExecutionProvider")),
    Column("input", lambda c: "x".join(map(str, c["shape"]))),
    Column("output", lambda c: "x".join(map(str, c["output_shape"])), drop=2),
    Column("max |diff|", lambda c: f"{c['max_abs_diff']:.2e}", right=True),
    Column("tolerance", lambda c: f"{c['tolerance']:.2e}", right=True, drop=3),
    Column("argmax agree", lambda c: f"{c['argmax_agreement']:.4%}", right=True),
    Column("ok", lambda c: "yes" if c["passed"] else "NO", right=True),
]


@app.command()
def export(
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Architecture to export from its checkpoint (or "
                                        "--all); needs the training extra."),
    all_models: bool = typer.Option(False, "--all", help="Export the seed write-up's four models (from their checkpoints)."),
    onnx_in: Optional[Path] = typer.Option(None, "--onnx", **_IN_FILE, help="Or an fp32 .onnx export to build a variant "
                                           "from (--precision, --e2e), on this machine and without torch."),
    checkpoint: Optional[Path] = typer.Option(None, **_IN_FILE, help="Checkpoint [default: <runs>/<model>/best.pt]."),
    out: Optional[Path] = typer.Option(None, callback=_out_file("output file"),
                                       help="Output .onnx [default: <runs>/<model>/<model>.onnx]."),
    runs: Path = typer.Option(Path("runs"), help="Runs folder holding <model>/best.pt."),
    random_init: bool = typer.Option(False, "--random-init", help="Export untrained weights (flagged in the metadata)."),
    weights: Optional[str] = typer.Option(None, help="torchvision's pretrained models, instead of a checkpoint: coco-voc "
                                          "(published weights, downloaded once), none (random init) or a local .pth."),
    opset: Optional[int] = typer.Option(None, min=1, max=99, help="ONNX opset [default: the exporter's own, 20 with torch 2.14]."),
    verify: bool = typer.Option(True, help="Check ONNX Runtime against PyTorch at three shapes (batch 2, odd sizes)."),
    simplify: bool = typer.Option(True, help="Simplify the graph with onnxslim; kept only if parity still holds."),
    report: Optional[Path] = typer.Option(None, callback=_out_file("--report file"),
                                          help="Write the export/verification report as JSON here."),
    precision: str = typer.Option("fp32", callback=_choice("fp32", "int8", "fp16", "auto"),
                                  help="fp32 | int8 (static quantisation, CPUs; accuracy guardrail) | fp16 (GPUs) | "
                                  "auto (the fastest of fp32 and int8 forms on this CPU that passes its guardrail). "
                                  "Variants go next to the fp32 file: <model>[.e2e].int8.onnx."),
    e2e: bool = typer.Option(False, "--e2e", help="End-to-end graph: uint8 BGR frames [N,H,W,3] in, uint8 labels "
                             "[N,H,W] out (normalisation and argmax inside)."),
    calib_data: Optional[Path] = typer.Option(None, **_IN_DIR, help="int8: a VOCdevkit root (train split calibrates, "
                                              "val split guards by mIoU) or a folder of plain images (calibrate, and "
                                              "guard by label agreement with fp32) [default: the checkpoint's training data]."),
    calib_n: int = typer.Option(64, min=1, max=100_000, help="int8: number of calibration images."),
    float_ops: Optional[str] = typer.Option(None, help="int8: comma-separated op types left in float, e.g. "
                                            "Add,Concat,Resize (slower, sometimes more accurate; see docs/export.md)."),
    max_drop: float = typer.Option(1.0, min=0.0, max=100.0, help="Guardrail with masks: most mIoU points the int8/fp16 "
                                   "model may lose."),
    min_agreement: float = typer.Option(0.95, min=0.0, max=1.0, help="Guardrail on plain images: least share of pixels "
                                        "where the int8/fp16 model must give the fp32 model's label."),
    force: bool = typer.Option(False, help="Write the int8/fp16 model even when it fails the guardrail."),
) -> None:
    """Export to ONNX (verified), or build int8/fp16/e2e variants.

    One self-contained file, dynamic batch/height/width, metadata, parity with PyTorch checked.

    Variants (int8, fp16, e2e) of an existing export: seg export --onnx FILE.onnx --precision int8 --e2e
    --calib-data DIR (no torch needed: build them on the edge box itself).
    """
    from seg._io import write_json
    from seg.variants import Int8Config

    int8 = Int8Config(calib_n=calib_n, exclude_ops=tuple(_csv_list(float_ops) or ()))
    if onnx_in is not None:
        if model is not None or all_models or checkpoint is not None or random_init or weights is not None:
            raise SegError("--onnx builds a variant of an existing export; it excludes --model, --all, --checkpoint, "
                           "--weights and --random-init")
        r = _variant_of_onnx(onnx_in, out, precision, e2e, calib_data, int8, max_drop, min_agreement, force)
        _print_variant(r)
        if report is not None:
            write_json(report, r)
        return
    if all_models == (model is not None):
        raise SegError("pass either --model NAME, --all or --onnx FILE.onnx")
    _require("export --model", *TRAINING, "onnxscript")
    from seg.export import DEFAULT_SHAPES, export_checkpoint
    from seg.models import SEED_MODELS

    names = list(SEED_MODELS) if all_models else [model]
    if all_models and (checkpoint is not None or out is not None or weights is not None):
        raise SegError("--checkpoint, --weights and --out name one model's files; with --all use the defaults under --runs")
    reports = []
    for name in names:
        r = export_checkpoint(name, checkpoint, out, runs=runs, random_init=random_init, opset=opset,
                              verify_shapes=DEFAULT_SHAPES if verify else None, simplify=simplify,
                              precision=precision, e2e=e2e, calib_data=calib_data, int8=int8, max_drop=max_drop,
                              min_agreement=min_agreement, force=force, weights=weights,
                              log=lambda m: err.print(m, highlight=False))
        reports.append(r)
        if precision != "fp32" or e2e:
            _print_variant(r)
            continue
        title = (f"{name} -> {r['path']} ({r['bytes'] / 1e6:.1f} MB, {r['total_s']:.0f} s"
                 f"{', simplified' if r['simplified'] else ''}{', UNTRAINED weights' if random_init or weights == 'none' else ''})")
        if r["verification"] is None:
            out_console.print(f"{name} -> {r['path']} ({r['bytes'] / 1e6:.1f} MB), not verified (--no-verify)", highlight=False)
        else:
            show(out_console, VERIFY_COLUMNS, r["verification"]["checks"], title=title)
    if report is not None:
        write_json(report, reports if all_models else reports[0])


def _variant_of_onnx(path: Path, out: Optional[Path], precision: str, e2e: bool, calib_data: Optional[Path], int8,
                     max_drop: float, min_agreement: float, force: bool) -> dict:
    """`seg export --onnx`: a variant of an existing fp32 export, next to it by default (torch-free)."""
    from seg.errors import NoCalibrationData
    from seg.layout import variant_name
    from seg.variants import calibration_sets, make_variant

    if precision == "fp32" and not e2e:
        raise SegError("--onnx builds a variant: pass --precision int8|fp16 and/or --e2e")
    if out is None:
        out = path.with_name(variant_name(path.name.removesuffix(".onnx"), precision, e2e))
    if out.suffix != ".onnx":
        raise SegError(f"output path {out} must end in .onnx")
    if calib_data is None and precision == "int8":
        raise NoCalibrationData("none given")
    calib, heldout = (calibration_sets(calib_data, int8.calib_n, need_calib=precision in ("int8", "auto"))
                      if calib_data is not None else (None, None))
    log = lambda m: err.print(m, highlight=False, soft_wrap=True)  # noqa: E731
    if precision == "auto":
        from seg.variants.auto import auto_variant

        return auto_variant(path, out, e2e=e2e, calib=calib, heldout=heldout, int8=int8, max_drop=max_drop,
                            min_agreement=min_agreement, log=log)
    return make_variant(path, out, precision=precision, e2e=e2e, calib=calib, heldout=heldout, int8=int8,
                        max_drop=max_drop, min_agreement=min_agreement, force=force, log=log)


def _print_variant(r: dict) -> None:
    """One line per check of an int8/fp16/e2e export."""
    what = f"{r['precision']}{' e2e' if r['e2e'] else ''}"
    if r.get("auto"):
        what = f"auto: {r['auto']['chosen']}{' e2e' if r['e2e'] else ''}"
    out_console.print(f"{r['model']} {what} -> {r['path']} ({r['bytes'] / 1e6:.1f} MB)", highlight=False, soft_wrap=True)
    g = r.get("guardrail") or {}
    verdict = "passed" if g.get("passed") else "FAILED (--force)"
    held = "held-out" if g.get("held_out", True) else "(calibration, not held-out)"
    if g.get("kind") == "miou":
        out_console.print(f"  guardrail on {g['images']} {held} images: mIoU {g['miou']:.4f} vs fp32 {g['fp32_miou']:.4f} "
                          f"({-g['drop_points']:+.2f} points, limit -{g['max_drop_points']:.2f}), label agreement "
                          f"{g['label_agreement']:.2%}: {verdict}", highlight=False, soft_wrap=True)
    elif g.get("kind") == "agreement":
        out_console.print(f"  guardrail on {g['images']} {held} images without masks: label agreement with fp32 "
                          f"{g['label_agreement']:.2%} (limit {g['min_agreement']:.0%}): {verdict}", highlight=False, soft_wrap=True)
    elif g:
        out_console.print(f"  guardrail skipped: {g['skipped']}", highlight=False, soft_wrap=True)
    if "e2e_label_agreement" in r:
        out_console.print(f"  e2e graph vs plain model: label agreement {r['e2e_label_agreement']:.4%}", highlight=False, soft_wrap=True)
    for c in (r.get("auto") or {}).get("candidates", []):  # --precision auto: every candidate and why
        ms = f"{c['ms']:.1f} ms/frame" if "ms" in c else "not timed"
        out_console.print(f"  auto: {c['name']}: {ms}: {c['why']}", highlight=False, soft_wrap=True)


def _resolve_onnx(model: str, runs: Path, variant: str = "fp32") -> Path:
    """An .onnx path as given, or a model name -> <runs>/<name>/<name>[.e2e][.int8].onnx (torch-free)."""
    from seg.layout import parse_variant, variant_path

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
        how = f"seg export --model {model}" + (f" --precision {precision}" if precision != "fp32" else "") + \
            (" --e2e" if e2e else "")
        raise SegError(f"no exported model at {p}: export one with `{how}`, or pass --model PATH.onnx")
    return p


def _existing_files(folder: Path) -> int:
    return sum(1 for p in folder.iterdir() if p.is_file()) if folder.is_dir() else 0


STAGE_COLUMNS = [Column("stage", lambda r: r[0])] + [
    Column(f"{k} ms", lambda r, k=k: f"{r[1][k]:.1f}", right=True) for k in ("mean", "p50", "p95")]


@app.command()
def run(
    model: str = typer.Option("resnet_fcn", "--model", "-m", help="An .onnx file, or a model name (-> <runs>/<name>/<name>.onnx)."),
    video: Optional[Path] = typer.Option(None, **_IN_FILE, help="Video file to segment."),
    source: Optional[str] = typer.Option(None, help="Camera index (0), /dev/videoN, or an rtsp:// or http:// stream."),
    folder: Optional[Path] = typer.Option(None, **_IN_DIR, help="Folder of images."),
    recursive: bool = typer.Option(False, help="With --folder: include sub-folders."),
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
                                        "read-only there, in ~/.cache/seg) for a faster next start."),
    imgsz: Optional[int] = typer.Option(None, callback=_imgsz, help=f"Longer side fed to the model (aspect kept, multiple "
                                        f"of 32), {MIN_SIZE}..{MAX_SIZE}; 0 = the frame's own size (at most {MAX_SIZE}) "
                                        "[default: the training images' size from the model's metadata, torchvision's preset "
                                        "(shorter side 520) for its pretrained models, else 512]."),
    alpha: float = typer.Option(0.5, min=0.0, max=1.0, help="Opacity of the class colours in overlays."),
    legend: bool = typer.Option(False, help="Draw the names of the classes present."),
    out: Optional[Path] = typer.Option(None, help="Overlay video (video/camera) or folder (images) "
                                       "[default: <runs>/predict/<source>-<model file>/]."),
    save_masks: Optional[Path] = typer.Option(None, callback=_out_dir("--save-masks folder"),
                                              help="Also write palette PNG masks (VOC format) here."),
    show_window: bool = typer.Option(False, "--show", help="Show a live window (needs a display; q or Esc quits). "
                                     "Without one, seg warns and runs headless."),
    max_frames: Optional[int] = typer.Option(None, min=1, help="Stop after this many frames."),
    realtime: bool = typer.Option(False, help="Drop stale frames instead of lagging (for live cameras)."),
    timeout: float = typer.Option(10.0, callback=_positive, max=3600.0, help="Seconds a camera/stream may take to "
                                  "connect and to send each frame before seg stops waiting."),
    runs: Path = typer.Option(Path("runs"), help="Runs folder for model names and default outputs."),
) -> None:
    """Segment a video, camera or images with an .onnx model.

    ONNX Runtime + OpenCV: overlays (a video, or images) and optionally palette PNG masks.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from seg.infer import Segmenter
    from seg.infer.pipeline import run_pipeline
    from seg.infer.sources import open_source, source_stem
    from seg.layout import run_outputs, trt_cache_dir

    if len([x for x in (video, source, folder, images) if x is not None]) != 1:
        raise SegError("pass exactly one of --video, --source, --folder, --images")
    onnx_path = _resolve_onnx(model, runs, variant)
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
            err.print(f"warning: {folder_out} already holds {n} files; those with the names of this run's outputs "
                      "are replaced", highlight=False, soft_wrap=True)
    if show_window:
        from seg.infer.display import display_problem

        problem = display_problem()
        if problem:
            err.print(f"warning: --show: {problem}; running without a window", highlight=False, soft_wrap=True)
            show_window = False
    src = open_source(video, source, folder, images, recursive, timeout)  # cheap for files; a camera gets --timeout
    if out is None and out_video is not None and any(v % 2 for v in src.size):
        out_video = out_video.with_suffix(".avi")  # OpenCV's mp4 writers crop odd sizes; its MJPEG .avi keeps them
    try:
        seg = Segmenter(onnx_path, provider=provider, imgsz=imgsz, threads=threads, fp16=fp16,
                        cache_dir=trt_cache_dir(runs), opt_level=opt_level, save_optimized=save_optimized,
                        max_frame=src.size[::-1] if src.is_video and all(src.size) else None,
                        varying_sizes=not src.is_video)
    except BaseException:
        src.close()
        raise
    if out_video is not None and out_video.exists():
        err.print(f"warning: replacing {out_video} (an earlier run's output)", highlight=False, soft_wrap=True)
    weights = seg.meta.get("weights", "?")
    err.print(f"{seg.meta.get('model')} ({onnx_path}{', UNTRAINED weights' if weights == 'random-init' else ''}) "
              f"on {seg.provider_verdict()}, model input {seg.size_rule()}", highlight=False, soft_wrap=True)
    total = min(x for x in (src.count, max_frames) if x) if (src.count or max_frames) else None
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, disable=not sys.stderr.isatty(), transient=True) as bar:
        task = bar.add_task(name, total=total)
        summary = run_pipeline(seg, src, out_video=out_video, out_dir=out_dir, masks_dir=save_masks, alpha=alpha,
                               legend=legend, show=show_window, max_frames=max_frames, realtime=realtime,
                               on_frame=lambda n: bar.update(task, completed=n))
    for w in summary.warnings:
        err.print(f"warning: {w}", highlight=False, soft_wrap=True)
    show(out_console, STAGE_COLUMNS, list(summary.stage_stats().items()),
         title=f"{summary.frames} frames, {summary.fps:.1f} FPS end to end",
         caption=f"{summary.wall_s:.1f} s on {summary.provider}{', interrupted' if summary.interrupted else ''}")
    extra = [f"{summary.skipped} skipped"] if summary.skipped else []
    extra += [f"{summary.dropped} dropped (realtime)"] if summary.dropped else []
    for key, value in summary.outputs.items():
        out_console.print(f"{key}: {value}", highlight=False, soft_wrap=True)
    if extra:
        out_console.print(", ".join(extra))
    if summary.interrupted:
        raise typer.Exit(130)


@app.command()
def info(
    model: Path = typer.Argument(..., **_IN_FILE, help="An .onnx file."),
    json_flag: bool = typer.Option(False, "--json", help="Print everything as JSON instead of a table."),
) -> None:
    """Show what an .onnx model is: classes, interface, precision.

    Also its normalisation, guardrail and verification results, weights provenance and the
    versions that made it. Needs no torch.
    """
    import json

    from seg.metadata import is_e2e, model_info

    i = model_info(model)
    if json_flag:
        out_console.print_json(json.dumps(i))
        return
    if not i["seg_model"]:
        raise SegError(f"{model} is not a seg model: no seg.* metadata (it has inputs "
                       f"{', '.join(t['name'] for t in i['inputs'])}); `seg info --json` shows what there is")
    m = i["meta"]

    def tensors(ts: list[dict]) -> str:
        return ", ".join(f"{t['name']} {t['type']} [{','.join(map(str, t['dims']))}]" for t in ts)

    def checked(key: str) -> str:
        g = m.get(key)
        if not g:
            return "-"
        if "skipped" in g:
            return f"skipped ({g['skipped']})"
        if g.get("kind") == "agreement" or (key != "guardrail" and "label_agreement" in g):
            return f"label agreement {g['label_agreement']:.2%}" + (f" on {g['images']} images" if "images" in g else "")
        if key == "verification":
            return f"{'passed' if g['passed'] else 'FAILED'} on {', '.join(g['providers'])}, max |diff| {g['max_abs_diff']:.2g}"
        return (f"{'passed' if g['passed'] else 'FAILED'}: mIoU {g['miou']:.4f} vs fp32 {g['fp32_miou']:.4f} on "
                f"{g['images']} images of {g['data']} ({g['split']})")

    names = m.get("class_names", [])
    rows = [
        ("file", f"{i['file']} ({i['bytes'] / 1e6:.1f} MB)"),
        ("architecture", str(m.get("model", "?"))),
        ("precision", f"{m.get('precision', 'fp32')}{', end-to-end (frames in, labels out)' if is_e2e(m) else ''}"),
        ("classes", f"{m.get('num_classes')}: {', '.join(names[:6])}{', ...' if len(names) > 6 else ''}"),
        ("input", tensors(i["inputs"])), ("output", tensors(i["outputs"])),
        ("input layout", str(m.get("input", "-"))),
        ("normalisation", f"mean {m.get('mean')}, std {m.get('std')}"),
        ("default input size", _default_size(m)),
        ("weights", f"{m.get('weights', '?')}{', ' + m['checkpoint'] if m.get('checkpoint') else ''}"),
        ("pretrained", _pretrained(m.get("pretrained"))),
        ("val metrics", ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                                  for k, v in (m.get("val_metrics") or {}).items()) or "-"),
        ("verification", checked("verification")), ("guardrail", checked("guardrail")),
        ("e2e check", checked("e2e_check")),
        ("quantization", ", ".join(f"{k} {v}" for k, v in (m.get("quantization") or {}).items()
                                   if k in ("format", "activation", "weight", "calib_images", "calib_data")) or "-"),
        ("made by", f"seg {m.get('version', '?')}, torch {m.get('torch', '?')}, opset {i['opset']}, {i['producer']}"),
    ]
    show(out_console, [Column("field", lambda r: r[0]), Column("value", lambda r: r[1])], rows, title=f"seg info: {model.name}")


def _default_size(m: dict) -> str:
    pre = m.get("preprocess") or {}
    if pre.get("resize") == "shorter":
        return (f"shorter side {pre['size']} px, {pre.get('interpolation', 'bilinear')}"
                f"{' antialiased' if pre.get('antialias') else ''} (torchvision's preset; seg run --imgsz overrides)")
    return f"{m['imgsz']} px (seg run --imgsz)" if m.get("imgsz") else "-"


def _pretrained(p: dict | None) -> str:
    """Where published or local weights came from, with torchvision's published metrics."""
    if not p:
        return "-"
    if "file" in p:
        return f"local file {p['file']} ({p['bytes'] / 1e6:.1f} MB)"
    metrics = ", ".join(f"{k} {v:.1%}" for k, v in p.get("metrics", {}).items())
    return f"{p.get('source')}; published on {p.get('dataset')}: {metrics}"


@app.command()
def doctor(
    json_flag: bool = typer.Option(False, "--json", help="Print everything as JSON instead of tables."),
    runs: Path = typer.Option(Path("runs"), help="Runs folder (its trt_cache/ is where TensorRT is tried)."),
) -> None:
    """Check what this machine can run: versions, CPU class, GPUs, providers.

    Each ONNX Runtime provider (TensorRT, CUDA, CPU) is tried on a tiny model through the same
    session factory as seg run: it works (node placement and time) or the one-line reason why not.
    """
    import json

    from seg.doctor import doctor as run_doctor
    from seg.layout import trt_cache_dir

    d = run_doctor(str(trt_cache_dir(runs)))
    if json_flag:
        out_console.print_json(json.dumps(d))
        return
    v, m = d["versions"], d["machine"]
    t = v["torch"]
    rows = [
        ("seg", v["seg"]), ("Python", f"{v['python']} ({v['platform']})"),
        ("ONNX Runtime", f"{v['onnxruntime']}, {v['onnxruntime_build']}; providers listed: "
                         f"{', '.join(p.removesuffix('ExecutionProvider') for p in v['onnxruntime_providers'])}"),
        ("OpenCV", f"{v['opencv']}, GUI {v['opencv_gui']}; display: {v['display']}"),
        ("numpy", v["numpy"]),
        ("torch", "not installed (the runtime alone)" if t is None else
         f"{t['version']}, CUDA {t['cuda'] or '-'}{', GPU visible' if t['cuda_available'] else ', no GPU visible'}"),
        ("TensorRT library", v["tensorrt_library"]),
        ("CPU", f"{m['cpu']}, {m['cores']} cores, class {m['cpu_class']} ({'/'.join(m['cpu_flags']) or '-'})"),
        ("CPU peak (GEMM)", ", ".join(f"{k} {m['peaks'][k]:.0f} GOP/s" for k in ("fp32", "int8", "bf16")
                                      if m["peaks"].get(k)) + " (seg bench holds every row against these)"),
        ("GPUs", "; ".join(m["gpus"]) or "none found (no nvidia-smi)"),
    ]
    show(out_console, [Column("what", lambda r: r[0]), Column("found", lambda r: r[1])], rows, title="seg doctor")
    show(out_console, [Column("provider", lambda r: r["provider"]), Column("works", lambda r: "yes" if r["works"] else "no"),
                       Column("ms (64x64)", lambda r: fmt(r["ms"], ".2f"), right=True),
                       Column("detail", lambda r: r["detail"])],
         d["providers"], title="ONNX Runtime providers, each tried on a tiny model")


def _csv_list(value: Optional[str]) -> Optional[list[str]]:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


@app.command()
def bench(
    models: Optional[str] = typer.Option(None, help="Comma-separated model names, or .onnx files [default: all four]."),
    data: Optional[Path] = typer.Option(None, **_IN_DIR, help="VOCdevkit root whose val split gives mIoU per engine "
                                        "(and whose train split calibrates int8 where the checkpoint's data is absent)."),
    year: str = typer.Option("2007", help="VOC year folder of --data."),
    size: tuple[int, int] = typer.Option((256, 256), callback=_hw, help=f"Input height and width for timing ({MIN_SIZE}..{MAX_SIZE})."),
    batch: int = typer.Option(1, min=1, max=256, help="Batch size for timing."),
    providers: Optional[str] = typer.Option(None, help="Comma-separated ONNX Runtime providers [default: the best available]."),
    engines: str = typer.Option("onnxruntime,torch", help="Comma-separated engines: onnxruntime, torch (eager fp32, the reference)."),
    runs_n: int = typer.Option(20, "--runs", min=1, max=100_000, help="Timed runs per engine."),
    warmup: int = typer.Option(3, min=0, max=10_000, help="Untimed warm-up runs per engine."),
    runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help="Where <model>/best.pt and <model>.onnx live."),
    random_init: bool = typer.Option(False, "--random-init", help="Bench untrained weights where no checkpoint exists (flagged)."),
    variants: Optional[str] = typer.Option(None, help="Comma-separated ONNX variants: fp32, int8, fp16, e2e, e2e.int8, "
                                           "e2e.fp16; exported when missing [default: fp32,int8,e2e,e2e.int8 on CPU, "
                                           "fp16 ones on GPU]."),
    torch_bf16: Optional[bool] = typer.Option(None, "--torch-bf16/--no-torch-bf16", help="Add PyTorch bf16 autocast + "
                                              "channels_last rows [default: where the CPU has native bf16]."),
    json_out: Optional[Path] = typer.Option(None, "--json", callback=_out_file("--json file"), help="Write header + rows as JSON."),
    csv_out: Optional[Path] = typer.Option(None, "--csv", callback=_out_file("--csv file"), help="Write the rows as CSV."),
    md_out: Optional[Path] = typer.Option(None, "--md", callback=_out_file("--md file"), help="Write a Markdown table."),
    plot: Optional[Path] = typer.Option(None, callback=_out_file("--plot file"), help="Write a PNG of FPS against mIoU."),
) -> None:
    """FPS, latency and mIoU per model and engine.

    Latency p50/p90/p99 per model x engine x provider x precision, PyTorch alongside.

    Ctrl-C stops it and keeps every row measured so far (printed and written, marked partial).
    """
    from rich.progress import Progress

    from seg.bench import ENGINES, check_engines
    from seg.bench import bench as run_bench
    from seg.bench_entries import prepare
    from seg.reporting import COLUMNS, write_outputs

    if plot is not None:
        _require("bench --plot", "matplotlib")
    engines_used = check_engines(tuple(_csv_list(engines) or ENGINES))
    with Progress(console=err, disable=not sys.stderr.isatty(), transient=True) as bar:
        task = bar.add_task("bench", total=None)
        # the files first (found, exported or built where missing), then the timing
        prepared = prepare(_csv_list(models) or list(MODEL_NAMES), runs_dir, _csv_list(providers),
                           tuple(_csv_list(variants)) if variants else None, data, random_init,
                           onnx="onnxruntime" in engines_used, log=lambda m: err.print(m, highlight=False, soft_wrap=True))
        result = run_bench(prepared, data=data, year=year, size=size, batch=batch, engines=engines_used, n_runs=runs_n,
                           warmup=warmup, torch_bf16=torch_bf16, on_progress=lambda m: bar.update(task, description=m))
    h = result["header"]
    show(out_console, COLUMNS, result["rows"],
         title=f"seg bench: {h['batch']}x3x{h['size'][0]}x{h['size'][1]}, {h['runs']} runs"
               f"{' (INTERRUPTED: partial)' if h['interrupted'] else ''}",
         caption=f"class {h.get('cpu_class', '?')}: {h['cpu']}, {h['cores']} cores, GPU {h.get('gpu') or 'none'}; "
                 f"ORT {h['onnxruntime']}, torch {h.get('torch', '-')}")
    if h.get("provider_verdict"):  # why auto passed over a GPU provider, as seg run says it
        out_console.print(f"ONNX Runtime on {', '.join(h['providers'])} ({'; '.join(h['provider_verdict'])})",
                          highlight=False, soft_wrap=True)
    for sk in h.get("skipped", []):
        out_console.print(f"{sk['model']} {sk['variant']}: not benchmarked: {sk.get('reason')}", highlight=False,
                          soft_wrap=True)
    write_outputs(result, json_out, csv_out, md_out, plot)
    if h["interrupted"]:
        raise typer.Exit(130)


@app.command()
def demo(
    minutes: float = typer.Option(10.0, min=0.2, max=24 * 60, help="Rough total budget; 60% of it trains the four models."),
    root: Path = typer.Option(Path("runs/demo"), callback=_out_dir("demo folder"), help="Where data, runs and the bench go."),
    quick: bool = typer.Option(False, help="Tiny data and sizes: a smoke test in about a minute of training."),
) -> None:
    """The whole tool on synthetic data: train, export, run, bench.

    data -> train x4 -> export x4 -> run on a video -> bench, in about --minutes.
    """
    _require("demo", *TRAINING, "onnxscript", "matplotlib")
    from seg.demo import demo as run_demo

    run_demo(minutes, root, log=lambda m: out_console.print(m, highlight=False, soft_wrap=True), quick=quick)


def _click_exception() -> type[Exception]:
    """click's ClickException, wherever this typer keeps click (vendored as typer._click since 0.2x)."""
    try:
        from typer._click.exceptions import ClickException
    except ImportError:  # older typer: the click package
        from click.exceptions import ClickException
    return ClickException


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: every error is one line on stderr and an exit code.

    ``SegError`` -> ``error: ...``, exit 1; a usage error (click's) -> ``error: ...`` with the
    command's help hint, exit 2; Ctrl-C -> ``interrupted``, exit 130.
    """
    global _started
    _started = time.perf_counter()
    click_exception = _click_exception()
    try:
        # standalone_mode=False: click hands usage errors to us instead of printing a boxed panel.
        code = app(args=argv, prog_name="seg", standalone_mode=False)
    except SegError as e:
        msg = str(e)
        if "Original Traceback" in msg:  # re-raised from a DataLoader worker: keep the original line
            msg = msg.rstrip().splitlines()[-1].split("SegError: ", 1)[-1]
        _error(msg)
        sys.exit(1)
    except click_exception as e:
        ctx = getattr(e, "ctx", None)
        hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        _error(f"{e.format_message()}{hint}")
        sys.exit(getattr(e, "exit_code", 2))
    except (KeyboardInterrupt, typer.Abort):
        err.print("interrupted")
        sys.exit(130)
    if code == 130:  # Ctrl-C inside a command: click turns it into Exit(130)
        err.print("interrupted")
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
