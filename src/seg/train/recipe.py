"""What a training config resolves to: defaults, crop size, class weights, LR schedule, optimiser."""

from __future__ import annotations

import math
import statistics
from dataclasses import replace
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from seg.data import VOCSegmentation
from seg.errors import SegError
from seg.models import check_model_name
from seg.train.config import CLASS_WEIGHTS, DEFAULT_LR, TrainConfig

UNLIMITED_EPOCHS = 10**6


def image_sizes(ds: VOCSegmentation, sample: int = 50) -> list[tuple[int, int]]:
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
    return int(min(512, max(64, statistics.median(min(s) for s in image_sizes(ds, sample)) * 0.75 // 32 * 32)))


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


def resolve(cfg: TrainConfig) -> TrainConfig:
    """Fill the ``None`` defaults that do not depend on the data (the config checked its own
    values when it was made: ``TrainConfig.__post_init__``)."""
    check_model_name(cfg.model)
    backbone = cfg.backbone_weights
    if cfg.model == "resnet_fcn" and backbone is None:
        backbone = "imagenet"  # training's default; Python's get_model default stays "none"
    from seg.models.pretrained import PRETRAINED, WEIGHTS_TAG, require_pretrained

    weights = cfg.weights
    if weights is not None:
        require_pretrained(cfg.model, "; use --backbone-weights" if cfg.model == "resnet_fcn" else "")
    if cfg.model in PRETRAINED and weights is None:
        weights = WEIGHTS_TAG  # fine-tune torchvision's published weights unless told otherwise
    epochs = cfg.epochs or (UNLIMITED_EPOCHS if cfg.time_budget_min else 30)
    return replace(cfg, epochs=epochs, lr=cfg.lr or DEFAULT_LR[cfg.optimizer], backbone_weights=backbone,
                   weights=weights)


def model_options(cfg: TrainConfig) -> dict[str, Any]:
    return {k: v for k, v in {"backbone_weights": cfg.backbone_weights, "freeze_backbone": cfg.freeze_backbone,
                              "weights": cfg.weights}.items() if v is not None}


def param_groups(model: nn.Module, cfg: TrainConfig) -> list[dict]:
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


def optimizer_for(groups: list[dict], cfg: TrainConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
