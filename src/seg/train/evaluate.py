"""Evaluation of a model in PyTorch (``seg eval --checkpoint`` and every training epoch)."""

from __future__ import annotations

import os
import time

import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from torch import nn
from torch.utils.data import DataLoader

from seg.classes import NUM_CLASSES, check_same_classes
from seg.data import SegDataset, open_dataset
from seg.data.transforms import EvalPreset
from seg.metrics import ConfusionMatrix, Metrics
from seg.models import load_checkpoint
from seg.train.device import all_reduce, resolve_device


def loader_workers(n: int | None) -> int:
    """Loader processes: none on machines of 2 cores or fewer, where a worker competes with the two
    compute threads (measured: 6.7 vs 6.3 img/s, avx2 class, 2 cores); else one per spare core, up to 4."""
    if n is not None:
        return n
    cores = os.cpu_count() or 1
    return 0 if cores <= 2 else min(4, cores - 1)


def progress_bar(enabled: bool) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TextColumn("{task.fields[info]}"), disable=not enabled, transient=True)


@torch.no_grad()
def evaluate(model: nn.Module, loader: DataLoader, device: torch.device, num_classes: int = NUM_CLASSES,
             channels_last: bool = False, progress: bool = False) -> Metrics:
    """Dataset-level metrics of ``model`` on ``loader`` (fp32; summed over ranks under DDP)."""
    model.eval()
    cm = ConfusionMatrix(num_classes)
    with progress_bar(progress) as bar:
        task = bar.add_task("eval", total=len(loader), info="")  # the bar's columns read task.fields["info"]
        for image, target in loader:
            image = image.to(device, non_blocking=True)
            if channels_last:
                image = image.contiguous(memory_format=torch.channels_last)
            cm.update(model(image).argmax(1), target)
            bar.advance(task)
    mat = all_reduce(torch.from_numpy(cm.mat).to(device))
    cm.mat = mat.cpu().numpy()
    return cm.compute()


@torch.no_grad()
def forward_seconds(model: nn.Module, ds: SegDataset, device: torch.device, channels_last: bool) -> float:
    """Seconds of one evaluation forward pass on the first image of ``ds`` (after a warm-up one)."""
    image, _ = ds[0]
    x = image[None].to(device)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    model.eval()
    model(x)  # the first call builds kernels
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t = time.perf_counter()
    model(x)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    model.train()
    return time.perf_counter() - t


def evaluate_checkpoint(checkpoint: str | os.PathLike, data: str | os.PathLike, split: str = "val", year: str = "2007",
                        device: str = "auto", workers: int | None = None, progress: bool = True) -> tuple[Metrics, dict]:
    """``seg eval``: rebuild a checkpoint's model and score it on a split of a labelled set (any layout)."""
    model, info = load_checkpoint(checkpoint)
    dev = resolve_device(device)
    ds = open_dataset(data, split, year, transforms=EvalPreset())
    check_same_classes(ds.classes, info.get("class_names") or [], str(checkpoint))
    loader = DataLoader(ds, batch_size=1, num_workers=loader_workers(workers))
    return evaluate(model.to(dev), loader, dev, info["num_classes"], progress=progress), info
