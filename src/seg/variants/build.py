"""The deployable variants of a verified fp32 export: int8, fp16 and end-to-end graphs.

    <runs>/<model>/<model>.onnx            fp32, verified against PyTorch (seg export)
    <runs>/<model>/<model>.int8.onnx       static int8, gated by the accuracy guardrail
    <runs>/<model>/<model>.fp16.onnx       float16 inside, float32 in/out (GPUs)
    <runs>/<model>/<model>.e2e.onnx        uint8 BGR frames of any size in, uint8 labels out
    <runs>/<model>/<model>.e2e.int8.onnx   both (likewise .e2e.fp16)

No PyTorch model needed: a variant is built from, and checked against, the verified fp32 .onnx file.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import onnx

from seg._io import atomic_path, scratch_dir, writable_dir
from seg.layout import check_onnx_out
from seg.data.folder import spread_indices
from seg.errors import NoCalibrationData, SegError
from seg.infer.preprocess import size_rule
from seg.metadata import E2E_INPUT_LAYOUT, e2e_layout, is_e2e, read_meta, require_seg_model, write_props
from seg.variants.e2e import wrap_e2e
from seg.text import article
from seg.variants.quantize import (MAX_DROP_POINTS, MIN_AGREEMENT, Int8Config, convert_fp16, cpu_session, guardrail,
                                   label_agreement, quantize_int8)

PRECISIONS = ("fp32", "fp16", "int8")
MIN_E2E_AGREEMENT = 0.999  # e2e graph vs the plain model, the same resize on the host
# ... where the graph resizes: ORT's antialiased Resize differs from Pillow's by 1 level on some
# values, which flips pixels on class boundaries (the bar of the issue that moved the resize in)
MIN_E2E_RESIZE_AGREEMENT = 0.995


class Spread(Sequence):
    """``n`` RGB images spread evenly over ``dataset`` (deterministic: the same calibration every
    time), each loaded when it is used: calibration holds one photo at a time, whatever ``n``."""

    def __init__(self, dataset, n: int):
        self.dataset, self.indices = dataset, spread_indices(len(dataset), n)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        return self.dataset.load(self.indices[i])[0]


spread = Spread


def _fp16_session(path, frames: list[tuple[int, int]] | None = None):
    """fp16 is for GPUs: check it on CUDA where there is one, else on the CPU; a TensorRT profile
    by the one rule, covering the held-out images it is checked on."""
    from seg.infer.session import ShapeRange, create_session

    shapes = ShapeRange.for_frames(read_meta(path), frames) if frames else None
    return create_session(path, "auto", spinning=False, shapes=shapes)[0]


def make_variant(
    fp32_path: str | os.PathLike,
    out: str | os.PathLike,
    *,
    precision: str = "fp32",
    e2e: bool = False,
    calib=None,
    heldout=None,
    int8: Int8Config = Int8Config(),
    max_drop: float = MAX_DROP_POINTS,
    min_agreement: float = MIN_AGREEMENT,
    force: bool = False,
    log: Callable[[str], None] = lambda m: None,
    shared: Path | None = None,
) -> dict[str, Any]:
    """Build one variant of the verified fp32 model ``fp32_path`` into ``out``; return its report.

    ``calib``: dataset whose images calibrate int8 (see :mod:`seg.variants.data`). ``heldout``:
    held-out images for the guardrail (with masks: the mIoU guardrail, ``max_drop``; plain images:
    label agreement with fp32, ``min_agreement``); without it the guardrail is recorded as
    skipped. Raises SegError, leaving no file, when the guardrail refuses (unless ``force``) or
    the e2e graph disagrees with the plain one. ``shared``: a folder where int8 builds of this file
    from the same ``calib`` share their calibration (:func:`~seg.variants.quantize.quantize_int8`).
    """
    if precision not in PRECISIONS:
        raise SegError(f"unknown precision {precision!r}; choose one of: {', '.join(PRECISIONS)}")
    if precision == "fp32" and not e2e:
        raise SegError("the fp32 variant is the plain export itself")
    out = Path(out)
    writable_dir(out.parent, "output folder")
    meta = check_plain_fp32(fp32_path, read_meta(fp32_path))
    if precision == "int8" and calib is None:
        raise NoCalibrationData()
    report: dict[str, Any] = {"model": meta.get("model"), "path": str(out), "precision": precision, "e2e": e2e}
    if precision == "fp16":
        from seg.images import shown_size

        paths = getattr(heldout, "images", None) or getattr(heldout, "paths", None) or []
        frames = [s for s in map(shown_size, paths) if s] or None
        session = lambda p: _fp16_session(p, frames)  # noqa: E731
    else:
        session = cpu_session
    with scratch_dir() as d, atomic_path(out) as tmp:
        core = Path(fp32_path)
        extra: dict[str, Any] = {"precision": precision}
        if precision != "fp32":
            core = Path(d) / f"core.{precision}.onnx"
            if precision == "int8":
                images = spread(calib, int8.calib_n)
                log(f"quantising to int8 ({int8.format}, {int8.activation} activations, {len(images)} calibration images)")
                extra["quantization"] = quantize_int8(fp32_path, core, images, meta, int8, shared)
                extra["quantization"]["calib_data"] = str(getattr(calib, "voc_dir", ""))
            else:
                extra["quantization"] = convert_fp16(fp32_path, core)
            if heldout is not None:
                held = "held-out" if getattr(heldout, "held_out", True) else "calibration (no others to hold out)"
                log(f"guardrail: fp32 vs {precision} on {len(heldout)} {held} images")
                g = guardrail(fp32_path, core, heldout, meta, max_drop, min_agreement, session=session)
                report["guardrail"] = extra["guardrail"] = g
                if not g["passed"]:
                    msg = _refusal(precision, g)
                    if not force:
                        raise SegError(f"{msg}: not written; pass --force to write it anyway")
                    log(f"warning: {msg}; written anyway (--force)")
            else:
                report["guardrail"] = extra["guardrail"] = {"skipped": "no held-out data"}
        proto = onnx.load(str(core))
        if e2e:
            # the graph sizes frames itself, by the rule seg run applies to this model (antialiased:
            # the one resize ONNX has that follows a host library, Pillow's)
            rule = replace(size_rule(meta), antialias=True)
            proto = wrap_e2e(proto, meta["mean"], meta["std"], rule)
            extra.update(e2e=True, e2e_resize=rule.as_meta(), input=E2E_INPUT_LAYOUT + " of any size",
                         output=e2e_layout(True).split(" -> ", 1)[1])
        write_props(proto, {**meta, **extra})
        onnx.save(proto, str(tmp), save_as_external_data=False)
        try:
            onnx.checker.check_model(str(tmp))
        except Exception as e:
            raise SegError(f"onnx.checker rejects the {precision} graph: {str(e).strip().splitlines()[0]}") from None
        if e2e:
            # The same images through the plain model (numpy pre/post) and the e2e graph.
            images = spread(heldout, 8) if heldout is not None else _noise_images()
            agree = label_agreement(core, tmp, images, meta, {**meta, **extra}, session=session)
            report["e2e_label_agreement"] = agree
            bar = MIN_E2E_RESIZE_AGREEMENT if "e2e_resize" in extra else MIN_E2E_AGREEMENT
            if agree < bar:
                raise SegError(f"the e2e graph agrees with the plain {precision} model on only {agree:.4%} of the "
                               f"pixels (needs {bar:.1%}); nothing written")
            write_props(proto, {"e2e_check": {"label_agreement": agree, "images": len(images)}}, replace=False)
            onnx.save(proto, str(tmp), save_as_external_data=False)
    report["bytes"] = out.stat().st_size
    return report


def build_variant(
    fp32_path: str | os.PathLike,
    out: str | os.PathLike,
    *,
    precision: str,
    e2e: bool = False,
    calib=None,
    heldout=None,
    int8: Int8Config | None = None,
    max_drop: float | None = None,
    min_agreement: float | None = None,
    force: bool = False,
    log: Callable[[str], None] = lambda m: None,
) -> dict[str, Any]:
    """The one entry point of every command that makes a variant (``seg export``, ``seg export
    --onnx``, ``seg bench``): ``precision`` int8|fp16|fp32 (with ``e2e``) by :func:`make_variant`,
    or ``auto`` by :func:`seg.variants.auto.auto_variant` (the fastest that passes its guardrail
    here). ``calib``/``heldout`` from :func:`seg.variants.data.variant_data`; None limits mean the
    defaults."""
    check_onnx_out(out)
    # what was given; make_variant's own defaults for the rest
    given = {k: v for k, v in (("int8", int8), ("max_drop", max_drop), ("min_agreement", min_agreement))
             if v is not None}
    if precision == "auto":
        from seg.variants.auto import auto_variant  # auto builds its candidates with make_variant

        return auto_variant(fp32_path, out, e2e=e2e, calib=calib, heldout=heldout, log=log, **given)
    return make_variant(fp32_path, out, precision=precision, e2e=e2e, calib=calib, heldout=heldout, force=force,
                        log=log, **given)


def check_plain_fp32(path: str | os.PathLike, meta: dict[str, Any]) -> dict[str, Any]:
    """A variant is built from a plain fp32 seg export (what `seg export` writes first), nothing else."""
    require_seg_model(meta, path)
    if meta.get("precision", "fp32") != "fp32" or is_e2e(meta):
        raise SegError(f"{path} is already {article(str(meta.get('precision')))}{' e2e' if is_e2e(meta) else ''} variant: "
                       "build variants from the plain fp32 export")
    return meta


def _refusal(precision: str, g: dict[str, Any]) -> str:
    if g["kind"] == "miou":
        return (f"{precision} model loses {g['drop_points']:.2f} mIoU points on {g['data']} {g['split']} "
                f"({g['miou']:.4f} vs fp32 {g['fp32_miou']:.4f}; the limit is {g['max_drop_points']:.2f})")
    return (f"{precision} model gives the fp32 model's label on only {g['label_agreement']:.2%} of the pixels of "
            f"{g['images']} images in {g['data']} (the limit is {g['min_agreement']:.0%})")


def _noise_images() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in ((128, 160), (97, 131), (333, 257))]

