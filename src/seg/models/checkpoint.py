"""Checkpoints: everything needed to rebuild a trained model and to resume its training.

A checkpoint is a dict saved with ``torch.save`` and loadable with ``weights_only=True``:

- ``format``: ``"seg-checkpoint/1"``; ``model``: registry name; ``model_options``: builder
  options (e.g. ``additive_skips``); ``num_classes``, ``class_names``, ``mean``, ``std``;
- ``state_dict``: model weights; ``epoch`` (completed epochs), ``iteration``, ``elapsed_s``;
- ``metrics``: the val metrics of this epoch; ``best``: the best val metrics so far;
- ``config``: the resolved training config; ``optimizer``, ``scaler``: state for ``--resume``;
- ``image_size``: median long side of the training images (the inference size to default to).

Files are written atomically (temp file in the same folder, then ``os.replace``), so a crash
never leaves a truncated ``best.pt``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from seg._io import atomic_path
from seg.errors import SegError
from seg.models._registry import check_model_name, get_model

FORMAT = "seg-checkpoint/1"


def save_checkpoint(ckpt: dict[str, Any], path: str | os.PathLike) -> None:
    """Write ``ckpt`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        torch.save({"format": FORMAT, **ckpt}, tmp)


def read_checkpoint(path: str | os.PathLike, expect_model: str | None = None) -> dict[str, Any]:
    """Load a checkpoint dict (on the CPU), checking that it is seg's and, optionally, its model."""
    path = Path(path)
    if not path.is_file():
        raise SegError(f"checkpoint {path} does not exist")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # zip, pickle and torch errors all mean the same to the user
        raise SegError(f"cannot read checkpoint {path}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise SegError(f"{path} is not a seg checkpoint (no '{FORMAT}' format tag)")
    if expect_model is not None and ckpt["model"] != expect_model:
        raise SegError(f"checkpoint {path} holds a {ckpt['model']} model, not {expect_model}")
    return ckpt


def load_checkpoint(path: str | os.PathLike, expect_model: str | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the trained model of a checkpoint, in eval mode on the CPU.

    Returns ``(model, info)``, where ``info`` is the checkpoint without the weights and the
    optimizer state (model name, classes, mean/std, config, metrics, epoch).
    """
    ckpt = read_checkpoint(path, expect_model)
    name = check_model_name(ckpt["model"])
    # The weights come from the checkpoint: never fetch ImageNet weights to overwrite them.
    options = {k: v for k, v in ckpt.get("model_options", {}).items() if k != "backbone_weights"}
    model = get_model(name, num_classes=ckpt["num_classes"], **options)
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as e:
        raise SegError(f"checkpoint {path} does not fit {name}: {str(e).splitlines()[0]}") from None
    info = {k: v for k, v in ckpt.items() if k not in ("state_dict", "optimizer", "scaler")}
    return model.eval(), info
