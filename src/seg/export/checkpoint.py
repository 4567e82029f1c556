"""``seg export --model``: which weights, which output, is the fp32 file fresh, which data calibrates.

The orchestration around the exporter. :mod:`seg.export.onnx` takes a model and a path and
nothing else (as timm's ``onnx_export``); this module turns a registry name plus a checkpoint,
published weights or random init into that model and the metadata it records, exports the fp32
file (or reuses it while it is fresh), and builds variants from it with :mod:`seg.variants`.

**One freshness rule**, shared with ``seg bench``: an export records where its weights came from
as structured JSON (``seg.source``: a file's resolved path, size and mtime, or the published
weights' name and URL), and a file is fresh while that equals the weights' identity now
(:func:`seg.metadata.is_fresh`).
"""

from __future__ import annotations

import os
from shlex import quote
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from seg.classes import IMAGENET_MEAN, IMAGENET_STD, VOC_CLASSES, ClassList
from seg._io import scratch_dir
from seg.errors import SegError
from seg.export.onnx import to_onnx
from seg.layout import checkpoint_path
from seg.metadata import file_source, is_fresh, read_meta
from seg.variants import Int8Config


@dataclass
class Weights:
    """What an export starts from."""

    build: Callable[[], nn.Module]  # the model, built only when the fp32 file must be (re)made
    meta: dict[str, Any]  # the seg.* metadata these weights give the export
    source: dict[str, Any]  # their identity (seg.source), which decides freshness
    config: dict[str, Any]  # the training config of a checkpoint ({} otherwise): its data calibrates
    reusable: bool  # the runs folder's own weights: the default fp32 file is reused while fresh


def weights_classes(name: str, weights: str | os.PathLike, classes: list[str] | None) -> ClassList:
    """The classes of a torchvision model's ``--weights``: as many as the weights predict, named by
    ``classes`` (``--classes a,b``), VOC's when they predict 21 and none are given."""
    from seg.models.pretrained import classes_in

    n = classes_in(name, weights)
    if classes:
        if len(classes) != n:
            raise SegError(f"--classes names {len(classes)} classes ({', '.join(classes)}) but weights {weights} "
                           f"predict {n}")
        return ClassList(classes, None, "--classes")
    if n == len(VOC_CLASSES):
        return ClassList.voc()
    raise SegError(f"weights {weights} predict {n} classes: name them with --classes a,b,... ({n} names)")


def resolve_weights(name: str, runs: Path, checkpoint: str | os.PathLike | None, random_init: bool,
                    weights: str | os.PathLike | None, classes: list[str] | None = None) -> Weights:
    """The weights an export of ``name`` starts from: ``--weights`` (torchvision's models),
    ``--random-init``, ``--checkpoint``, or the runs folder's ``<name>/best.pt``. ``classes``
    names the classes of a local weights file (``--classes``)."""
    from seg.models import get_model, load_checkpoint
    from seg.models.pretrained import PRETRAINED, WEIGHTS_TAG, export_meta

    if classes is not None and (weights is None or str(weights) in (WEIGHTS_TAG, "none")):
        raise SegError("--classes names the classes of a local --weights file; a checkpoint carries its own")

    if weights is not None and (checkpoint is not None or random_init):
        raise SegError("--weights excludes --checkpoint and --random-init")
    if random_init and checkpoint is not None:
        raise SegError("--random-init and --checkpoint exclude each other")
    if random_init or str(weights) == "none":
        def untrained() -> nn.Module:
            torch.manual_seed(0)  # reproducible untrained weights (seg bench rebuilds the same ones)
            return get_model(name)

        # torchvision's models keep their preset even untrained: the runtime path is the same
        meta = {**(export_meta(name, "none") if weights is not None else {}), "weights": "random-init"}
        return Weights(untrained, meta, {"weights": "random-init", "seed": 0}, {}, reusable=False)
    if weights is not None:
        meta = export_meta(name, weights)  # one line for a model without published weights, or a missing file
        source = {"weights": WEIGHTS_TAG, "url": meta["pretrained"]["url"]} if str(weights) == WEIGHTS_TAG \
            else meta["pretrained"]  # a local file: its identity, as export_meta recorded it
        cl = weights_classes(name, weights, classes) if str(weights) != WEIGHTS_TAG else ClassList.voc()
        meta.update(num_classes=len(cl), class_names=list(cl.names), palette=cl.palette)
        # built only when needed, so that a data error comes before a download
        return Weights(lambda: get_model(name, num_classes=len(cl), weights=weights), meta, source, {}, reusable=True)
    ckpt = Path(checkpoint) if checkpoint is not None else checkpoint_path(runs, name)
    if checkpoint is None and not ckpt.exists():
        published = f", --weights {WEIGHTS_TAG} for torchvision's published weights" if name in PRETRAINED else ""
        raise SegError(f"no checkpoint at {ckpt}: train one with `seg train --model {quote(name)} --data DIR`, "
                       f"pass --checkpoint PATH{published}, or --random-init for untrained weights")
    model, info = load_checkpoint(ckpt, expect_model=name)
    best = info.get("best") or {}
    meta = {
        "weights": "checkpoint", "checkpoint": f"{ckpt} (epoch {info.get('epoch')})",
        "num_classes": info["num_classes"], "class_names": info.get("class_names") or list(VOC_CLASSES),
        "palette": info.get("palette") or ClassList(info.get("class_names") or VOC_CLASSES).palette,
        "mean": info.get("mean") or list(IMAGENET_MEAN), "std": info.get("std") or list(IMAGENET_STD),
        "val_metrics": {k: best[k] for k in ("epoch", "val_miou", "val_pixel_acc", "val_mean_class_acc") if k in best},
        "imgsz": info.get("image_size"),  # seg run's default input size (None for older checkpoints)
    }
    return Weights(lambda: model, meta, file_source("checkpoint", ckpt), info.get("config") or {},
                   reusable=checkpoint is None)


