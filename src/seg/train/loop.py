"""The training loop, after torchvision's ``references/segmentation/train.py``: explicit
arguments, one epoch function, one evaluation function, no callback framework.

Single process: ``seg train ...``. Several (DDP): ``torchrun --nproc_per_node N seg train ...``;
rank 0 alone logs and writes files; val metrics are summed over ranks before they are computed.

The LR schedule is a function of *progress* p in [0, 1], the larger of iterations done / planned
and, with a time budget, minutes spent / budget; so a 3-minute run anneals to zero in 3 minutes.

Around it: ``recipe`` (what the config resolves to), ``device`` (device, autocast, ranks),
``evaluate`` (PyTorch evaluation) and ``plots`` (curves.png). This module is the run itself:
``train`` (DDP set-up), ``_train`` (one process: ``_setup`` makes a ``_Run``, ``_epochs`` runs
it), ``train_one_epoch`` and the ``Budget``. They share the run's state (model, optimiser, scaler,
budget) and read best top to bottom, as torchvision's ``train.py`` does.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from rich.progress import Progress
from torch import nn
from torch.utils.data import DataLoader, Subset

from seg._io import writable_dir, write_json
from seg.classes import IGNORE_INDEX, IMAGENET_MEAN, IMAGENET_STD
from seg.data import open_dataset
from seg.data.check import check_splits
from seg.data.transforms import EvalPreset, TrainPreset
from seg.errors import SegError
from seg.layout import checkpoint_path
from seg.models import get_model, read_checkpoint, save_checkpoint
from seg.train.config import TrainConfig
from seg.train.device import all_reduce, amp_dtype, dist_info, resolve_device
from seg.train.evaluate import evaluate, forward_seconds, loader_workers, progress_bar
from seg.train.recipe import (
    UNLIMITED_EPOCHS, auto_crop_size, class_weights, image_sizes, lr_factor, model_options, optimizer_for, param_groups,
    resolve,
)


def train(cfg: TrainConfig, progress: bool | None = None, log=print, started: float | None = None) -> dict[str, Any]:
    """Train ``cfg.model`` on ``cfg.data``; write ``<out>/<model>/``; return results.json's dict.

    Files: ``last.pt`` every epoch and ``best.pt`` on a better val mIoU (atomic writes),
    ``metrics.jsonl`` (one line per epoch), ``curves.png`` and ``results.json``.
    ``started``: ``time.perf_counter()`` when the command began (the CLI passes it), so that a
    time budget also covers start-up; default now.
    """
    started = time.perf_counter() if started is None else started
    cfg = resolve(cfg)
    rank, world, local_rank = dist_info()
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


# A 9 s budget ran to 10.0 s in CI: the second epoch's end, timed at 2.5 s after the first, took
# about 1 s more while the other test worker was busy.
TAIL_MARGIN = 1.25


class Budget:
    """The wall-clock budget of a run, from the command's start (imports and data scanning
    included) to results.json, and where the LR schedule stands in it.

    Before each iteration: does it still fit, with the evaluation and the checkpoint writing that
    must follow it? Until the first evaluation has been timed, its cost is one timed forward pass
    (fp32, as evaluation runs) per val image, so even the first epoch stops in time."""

    def __init__(self, t_start: float, budget_s: float | None, total_iters: int, eval_guess_s: float, save_s: float):
        self.t_start, self.budget_s, self.total_iters = t_start, budget_s, total_iters
        self.eval_guess_s, self.save_s = eval_guess_s, save_s
        self.eval_s: float | None = None  # measured at the first evaluation
        self.iters, self.iters_s = 0, 0.0  # iterations of this process and their total seconds

    def elapsed(self) -> float:
        return time.perf_counter() - self.t_start

    def record_iteration(self, seconds: float) -> None:
        self.iters, self.iters_s = self.iters + 1, self.iters_s + seconds

    def tail_s(self) -> float:
        """Seconds an epoch's end takes: evaluation plus checkpoint/plot writing, as last measured,
        with room (TAIL_MARGIN) for a machine that is busier then: it comes after the last
        decision, so whatever it runs over is over the budget."""
        return TAIL_MARGIN * ((self.eval_guess_s if self.eval_s is None else self.eval_s) + self.save_s)

    def schedule_progress(self, iteration: int) -> float:
        """Where the LR schedule stands: iterations done / planned or, with a budget, the share of
        the training time used (the budget less the epoch-end work), whichever is further."""
        p = iteration / self.total_iters
        if self.budget_s:
            p = max(p, self.elapsed() / max(1e-9, self.budget_s - self.tail_s()))
        return min(p, 1.0)

    def exhausted(self) -> bool:
        """Would one more iteration overrun the budget? (Never before this process's first one:
        every run leaves a checkpoint.)"""
        iter_s = self.iters_s / self.iters if self.iters else 0.0
        return bool(self.budget_s) and self.iters > 0 and self.elapsed() + iter_s + self.tail_s() >= self.budget_s


@dataclass
class Epoch:
    """What one pass over the training set did."""

    iteration: int  # the run's iterations so far
    loss_sum: float = 0.0
    seen: int = 0  # images of this process
    seconds: float = 0.0
    stop: str | None = None  # "nan" or "time_budget" when it ended early


def train_one_epoch(model: nn.Module, loader: DataLoader, criterion: nn.Module, optimizer: torch.optim.Optimizer,
                    scaler: torch.amp.GradScaler, device: torch.device, dtype: torch.dtype | None, cfg: TrainConfig,
                    budget: Budget, iteration: int, world: int, bar: Progress, epoch: int) -> Epoch:
    """One epoch, as torchvision's ``train_one_epoch``: the LR follows :meth:`Budget.schedule_progress`
    and the loop stops before an iteration the budget cannot afford, or at a non-finite loss."""
    model.train()
    result, t0 = Epoch(iteration), time.perf_counter()
    task = bar.add_task(f"epoch {epoch}", total=len(loader), info="")
    for image, target in loader:
        t_iter = time.perf_counter()
        # One decision for all ranks (MAX): a rank that stops alone would hang the others.
        state = torch.tensor([budget.schedule_progress(result.iteration), float(budget.exhausted())], device=device)
        all_reduce(state, dist.ReduceOp.MAX if world > 1 else None)
        if state[1] > 0:
            result.stop = "time_budget"
            break
        factor = lr_factor(float(state[0]), cfg.schedule, cfg.warmup)
        for g in optimizer.param_groups:
            g["lr"] = g["base_lr"] * factor
        image = image.to(device, non_blocking=True)
        target = target.to(device, non_blocking=True)
        if dtype is not None:  # autocast comes with channels_last activations
            image = image.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            loss = criterion(model(image).float(), target)
        if all_reduce(torch.tensor([0.0 if torch.isfinite(loss) else 1.0], device=device)).item() > 0:
            result.stop = "nan"
            break
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        result.iteration += 1
        result.loss_sum += loss.item() * image.shape[0]
        result.seen += image.shape[0]
        budget.record_iteration(time.perf_counter() - t_iter)
        rate = result.seen * world / (time.perf_counter() - t0)
        bar.update(task, advance=1, info=f"loss {result.loss_sum / result.seen:.3f}  {rate:.1f} img/s")
    result.seconds = time.perf_counter() - t0
    return result


@dataclass
class _Run:
    """What :func:`_setup` prepares for :func:`_epochs`: one process's data, model and optimiser
    state, and where the run stands (a resumed run starts after its last epoch)."""

    cfg: TrainConfig
    world: int
    device: torch.device
    main: bool  # rank 0: logs and writes files
    run_dir: Path
    classes: Any
    raw_model: nn.Module
    model: nn.Module  # what trains: the DDP wrapper under torchrun (nanoGPT's model / raw_model)
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    criterion: nn.Module
    dtype: torch.dtype | None
    precision: str
    gen: torch.Generator
    sampler: Any
    train_loader: DataLoader
    val_loader: DataLoader
    budget: "Budget"
    ckpt_common: dict[str, Any]
    start_epoch: int = 0
    iteration: int = 0
    best: dict[str, Any] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)


def _train(cfg: TrainConfig, rank: int, world: int, local_rank: int, device: torch.device, progress: bool | None,
           log, started: float) -> dict[str, Any]:
    """One process's run: :func:`_setup` (data, model, optimiser), then :func:`_epochs`."""
    if device.type == "cuda":
        torch.cuda.set_device(device)
    main = rank == 0
    if progress is None:
        progress = sys.stderr.isatty()
    say = log if main else (lambda *a, **k: None)
    run = _setup(cfg, rank, world, local_rank, device, say, started)
    return _epochs(run, progress and main, say)


