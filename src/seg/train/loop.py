"""The training loop, after torchvision's ``references/segmentation/train.py``: explicit
arguments, one epoch function, one evaluation function, no callback framework.

Single process: ``seg train ...``. Several (DDP): ``torchrun --nproc_per_node N seg train ...``;
rank 0 alone logs and writes files; val metrics are summed over ranks before they are computed.

The LR schedule is a function of *progress* p in [0, 1], the larger of iterations done / planned
and, with a time budget, minutes spent / budget; so a 3-minute run anneals to zero in 3 minutes.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from PIL import Image
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from torch import nn
from torch.utils.data import DataLoader, Subset

from seg._io import writable_dir, write_json
from seg.classes import IGNORE_INDEX, IMAGENET_MEAN, IMAGENET_STD, NUM_CLASSES, VOC_CLASSES
from seg.data import VOCSegmentation
from seg.data.transforms import EvalPreset, TrainPreset
from seg.errors import SegError
from seg.metrics import ConfusionMatrix, Metrics
from seg.models import check_model_name, get_model, load_checkpoint, read_checkpoint, save_checkpoint
from seg.train.config import AMP, CLASS_WEIGHTS, DEFAULT_LR, DEVICES, OPTIMIZERS, SCHEDULES, TrainConfig

UNLIMITED_EPOCHS = 10**6


# ---- set-up helpers ----------------------------------------------------------------------------

def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` -> CUDA when present, else CPU; asking for CUDA without one is an error."""
    if name not in DEVICES:
        raise SegError(f"unknown device {name!r}; choose one of: {', '.join(DEVICES)}")
    if name == "cuda" or (name == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise SegError("--device cuda asked for, but torch sees no CUDA GPU (use --device cpu or auto)")
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def cpu_has_bf16() -> bool:
    """Whether oneDNN has native bf16 kernels here (AVX-512 BF16 or AMX); elsewhere bf16 is slower."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def _cuda_native_bf16() -> bool:
    try:
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))
    except TypeError:  # a torch without the argument
        return bool(torch.cuda.is_bf16_supported())


def amp_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for training, or None for fp32."""
    if amp not in AMP:
        raise SegError(f"unknown --amp {amp!r}; choose one of: {', '.join(AMP)}")
    if amp == "off":
        return None
    if device.type == "cuda":
        # Native bf16 only (Ampere and later): a V100/T4 "supports" it by emulation, slower than fp16
        # with gradient scaling, which is what they get.
        return torch.bfloat16 if _cuda_native_bf16() else torch.float16
    if amp == "on" or cpu_has_bf16():
        return torch.bfloat16
    return None


def _image_sizes(ds: VOCSegmentation, sample: int = 50) -> list[tuple[int, int]]:
    """(width, height) of the first images, from their headers only."""
    sizes = []
    for path in ds.images[:sample]:
        try:
            with Image.open(path) as im:
                sizes.append(im.size)
        except OSError as e:  # PIL's UnidentifiedImageError is an OSError too
            raise SegError(f"cannot read image {path}: {e}") from None
    return sizes


def auto_crop_size(ds: VOCSegmentation, sample: int = 50) -> int:
    """Three quarters of the first images' median short side (headers only), floored to a multiple
    of 32: the random rescale (0.5-2x) leaves most such crops full of image, and each costs about
    half the compute of a full-side crop. Measured on the synthetic set: 96 instead of 128 took
    simple_unet from 0.60 to 0.74 val mIoU in 5 CPU minutes (fp32, the avx2 class)."""
    return int(min(512, max(64, statistics.median(min(s) for s in _image_sizes(ds, sample)) * 0.75 // 32 * 32)))


def class_weights(counts: np.ndarray, mode: str) -> torch.Tensor | None:
    """Loss weights from training-set pixel counts (void excluded).

    ``inverse``: 1/frequency, scaled so the pixel-weighted mean is 1. ``median``: median
    frequency balancing (Eigen & Fergus, ICCV 2015), median(freq)/freq. Classes absent from the
    training set get weight 1 (they have no pixels to weigh anyway).
    """
    if mode not in CLASS_WEIGHTS:
        raise SegError(f"unknown --class-weights {mode!r}; choose one of: {', '.join(CLASS_WEIGHTS)}")
    if mode == "none":
        return None
    freq = counts / max(counts.sum(), 1)
    present = freq > 0
    w = np.ones_like(freq, dtype=np.float64)
    if mode == "inverse":
        w[present] = 1.0 / (present.sum() * freq[present])
    else:
        w[present] = np.median(freq[present]) / freq[present]
    return torch.tensor(w, dtype=torch.float32)


def lr_factor(p: float, schedule: str, warmup: float) -> float:
    """LR multiplier at progress p: linear warm-up over ``warmup``, then cosine or poly to 0."""
    if p < warmup:
        return max(p / warmup, 0.01)
    q = min(1.0, (p - warmup) / max(1e-9, 1.0 - warmup))
    return 0.5 * (1.0 + math.cos(math.pi * q)) if schedule == "cosine" else (1.0 - q) ** 0.9


def _dist_info() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment, or a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0"))


def _all_reduce(t: torch.Tensor, op=None) -> torch.Tensor:
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(t, op=op or dist.ReduceOp.SUM)
    return t


# ---- evaluation --------------------------------------------------------------------------------

@torch.no_grad()
def evaluate(model: nn.Module, loader: DataLoader, device: torch.device, num_classes: int = NUM_CLASSES,
             channels_last: bool = False, progress: bool = False) -> Metrics:
    """Dataset-level metrics of ``model`` on ``loader`` (fp32; summed over ranks under DDP)."""
    model.eval()
    cm = ConfusionMatrix(num_classes)
    with _progress(progress) as bar:
        task = bar.add_task("eval", total=len(loader), info="")  # the bar's columns read task.fields["info"]
        for image, target in loader:
            image = image.to(device, non_blocking=True)
            if channels_last:
                image = image.contiguous(memory_format=torch.channels_last)
            cm.update(model(image).argmax(1), target)
            bar.advance(task)
    mat = _all_reduce(torch.from_numpy(cm.mat).to(device))
    cm.mat = mat.cpu().numpy()
    return cm.compute()


@torch.no_grad()
def _forward_s(model: nn.Module, ds: VOCSegmentation, device: torch.device, channels_last: bool) -> float:
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
    """``seg eval``: rebuild a checkpoint's model and score it on a VOCdevkit split."""
    model, info = load_checkpoint(checkpoint)
    dev = resolve_device(device)
    ds = VOCSegmentation(data, year, split, transforms=EvalPreset())
    loader = DataLoader(ds, batch_size=1, num_workers=_workers(workers))
    return evaluate(model.to(dev), loader, dev, info["num_classes"], progress=progress), info


# ---- training ----------------------------------------------------------------------------------

def _workers(n: int | None) -> int:
    """Loader processes: none on machines of 2 cores or fewer, where a worker competes with the two
    compute threads (measured: 6.7 vs 6.3 img/s, avx2 class, 2 cores); else one per spare core, up to 4."""
    if n is not None:
        return n
    cores = os.cpu_count() or 1
    return 0 if cores <= 2 else min(4, cores - 1)


def _progress(enabled: bool) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TextColumn("{task.fields[info]}"), disable=not enabled, transient=True)


def resolve(cfg: TrainConfig) -> TrainConfig:
    """Fill the ``None`` defaults that do not depend on the data, and check choices."""
    check_model_name(cfg.model)
    for value, choices, flag in ((cfg.optimizer, OPTIMIZERS, "--optimizer"), (cfg.schedule, SCHEDULES, "--schedule"),
                                 (cfg.class_weights, CLASS_WEIGHTS, "--class-weights"), (cfg.device, DEVICES, "--device"),
                                 (cfg.amp, AMP, "--amp")):
        if value not in choices:
            raise SegError(f"unknown {flag} {value!r}; choose one of: {', '.join(choices)}")
    if cfg.epochs is not None and cfg.epochs < 1:
        raise SegError("--epochs must be at least 1")
    if cfg.time_budget_min is not None and cfg.time_budget_min <= 0:
        raise SegError("--time-budget must be positive")
    if cfg.batch_size < 2:
        raise SegError("--batch-size must be at least 2 (batch norm needs two samples)")
    backbone = cfg.backbone_weights
    if cfg.model == "resnet_fcn" and backbone is None:
        backbone = "imagenet"  # training's default; Python's get_model default stays "none"
    from seg.models.pretrained import PRETRAINED, WEIGHTS_TAG

    weights = cfg.weights
    if weights is not None and cfg.model not in PRETRAINED:
        raise SegError(f"--weights is for torchvision's pretrained models ({', '.join(PRETRAINED)}), not {cfg.model}"
                       + ("; use --backbone-weights" if cfg.model == "resnet_fcn" else ""))
    if cfg.model in PRETRAINED and weights is None:
        weights = WEIGHTS_TAG  # fine-tune torchvision's published weights unless told otherwise
    epochs = cfg.epochs or (UNLIMITED_EPOCHS if cfg.time_budget_min else 30)
    return replace(cfg, epochs=epochs, lr=cfg.lr or DEFAULT_LR[cfg.optimizer], backbone_weights=backbone,
                   weights=weights)


def model_options(cfg: TrainConfig) -> dict[str, Any]:
    return {k: v for k, v in {"backbone_weights": cfg.backbone_weights, "freeze_backbone": cfg.freeze_backbone,
                              "weights": cfg.weights}.items() if v is not None}


def _param_groups(model: nn.Module, cfg: TrainConfig) -> list[dict]:
    """A pretrained backbone learns at 0.1x the head's LR (it starts from good features)."""
    pretrained = cfg.backbone_weights not in (None, "none") or cfg.weights not in (None, "none")
    back = [p for n, p in model.named_parameters()
            if p.requires_grad and n.startswith(("backbone.", "net.backbone.")) and pretrained]
    ids = {id(p) for p in back}
    rest = [p for p in model.parameters() if p.requires_grad and id(p) not in ids]
    groups = [{"params": rest, "base_lr": cfg.lr}]
    if back:
        groups.append({"params": back, "base_lr": cfg.lr * 0.1})
    return groups


def _optimizer(groups: list[dict], cfg: TrainConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)


def plot_curves(history: list[dict], path: Path) -> None:
    """PNG of training loss and val mIoU / pixel accuracy per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from seg._io import atomic_path

    ep = [h["epoch"] for h in history]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    a.plot(ep, [h["train_loss"] for h in history], marker="o")
    a.set(xlabel="epoch", ylabel="train loss", title="loss")
    b.plot(ep, [h["val_miou"] for h in history], marker="o", label="val mIoU")
    b.plot(ep, [h["val_pixel_acc"] for h in history], marker=".", label="val pixel acc")
    b.set(xlabel="epoch", ylim=(0, 1), title="validation")
    b.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)


def train(cfg: TrainConfig, progress: bool | None = None, log=print, started: float | None = None) -> dict[str, Any]:
    """Train ``cfg.model`` on ``cfg.data``; write ``<out>/<model>/``; return results.json's dict.

    Files: ``last.pt`` every epoch and ``best.pt`` on a better val mIoU (atomic writes),
    ``metrics.jsonl`` (one line per epoch), ``curves.png`` and ``results.json``.
    ``started``: ``time.perf_counter()`` when the command began (the CLI passes it), so that a
    time budget also covers start-up; default now.
    """
    started = time.perf_counter() if started is None else started
    cfg = resolve(cfg)
    rank, world, local_rank = _dist_info()
    device = resolve_device(cfg.device, local_rank)
    if world == 1 or dist.is_initialized():
        return _train(cfg, rank, world, local_rank, device, progress, log, started)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    try:
        results = _train(cfg, rank, world, local_rank, device, progress, log, started)
        dist.barrier()  # no rank may exit (and tear down its gloo/NCCL threads) while rank 0 still writes
        return results
    finally:
        dist.destroy_process_group()


def _train(cfg: TrainConfig, rank: int, world: int, local_rank: int, device: torch.device, progress: bool | None,
           log, started: float) -> dict[str, Any]:
    if device.type == "cuda":
        torch.cuda.set_device(device)
    main = rank == 0
    if progress is None:
        progress = sys.stderr.isatty()
    progress = progress and main
    say = log if main else (lambda *a, **k: None)

    train_ds = VOCSegmentation(cfg.data, cfg.year, cfg.train_split)
    val_ds = VOCSegmentation(cfg.data, cfg.year, cfg.val_split, transforms=EvalPreset())
    cfg = replace(cfg, crop_size=cfg.crop_size or auto_crop_size(train_ds))
    if len(train_ds) < cfg.batch_size * world:
        raise SegError(f"the {cfg.train_split} split has {len(train_ds)} images, fewer than one batch "
                       f"({cfg.batch_size} x {world} processes)")
    train_ds.transforms = TrainPreset(cfg.crop_size, cfg.scale, rotation=cfg.rotation, jitter=cfg.jitter)

    run_dir = Path(cfg.out) / cfg.model
    if main:
        writable_dir(run_dir, "run folder")

    torch.manual_seed(cfg.seed)
    model = get_model(cfg.model, num_classes=NUM_CLASSES, **model_options(cfg))
    dtype = amp_dtype(cfg.amp, device)
    channels_last = dtype is not None
    precision = str(dtype).removeprefix("torch.") if dtype else "float32"
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    groups = _param_groups(model, cfg)
    optimizer = _optimizer(groups, cfg)
    scaler = torch.amp.GradScaler("cuda", enabled=dtype == torch.float16)

    start_epoch, iteration, elapsed0, best, history = 0, 0, 0.0, None, []
    if cfg.resume:
        ckpt = read_checkpoint(run_dir / "last.pt", expect_model=cfg.model)
        model.load_state_dict(ckpt["state_dict"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scaler.load_state_dict(ckpt["scaler"])
        start_epoch, iteration, elapsed0 = ckpt["epoch"], ckpt["iteration"], ckpt["elapsed_s"]
        best = ckpt.get("best")
        history = [h for h in ckpt.get("history", []) if h["epoch"] <= start_epoch]
        say(f"resuming {run_dir / 'last.pt'} after epoch {start_epoch}")
        if start_epoch >= cfg.epochs:
            raise SegError(f"{run_dir / 'last.pt'} already completed {start_epoch} epochs; raise --epochs to go on")

    # Counting labels reads every mask: only when the loss needs the counts.
    weights = class_weights(train_ds.label_counts(), cfg.class_weights) if cfg.class_weights != "none" else None
    criterion = nn.CrossEntropyLoss(weight=None if weights is None else weights.to(device), ignore_index=IGNORE_INDEX)
    net: nn.Module = model
    if world > 1:
        if device.type == "cuda":
            net = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        net = nn.parallel.DistributedDataParallel(net, device_ids=[local_rank] if device.type == "cuda" else None)

    gen = torch.Generator()
    sampler = torch.utils.data.DistributedSampler(train_ds, world, rank, seed=cfg.seed, drop_last=True) if world > 1 else None
    workers = _workers(cfg.workers)
    train_loader = DataLoader(train_ds, batch_size=cfg.batch_size, shuffle=sampler is None, sampler=sampler,
                              num_workers=workers, drop_last=True, generator=gen, pin_memory=device.type == "cuda",
                              persistent_workers=False)
    val_loader = DataLoader(Subset(val_ds, range(rank, len(val_ds), world)), batch_size=1, num_workers=workers)
    iters_per_epoch = len(train_loader)
    total_iters = cfg.epochs * iters_per_epoch
    budget_s = cfg.time_budget_min * 60 if cfg.time_budget_min else None

    say(f"training {cfg.model} on {train_ds.voc_dir} ({len(train_ds)} train / {len(val_ds)} val images), "
        f"crop {cfg.crop_size}, batch {cfg.batch_size}x{world}, {device.type} {precision}"
        f"{' autocast' if dtype else ''}, "
        f"{'%d epochs' % cfg.epochs if cfg.epochs < UNLIMITED_EPOCHS else 'no epoch limit'}"
        f"{', time budget %g min' % cfg.time_budget_min if budget_s else ''} -> {run_dir}")

    # A time budget is wall-clock from the command's start (imports and data scanning included) to
    # results.json. Before each iteration: does it still fit, with the evaluation and the checkpoint
    # writing that must follow it? Until the first evaluation has been timed, its cost is one timed
    # forward pass (fp32, as evaluation runs) per val image, so even the first epoch stops in time.
    t_start = started - elapsed0
    stop_reason, epoch = "epochs", start_epoch
    val_local = len(range(rank, len(val_ds), world))
    eval_s: float | None = None  # measured at the first evaluation
    # + image decoding and the loader's worker start-up: 20% and half a second, measured on the U-Nets.
    eval_guess_s = 1.2 * val_local * _forward_s(model, val_ds, device, channels_last) + 0.5 if budget_s else 0.0
    # last.pt + best.pt hold the weights and AdamW's two moments (3 x 4 bytes a parameter) at a
    # conservative 500 MB/s, plus ~1 s for the first curves.png (matplotlib's import); measured after epoch 1.
    save_s = 1.0 + 2 * 12 * sum(p.numel() for p in model.parameters()) / 5e8
    run_iters, run_iter_s = 0, 0.0  # iterations of this process and their total seconds
    sizes = _image_sizes(train_ds)
    ckpt_common = {"model": cfg.model, "model_options": model_options(cfg), "num_classes": NUM_CLASSES,
                   "class_names": list(VOC_CLASSES), "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD),
                   "image_size": int(statistics.median(max(sz) for sz in sizes))}

    def iter_s() -> float:
        return run_iter_s / run_iters if run_iters else 0.0

    def tail_s() -> float:
        """Seconds an epoch's end takes: evaluation plus checkpoint/plot writing."""
        return (eval_guess_s if eval_s is None else eval_s) + save_s

    def schedule_progress() -> float:
        """Where the LR schedule stands: iterations done / planned or, with a budget, the share of
        the training time used (the budget less the epoch-end work), whichever is further."""
        p = iteration / total_iters
        if budget_s:
            p = max(p, (time.perf_counter() - t_start) / max(1e-9, budget_s - tail_s()))
        return min(p, 1.0)

    def out_of_budget() -> bool:
        """Would one more iteration overrun the budget? (Never before this process's first one:
        every run leaves a checkpoint.)"""
        return bool(budget_s) and run_iters > 0 and time.perf_counter() - t_start + iter_s() + tail_s() >= budget_s

    for epoch in range(start_epoch + 1, cfg.epochs + 1):
        # Every random choice of an epoch derives from (seed, epoch): a resumed run replays the
        # same batches and augmentations as an uninterrupted one.
        torch.manual_seed(cfg.seed + epoch)
        gen.manual_seed(cfg.seed + epoch)
        if sampler is not None:
            sampler.set_epoch(epoch)
        net.train()
        loss_sum, seen, t_epoch, out_of_time = 0.0, 0, time.perf_counter(), False
        with _progress(progress) as bar:
            task = bar.add_task(f"epoch {epoch}", total=iters_per_epoch, info="")
            for image, target in train_loader:
                t_iter = time.perf_counter()
                # One decision for all ranks (MAX): a rank that stops alone would hang the others.
                state = torch.tensor([schedule_progress(), float(out_of_budget())], device=device)
                _all_reduce(state, dist.ReduceOp.MAX if world > 1 else None)
                if state[1] > 0:
                    out_of_time = True
                    break
                factor = lr_factor(float(state[0]), cfg.schedule, cfg.warmup)
                for g in optimizer.param_groups:
                    g["lr"] = g["base_lr"] * factor
                image = image.to(device, non_blocking=True)
                target = target.to(device, non_blocking=True)
                if channels_last:
                    image = image.contiguous(memory_format=torch.channels_last)
                with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
                    loss = criterion(net(image).float(), target)
                bad = _all_reduce(torch.tensor([0.0 if torch.isfinite(loss) else 1.0], device=device))
                if bad.item() > 0:
                    stop_reason = "nan"
                    break
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                iteration += 1
                loss_sum += loss.item() * image.shape[0]
                run_iters, run_iter_s = run_iters + 1, run_iter_s + time.perf_counter() - t_iter
                seen += image.shape[0]
                rate = seen * world / (time.perf_counter() - t_epoch)
                bar.update(task, advance=1, info=f"loss {loss_sum / seen:.3f}  {rate:.1f} img/s")
        if stop_reason == "nan":
            where = f"epoch {epoch}, iteration {iteration + 1}"
            kept = f"; the last good checkpoint is {run_dir / 'last.pt'}" if (run_dir / "last.pt").exists() else ""
            if main:
                write_json(run_dir / "results.json",
                           _results(cfg, history, best, time.perf_counter() - t_start, "nan", world, precision))
            raise SegError(f"loss became NaN at {where}; stopped{kept} (try a lower --lr or --amp off)")
        train_s = time.perf_counter() - t_epoch
        if seen == 0:  # the budget ran out before this epoch did anything
            stop_reason = "time_budget"
            break
        t_eval = time.perf_counter()
        metrics = evaluate(model, val_loader, device, NUM_CLASSES, channels_last, progress=progress)
        eval_s = time.perf_counter() - t_eval
        row = {"epoch": epoch, "iteration": iteration, "train_loss": loss_sum / seen,
               "val_miou": metrics.miou, "val_pixel_acc": metrics.pixel_acc, "val_mean_class_acc": metrics.mean_class_acc,
               "lr": optimizer.param_groups[0]["lr"], "images_per_s": seen * world / train_s,
               "elapsed_s": time.perf_counter() - t_start}
        history.append(row)
        improved = best is None or metrics.miou > best["val_miou"]
        if improved:
            best = {**row, "per_class_iou": metrics.as_dict(VOC_CLASSES)["iou"]}
        t_save = time.perf_counter()
        if main:
            ckpt = {**ckpt_common, "state_dict": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "scaler": scaler.state_dict(), "epoch": epoch, "iteration": iteration, "elapsed_s": row["elapsed_s"],
                    "metrics": row, "best": best, "history": history, "config": _config_dict(cfg, world)}
            save_checkpoint(ckpt, run_dir / "last.pt")
            if improved:
                save_checkpoint(ckpt, run_dir / "best.pt")
            with open(run_dir / "metrics.jsonl", "a" if epoch > 1 else "w") as f:
                f.write(json.dumps(row) + "\n")
            plot_curves(history, run_dir / "curves.png")
        save_s = time.perf_counter() - t_save
        say(f"epoch {epoch:3d}  loss {row['train_loss']:.4f}  val mIoU {metrics.miou:.4f}  "
            f"pixel acc {metrics.pixel_acc:.4f}  {row['images_per_s']:.1f} img/s  lr {row['lr']:.2e}  "
            f"{row['elapsed_s'] / 60:.1f} min{'  *best*' if improved else ''}")
        stop = torch.tensor([float(out_of_time or out_of_budget())], device=device)
        if _all_reduce(stop, dist.ReduceOp.MAX if world > 1 else None).item() > 0:
            stop_reason = "time_budget"
            break
        if cfg.patience and epoch - best["epoch"] >= cfg.patience:
            stop_reason = "early_stopping"
            break
    results = _results(cfg, history, best, time.perf_counter() - t_start, stop_reason, world, precision)
    if main:
        write_json(run_dir / "results.json", results)
        say(f"best val mIoU {results['best_val_miou']:.4f} (epoch {results['best_epoch']}), "
            f"stopped by {stop_reason}; checkpoints and logs in {run_dir}")
    return results


def _config_dict(cfg: TrainConfig, world: int) -> dict[str, Any]:
    d = asdict(cfg)
    d["scale"] = list(cfg.scale)
    d["world_size"] = world
    d["torch"] = str(torch.__version__)  # TorchVersion would need an unsafe unpickler
    return d


def _results(cfg: TrainConfig, history: list[dict], best: dict | None, wall_s: float, stop: str, world: int,
             precision: str) -> dict:
    return {
        "model": cfg.model,
        "precision": precision,  # what --amp resolved to on this machine
        "best_val_miou": best["val_miou"] if best else None,
        "best_val_pixel_acc": best["val_pixel_acc"] if best else None,
        "best_epoch": best["epoch"] if best else None,
        "best_per_class_iou": best["per_class_iou"] if best else None,
        "epochs": history[-1]["epoch"] if history else 0,
        "iterations": history[-1]["iteration"] if history else 0,
        "images_per_s": statistics.median(h["images_per_s"] for h in history) if history else None,
        "wall_time_s": wall_s,
        "stopped_by": stop,
        "config": _config_dict(cfg, world),
    }
