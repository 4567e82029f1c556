"""`seg train` and `seg eval`: the training side's commands (torch is imported inside them)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from seg.cli import _common
from seg.cli._common import (
    _IN_DIR, _IN_FILE, PROVIDER_CHOICES, TRAINING, _choice, _out_dir, _open_range, _out_file, _positive, _require, err,
    out_console)
from seg.errors import SegError
from seg.metadata import MAX_SIZE, MIN_SIZE
from seg.tables import Column, fmt, show


def train(
    model: str = typer.Option(..., "--model", "-m", help="Architecture: baseline_fcn, simple_unet, resnet_fcn, unet, or "
                              "one of torchvision's pretrained models (seg models)."),
    data: Path = typer.Option(..., **_IN_DIR, help="A labelled set in any layout seg reads, with its own classes: VOC "
                              "(seg data voc2007, seg data synth), CVAT, labelme, images/ + masks/, COCO "
                              "(docs/datasets.md; seg data check DIR)."),
    year: str = typer.Option("2007", help="VOC year folder to read (VOCdevkit/VOC<year>)."),
    train_split: str = typer.Option("train", help="Split to train on."),
    val_split: str = typer.Option("val", help="Split to evaluate on after every epoch."),
    val_fraction: float = typer.Option(0.1, min=0.01, max=0.9, help="Share held out for val where the data has no "
                                       "val split of its own (seeded by --seed; the log says so)."),
    out: Path = typer.Option(Path("runs"), callback=_out_dir("runs folder"), help="Runs folder; this run writes <out>/<model>/."),
    epochs: Optional[int] = typer.Option(None, min=1, max=1_000_000, help="Epochs [default: 30, or no limit with --time-budget]."),
    time_budget: Optional[float] = typer.Option(None, callback=_positive(1e6), help="Wall-clock MINUTES for the whole "
                                                "command, start-up and evaluations included; the LR schedule anneals to "
                                                f"fit [{_open_range(1e6)}]."),
    batch_size: int = typer.Option(8, min=2, max=4096, help="Images per batch (per process under torchrun); batch norm needs 2."),
    crop_size: Optional[int] = typer.Option(None, min=MIN_SIZE, max=MAX_SIZE, help="Training crop [default: the data's median short side, to a multiple of 32]."),
    rotation: float = typer.Option(0.0, min=0.0, max=180.0, help="Max degrees of random rotation (0: off)."),
    jitter: float = typer.Option(0.3, min=0.0, max=1.0, help="Colour-jitter strength (0: off)."),
    optimizer: str = typer.Option("adamw", help="adamw or sgd."),
    lr: Optional[float] = typer.Option(None, callback=_positive(10), help="Peak learning rate [default: 3e-3 adamw, 1e-2 sgd; "
                                     f"{_open_range(10)}]."),
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
        model=model, data=str(data), year=year, train_split=train_split, val_split=val_split,
        val_fraction=val_fraction, out=str(out),
        epochs=epochs, time_budget_min=time_budget, batch_size=batch_size, crop_size=crop_size, rotation=rotation,
        jitter=jitter, optimizer=optimizer, lr=lr, weight_decay=weight_decay, schedule=schedule, warmup=warmup,
        class_weights=class_weights, backbone_weights=backbone_weights, freeze_backbone=freeze_backbone, weights=weights,
        device=device, amp=amp, workers=workers, patience=patience, seed=seed, resume=resume,
    )
    run_training(cfg, log=lambda msg: out_console.print(msg, highlight=False, soft_wrap=True), started=_common.started)


def evaluate(
    checkpoint: Optional[Path] = typer.Option(None, **_IN_FILE, help="A checkpoint written by seg train (best.pt or "
                                              "last.pt); needs the training extra."),
    model: Optional[Path] = typer.Option(None, "--model", "-m", **_IN_FILE, help="Or an exported .onnx model: scored "
                                         "with ONNX Runtime, no torch needed."),
    data: Path = typer.Option(..., **_IN_DIR, help="Labelled set to evaluate on, in any layout seg reads (VOC, CVAT, "
                              "labelme, images/ + masks/, COCO; docs/datasets.md)."),
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
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from seg._io import write_json
    from seg.data import open_dataset

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

        dataset = open_dataset(data, split, year)
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