def _open_data(cfg: TrainConfig, world: int, say) -> tuple[TrainConfig, Any, Any, Any]:
    """(cfg with its crop size, train set, val set, train pixel counts): any layout seg reads, with
    its own class list (seg.data.layouts), every file of both splits read once before anything is
    written (seg data check's rules): an error anywhere stops the run here, not after an epoch."""
    train_ds = open_dataset(cfg.data, cfg.train_split, cfg.year, cfg.val_fraction, cfg.seed, lenient=True)
    val_ds = open_dataset(cfg.data, cfg.val_split, cfg.year, cfg.val_fraction, cfg.seed, transforms=EvalPreset(),
                          lenient=True)
    for note in train_ds.notes:
        say(note)
    cfg = replace(cfg, crop_size=cfg.crop_size or auto_crop_size(train_ds))
    if len(train_ds) < cfg.batch_size * world:
        raise SegError(f"the {cfg.train_split} split has {len(train_ds)} images, fewer than one batch "
                       f"({cfg.batch_size} x {world} processes)")
    train_ds.transforms = TrainPreset(cfg.crop_size, cfg.scale, rotation=cfg.rotation, jitter=cfg.jitter)
    report = check_splits({"train": train_ds, "val": val_ds})
    for w in report.warnings:
        say(f"warning: {w}")
    if report.errors:
        raise SegError(f"{train_ds.root}: {report.errors[0]}"
                       + (f" (and {len(report.errors) - 1} more problems: seg data check {cfg.data})"
                          if len(report.errors) > 1 else ""))
    return cfg, train_ds, val_ds, report.counts["train"]


