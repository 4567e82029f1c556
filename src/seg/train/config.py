"""The resolved options of one training run, saved in its checkpoints and results.json."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

OPTIMIZERS = ("adamw", "sgd")
SCHEDULES = ("cosine", "poly")
CLASS_WEIGHTS = ("none", "inverse", "median")
DEVICES = ("auto", "cpu", "cuda")
AMP = ("auto", "on", "off")
# Per optimizer. AdamW's 3e-3 (was 1e-3) was measured: simple_unet, 5 CPU minutes, synthetic set,
# 0.387 -> 0.604 val mIoU on the fp32-only avx2 class (emulated), see benchmarks/results/*/train_budget*.json.
# torchvision's reference uses 0.02 for SGD at batch 32.
DEFAULT_LR = {"adamw": 3e-3, "sgd": 0.01}


@dataclass(frozen=True)
class TrainConfig:
    """Options of ``seg train``; ``None`` means "derive a sensible value" (see ``train``)."""

    model: str
    data: str  # a VOCdevkit root: real VOC or the synthetic set
    year: str = "2007"
    train_split: str = "train"
    val_split: str = "val"
    val_fraction: float = 0.1  # held out for val where the data has no val split of its own (seeded by seed)
    out: str = "runs"  # the run goes to <out>/<model>/
    epochs: Optional[int] = None  # None: 30, or unlimited when a time budget is given
    time_budget_min: Optional[float] = None  # wall-clock minutes for the whole run, eval included
    batch_size: int = 8  # per process under torchrun
    crop_size: Optional[int] = None  # None: the data's median short side, floored to a multiple of 32
    scale: tuple[float, float] = (0.5, 2.0)  # random rescale range, relative to the image's own size
    rotation: float = 0.0  # max degrees of random rotation (0: off)
    jitter: float = 0.3  # colour jitter strength (0: off)
    optimizer: str = "adamw"
    lr: Optional[float] = None  # None: DEFAULT_LR[optimizer]; a pretrained backbone gets 0.1x
    weight_decay: float = 1e-4
    schedule: str = "cosine"  # the write-up's cosine annealing; "poly" (power 0.9) as in DeepLab
    warmup: float = 0.05  # fraction of the run with a linear LR warm-up
    class_weights: str = "none"  # the write-up's fix for the background majority: inverse|median
    backbone_weights: Optional[str] = None  # resnet_fcn only; None: "imagenet"
    freeze_backbone: Optional[bool] = None  # resnet_fcn only; train the decoder alone
    weights: Optional[str] = None  # torchvision's pretrained models only; None: "coco-voc" (fine-tune)
    device: str = "auto"
    amp: str = "auto"  # bf16/fp16 autocast + channels_last: on for CUDA and bf16-capable CPUs
    workers: Optional[int] = None  # None: 0 on <= 2 cores (a worker competes with compute), else min(4, cores - 1)
    patience: int = 0  # stop after this many epochs without a better val mIoU (0: never)
    seed: int = 0
    resume: bool = False  # continue <out>/<model>/last.pt

    def __post_init__(self) -> None:
        """Check the values once, where the config is made (as ``Int8Config`` does): a Python
        caller gets the same one-line errors as the CLI, before any data is read."""
        from seg.errors import SegError

        for value, choices, flag in ((self.optimizer, OPTIMIZERS, "--optimizer"), (self.schedule, SCHEDULES, "--schedule"),
                                     (self.class_weights, CLASS_WEIGHTS, "--class-weights"),
                                     (self.device, DEVICES, "--device"), (self.amp, AMP, "--amp")):
            if value not in choices:
                raise SegError(f"unknown {flag} {value!r}; choose one of: {', '.join(choices)}")
        if self.epochs is not None and self.epochs < 1:
            raise SegError("--epochs must be at least 1")
        if self.time_budget_min is not None and self.time_budget_min <= 0:
            raise SegError("--time-budget must be positive")
        if self.batch_size < 2:
            raise SegError("--batch-size must be at least 2 (batch norm needs two samples)")
        if self.lr is not None and self.lr <= 0:
            raise SegError("--lr must be positive")
        if not 0 < self.val_fraction < 1:
            raise SegError("--val-fraction must lie between 0 and 1")
