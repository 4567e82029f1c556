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


REQUIRED = ("model", "num_classes", "state_dict")


def safe_load(path: str | os.PathLike, what: str, kind: str) -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU; a failure is one SegError line naming
    ``what`` (e.g. "checkpoint") and ``kind`` (what the file should have been)."""
    import pickle
    import warnings

    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols before failing in its own words
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # zip, pickle and torch errors all mean the same to the user
        if isinstance(e, pickle.UnpicklingError) and "weights only" in str(e).lower():
            # Not "re-run with weights_only=False" (torch's advice): that would run the file's code.
            # torch cannot tell garbage from a pickle of arbitrary objects here ("Unsupported operand").
            raise SegError(f"cannot read {what} {path}: it is corrupt, or holds Python objects that a safe "
                           "(weights-only) load refuses") from None
        first = str(e).splitlines()[0] if str(e) else ""
        raise SegError(f"cannot read {what} {path} (truncated or not {kind}): {type(e).__name__}: {first}") from None


def read_checkpoint(path: str | os.PathLike, expect_model: str | None = None) -> dict[str, Any]:
    """Load a checkpoint dict (on the CPU), checking that it is seg's and, optionally, its model."""
    path = Path(path)
    if path.is_dir():
        raise SegError(f"checkpoint {path} is a folder, not a file")
    if not path.is_file():
        raise SegError(f"checkpoint {path} does not exist")
    ckpt = safe_load(path, "checkpoint", "a checkpoint")
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise SegError(f"{path} is not a seg checkpoint (no '{FORMAT}' format tag)")
    missing = [k for k in REQUIRED if k not in ckpt]
    if missing:
        raise SegError(f"checkpoint {path} is incomplete: it has no {', '.join(repr(k) for k in missing)}")
    if expect_model is not None and ckpt["model"] != expect_model:
        raise SegError(f"checkpoint {path} holds a {ckpt['model']} model, not {expect_model}")
    return ckpt


def state_dict_mismatch(model: nn.Module, state: dict[str, Any], limit: int = 3) -> str:
    """What keeps ``state`` from loading into ``model``, in one line: the first missing and
    unexpected keys and shape mismatches (torch's own message spans dozens of lines)."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in own
              if k in state and hasattr(state[k], "shape") and tuple(state[k].shape) != tuple(own[k].shape)]

    def part(what: str, items: list[str]) -> str:
        more = f" (+{len(items) - limit} more)" if len(items) > limit else ""
        return f"{len(items)} {what}: {', '.join(items[:limit])}{more}"

    parts = [part(w, i) for w, i in (("missing", missing), ("unexpected", unexpected), ("of another shape", shapes)) if i]
    return "; ".join(parts) or "unknown mismatch"


def load_checkpoint(path: str | os.PathLike, expect_model: str | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the trained model of a checkpoint, in eval mode on the CPU.

    Returns ``(model, info)``, where ``info`` is the checkpoint without the weights and the
    optimizer state (model name, classes, mean/std, config, metrics, epoch).
    """
    ckpt = read_checkpoint(path, expect_model)
    name = check_model_name(ckpt["model"])
    # The weights come from the checkpoint: never fetch ImageNet or torchvision weights to overwrite them.
    options = {k: v for k, v in ckpt.get("model_options", {}).items() if k not in ("backbone_weights", "weights")}
    model = get_model(name, num_classes=ckpt["num_classes"], **options)
    state = ckpt["state_dict"] if isinstance(ckpt["state_dict"], dict) else {}
    try:
        model.load_state_dict(state)
    except RuntimeError:
        raise SegError(f"checkpoint {path} does not fit {name}: {state_dict_mismatch(model, state)}") from None
    info = {k: v for k, v in ckpt.items() if k not in ("state_dict", "optimizer", "scaler")}
    return model.eval(), info