def _setup(cfg: TrainConfig, rank: int, world: int, local_rank: int, device: torch.device, say,
           started: float) -> _Run:
    """Data, model (built before the run folder is made: weights that cannot be fetched or read
    leave nothing behind), optimiser, the resumed state, loaders and the time budget."""
    cfg, train_ds, val_ds, counts = _open_data(cfg, world, say)
    classes = train_ds.classes
    num_classes = len(classes)
    torch.manual_seed(cfg.seed)
    raw_model = get_model(cfg.model, num_classes=num_classes, **model_options(cfg))
    for note in getattr(raw_model, "notes", ()):  # which layers fine-tuning replaced for these classes
        say(note)
    run_dir = Path(cfg.out) / cfg.model
    if rank == 0:
        writable_dir(run_dir, "run folder")
    dtype = amp_dtype(cfg.amp, device)
    channels_last = dtype is not None
    precision = str(dtype).removeprefix("torch.") if dtype else "float32"
    raw_model.to(device)
    if channels_last:
        raw_model.to(memory_format=torch.channels_last)
    optimizer = optimizer_for(param_groups(raw_model, cfg), cfg)
    scaler = torch.amp.GradScaler("cuda", enabled=dtype == torch.float16)

    start_epoch, iteration, elapsed0, best, history = 0, 0, 0.0, None, []
    if cfg.resume:
        last = checkpoint_path(cfg.out, cfg.model, "last")
        ckpt = read_checkpoint(last, expect_model=cfg.model)
        raw_model.load_state_dict(ckpt["state_dict"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scaler.load_state_dict(ckpt["scaler"])
        start_epoch, iteration, elapsed0 = ckpt["epoch"], ckpt["iteration"], ckpt["elapsed_s"]
        best = ckpt.get("best")
        history = [h for h in ckpt.get("history", []) if h["epoch"] <= start_epoch]
        say(f"resuming {last} after epoch {start_epoch}")
        if start_epoch >= cfg.epochs:
            raise SegError(f"{last} already completed {start_epoch} epochs; raise --epochs to go on")

    weights = class_weights(counts, cfg.class_weights) if cfg.class_weights != "none" else None
    criterion = nn.CrossEntropyLoss(weight=None if weights is None else weights.to(device), ignore_index=IGNORE_INDEX)
    model: nn.Module = raw_model
    if world > 1:
        if device.type == "cuda":
            model = nn.SyncBatchNorm.convert_sync_batchnorm(raw_model)
        model = nn.parallel.DistributedDataParallel(model, device_ids=[local_rank] if device.type == "cuda" else None)

    gen = torch.Generator()
    sampler = torch.utils.data.DistributedSampler(train_ds, world, rank, seed=cfg.seed, drop_last=True) if world > 1 else None
    workers = loader_workers(cfg.workers)
    train_loader = DataLoader(train_ds, batch_size=cfg.batch_size, shuffle=sampler is None, sampler=sampler,
                              num_workers=workers, drop_last=True, generator=gen, pin_memory=device.type == "cuda",
                              persistent_workers=False)
    val_loader = DataLoader(Subset(val_ds, range(rank, len(val_ds), world)), batch_size=1, num_workers=workers)
    budget_s = cfg.time_budget_min * 60 if cfg.time_budget_min else None

    say(f"training {cfg.model} on {train_ds.voc_dir} ({len(train_ds)} train / {len(val_ds)} val images), "
        f"crop {cfg.crop_size}, batch {cfg.batch_size}x{world}, {device.type} {precision}"
        f"{' autocast' if dtype else ''}, "
        f"{'%d epochs' % cfg.epochs if cfg.epochs < UNLIMITED_EPOCHS else 'no epoch limit'}"
        f"{', time budget %g min' % cfg.time_budget_min if budget_s else ''} -> {run_dir}")

    val_local = len(range(rank, len(val_ds), world))
    budget = Budget(
        t_start=started - elapsed0, budget_s=budget_s, total_iters=cfg.epochs * len(train_loader),
        # + image decoding and the loader's worker start-up: 20% and half a second, measured on the U-Nets.
        eval_guess_s=1.2 * val_local * forward_seconds(raw_model, val_ds, device, channels_last) + 0.5 if budget_s else 0.0,
        # last.pt + best.pt hold the weights and AdamW's two moments (3 x 4 bytes a parameter) at a
        # conservative 500 MB/s, plus ~1 s for the first curves.png (matplotlib's import); measured after epoch 1.
        save_s=1.0 + 2 * 12 * sum(p.numel() for p in raw_model.parameters()) / 5e8)
    sizes = image_sizes(train_ds)
    ckpt_common = {"model": cfg.model, "model_options": model_options(cfg), "num_classes": num_classes,
                   "class_names": list(classes.names), "palette": classes.palette,
                   "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD),
                   "image_size": int(statistics.median(max(sz) for sz in sizes))}
    return _Run(cfg, world, device, rank == 0, run_dir, classes, raw_model, model, optimizer, scaler, criterion, dtype,
                precision, gen, sampler, train_loader, val_loader, budget, ckpt_common, start_epoch, iteration, best,
                history)


def _epochs(r: _Run, progress: bool, say) -> dict[str, Any]:
    """Epochs of train_one_epoch + evaluate + checkpoint until the epochs, the budget or the
    patience run out; results.json's dict."""
    cfg, world, budget, history = r.cfg, r.world, r.budget, r.history
    num_classes, channels_last = len(r.classes), r.dtype is not None
    best, iteration = r.best, r.iteration
    stop_reason = "epochs"
    for epoch in range(r.start_epoch + 1, cfg.epochs + 1):
        # Every random choice of an epoch derives from (seed, epoch): a resumed run replays the
        # same batches and augmentations as an uninterrupted one.
        torch.manual_seed(cfg.seed + epoch)
        r.gen.manual_seed(cfg.seed + epoch)
        if r.sampler is not None:
            r.sampler.set_epoch(epoch)
        with progress_bar(progress) as bar:
            ep = train_one_epoch(r.model, r.train_loader, r.criterion, r.optimizer, r.scaler, r.device, r.dtype, cfg,
                                 budget, iteration, world, bar, epoch)
        if ep.stop == "nan":
            last = checkpoint_path(cfg.out, cfg.model, "last")
            kept = f"; the last good checkpoint is {last}" if last.exists() else ""
            if r.main:
                write_json(r.run_dir / "results.json",
                           _results(cfg, history, best, budget.elapsed(), "nan", world, r.precision))
            raise SegError(f"loss became NaN at epoch {epoch}, iteration {ep.iteration + 1}; stopped{kept} "
                           "(try a lower --lr or --amp off)")
        iteration = ep.iteration
        if ep.seen == 0:  # the budget ran out before this epoch did anything
            stop_reason = "time_budget"
            break
        t_eval = time.perf_counter()
        if world > 1:
            # DDP sends rank 0's buffers at the start of each forward, so after the epoch's last step
            # each rank's batch-norm statistics hold its own batch: every rank evaluates (and rank 0
            # saves) rank 0's model, or the pooled mIoU is not the saved checkpoint's.
            for buf in r.raw_model.buffers():
                torch.distributed.broadcast(buf, src=0)
        metrics = evaluate(r.raw_model, r.val_loader, r.device, num_classes, channels_last, progress=progress)
        budget.eval_s = time.perf_counter() - t_eval
        row = {"epoch": epoch, "iteration": iteration, "train_loss": ep.loss_sum / ep.seen,
               "val_miou": metrics.miou, "val_pixel_acc": metrics.pixel_acc, "val_mean_class_acc": metrics.mean_class_acc,
               "lr": r.optimizer.param_groups[0]["lr"], "images_per_s": ep.seen * world / ep.seconds,
               "elapsed_s": budget.elapsed()}
        history.append(row)
        improved = best is None or metrics.miou > best["val_miou"]
        if improved:
            best = {**row, "per_class_iou": metrics.as_dict(r.classes.names)["iou"]}
        t_save = time.perf_counter()
        if r.main:
            ckpt = {**r.ckpt_common, "state_dict": r.raw_model.state_dict(), "optimizer": r.optimizer.state_dict(),
                    "scaler": r.scaler.state_dict(), "epoch": epoch, "iteration": iteration,
                    "elapsed_s": row["elapsed_s"], "metrics": row, "best": best, "history": history,
                    "config": _config_dict(cfg, world)}
            _save_epoch(r.run_dir, ckpt, improved, row, history)
        budget.save_s = time.perf_counter() - t_save
        say(f"epoch {epoch:3d}  loss {row['train_loss']:.4f}  val mIoU {metrics.miou:.4f}  "
            f"pixel acc {metrics.pixel_acc:.4f}  {row['images_per_s']:.1f} img/s  lr {row['lr']:.2e}  "
            f"{row['elapsed_s'] / 60:.1f} min{'  *best*' if improved else ''}")
        stop = torch.tensor([float(ep.stop == "time_budget" or budget.exhausted())], device=r.device)
        if all_reduce(stop, dist.ReduceOp.MAX if world > 1 else None).item() > 0:
            stop_reason = "time_budget"
            break
        if cfg.patience and epoch - best["epoch"] >= cfg.patience:
            stop_reason = "early_stopping"
            break
    results = _results(cfg, history, best, budget.elapsed(), stop_reason, world, r.precision)
    if r.main:
        write_json(r.run_dir / "results.json", results)
        say(f"best val mIoU {results['best_val_miou']:.4f} (epoch {results['best_epoch']}), "
            f"stopped by {stop_reason}; checkpoints and logs in {r.run_dir}")
    return results


def _save_epoch(run_dir: Path, ckpt: dict[str, Any], improved: bool, row: dict[str, Any], history: list[dict]) -> None:
    """An epoch's files: last.pt, best.pt when it improved, a metrics.jsonl line, curves.png."""
    from seg.train.plots import plot_curves

    save_checkpoint(ckpt, checkpoint_path(run_dir.parent, run_dir.name, "last"))  # run_dir: <out>/<model>
    if improved:
        save_checkpoint(ckpt, checkpoint_path(run_dir.parent, run_dir.name, "best"))
    with open(run_dir / "metrics.jsonl", "a" if row["epoch"] > 1 else "w") as f:
        f.write(json.dumps(row) + "\n")
    plot_curves(history, run_dir / "curves.png")


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