def export_checkpoint(
    name: str,
    checkpoint: str | os.PathLike | None = None,
    out: str | os.PathLike | None = None,
    *,
    runs: str | os.PathLike = "runs",
    random_init: bool = False,
    precision: str = "fp32",
    e2e: bool = False,
    calib_data: str | os.PathLike | None = None,
    int8: Int8Config | None = None,
    max_drop: float | None = None,
    min_agreement: float | None = None,
    force: bool = False,
    weights: str | os.PathLike | None = None,
    classes: list[str] | None = None,
    log: Callable[[str], None] = lambda m: None,
    **export_options: Any,
) -> dict[str, Any]:
    """``seg export`` for one model: resolve its weights and output path, export, verify; return the report.

    Default checkpoint ``<runs>/<name>/best.pt``; default output ``<runs>/<name>/<name>.onnx``
    (``<name>[.e2e][.int8|.fp16|.auto].onnx`` for the variants, see :mod:`seg.layout`).
    ``random_init`` exports untrained weights (flagged in the metadata as ``random-init``).
    ``weights`` (torchvision's pretrained models): ``"coco-voc"``, ``"none"`` or a local ``.pth``
    instead of a checkpoint; the metadata then records them and torchvision's preset resize.
    A variant is built from the fp32 export, made first unless the default one is fresh; int8
    calibrates on ``calib_data`` (a VOC root or a folder of plain images; default: the
    checkpoint's training data) and is gated by the guardrail on held-out images.
    ``export_options`` go to :func:`~seg.export.onnx.to_onnx` (opset, verify_shapes, simplify, providers).
    """
    from seg.layout import check_onnx_out, variant_path
    from seg.models import check_model_name
    from seg.variants import build_variant, variant_data
    from seg.variants.build import PRECISIONS

    check_model_name(name)
    if precision not in (*PRECISIONS, "auto"):
        raise SegError(f"unknown precision {precision!r}; choose one of: {', '.join(PRECISIONS)}, auto")
    runs = Path(runs)
    out = check_onnx_out(out if out is not None else variant_path(runs, name, precision, e2e))
    w = resolve_weights(name, runs, checkpoint, random_init, weights, classes)

    def plain(dest: Path) -> dict[str, Any]:
        _warn_if_replacing_other_weights(dest, w.meta["weights"], log)
        return to_onnx(w.build(), dest, name=name, metadata={**w.meta, "source": w.source}, **export_options)

    if precision == "fp32" and not e2e:
        return plain(out)

    int8 = int8 or Int8Config()
    # Data first, so a missing calibration set fails before minutes of export.
    calib, heldout = variant_data(precision, calib_data, w.config, calib_n=int8.calib_n)

    def variant(base: Path, base_report: dict[str, Any] | None) -> dict[str, Any]:
        report = build_variant(base, out, precision=precision, e2e=e2e, calib=calib, heldout=heldout, int8=int8,
                               max_drop=max_drop, min_agreement=min_agreement, force=force, log=log)
        report["fp32"] = base_report
        return report

    # A variant starts from the verified fp32 file: the default one, reused while it is fresh.
    if w.reusable:
        base = variant_path(runs, name)
        if is_fresh(base, w.source):
            return variant(base, None)
        log(f"exporting the fp32 model first -> {base}")
        return variant(base, plain(base))
    with scratch_dir() as d:  # a one-off checkpoint or random weights: fp32 file not kept
        base = Path(d) / f"{name}.onnx"
        return variant(base, plain(base))


def _warn_if_replacing_other_weights(path: Path, weights: str, log: Callable[[str], None]) -> None:
    """A re-export after retraining replaces the file silently, as expected; an export from another
    kind of weights (published weights over a fine-tuned checkpoint's export, say) says so."""
    if not path.is_file():
        return
    try:
        old = read_meta(path)
    except SegError:
        return
    if old.get("weights") != weights:
        was = old.get("checkpoint") or (old.get("pretrained") or {}).get("file") or ""
        log(f"warning: replacing {path}, exported from {old.get('weights', '?')} weights{f' {was}' if was else ''}, "
            f"with {weights} weights (--out PATH keeps both)")
