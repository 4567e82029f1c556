"""Which images calibrate an int8 model and which guard a variant (torch-free).

- a VOCdevkit root: its train split calibrates, its val split gives the mIoU guardrail;
- a plain folder of images (no masks, what an edge user has): ``calib_n`` images spread over it
  calibrate, the others give the label-agreement guardrail (int8/fp16 vs fp32 labels);
- a video file: ``calib_n`` + ``HELD_OUT_FRAMES`` frames spread over it, split the same way.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

from seg.data.folder import ImageFolder, VideoFrames, is_video_file
from seg.data.layouts import open_dataset
from seg.data.voc import voc_years
from seg.errors import NoCalibrationData, SegError


# Frames of a calibration video that guard the variant besides the calibration ones (a folder
# gives all its other images; a clip of thousands of frames would make the guardrail slow).
HELD_OUT_FRAMES = 32


def is_voc_root(path: str | os.PathLike, year: str = "2007") -> bool:
    p = Path(path)
    return any((c / "JPEGImages").is_dir() for c in (p / "VOCdevkit" / f"VOC{year}", p / f"VOC{year}", p))


def is_labelled(path: str | os.PathLike, year: str = "2007") -> bool:
    """A labelled set in a layout seg reads (VOC-like, images/ + masks/, COCO JSON), not plain photos."""
    from seg.data.coco import find_coco_json

    p = Path(path)
    if not p.is_dir():
        return False
    if is_voc_root(p, year) or ((p / "images").is_dir() and (p / "masks").is_dir()):
        return True
    try:
        return find_coco_json(p, "train") is not None or find_coco_json(p, "val") is not None
    except SegError:
        return True  # COCO files, none named for the split: open_dataset says so


def calibration_sets(path: str | os.PathLike, calib_n: int, config: dict[str, Any] | None = None,
                     need_calib: bool = True, log: Callable[[str], None] = lambda m: None) -> tuple[Any, Any]:
    """(calibration set or None, held-out set or None) from ``path`` (a VOC root or an image folder).

    ``config``: a training config (year and split names of a VOC root); ``need_calib=False`` for
    fp16/e2e, which only need the held-out set. A VOC tree is recognised whatever its year (the
    config's year first, else the newest found): taken as a plain folder, its masks calibrated int8."""
    config = config or {}
    year = str(config.get("year", "2007"))
    if not is_voc_root(path, year) and (years := voc_years(path)):
        year = years[-1]
        log(f"calibration data: the VOC{year} tree in {path}")
    if is_labelled(path, year):
        train, val = config.get("train_split", "train"), config.get("val_split", "val")
        frac, seed = config.get("val_fraction", 0.1), config.get("seed", 0)
        try:
            heldout = open_dataset(path, val, year, frac, seed)
        except SegError:
            heldout = None  # no val split: the guardrail is recorded as skipped
        if not need_calib:
            return None, heldout
        try:
            calib = open_dataset(path, train, year, frac, seed)
        except SegError:
            if heldout is None:
                raise
            # A tree with a val split only (a sample of VOC2012): it calibrates, and guards without
            # being held out, as a folder with nothing left over does.
            log(f"calibration data: no {train} split in {heldout.voc_dir}; calibrating on its {val} split")
            calib, heldout.held_out = heldout, False
        return calib, heldout
    if is_video_file(path):
        folder = VideoFrames.sample(path, (calib_n if need_calib else 0) + HELD_OUT_FRAMES)
    elif not Path(path).is_dir():
        raise SegError(f"calibration data {path} is neither a folder nor a video file")
    else:
        folder = ImageFolder(path)
        if folder.skipped_labels:
            log(f"warning: skipped {len(folder.skipped_labels)} label images (palette or few-level grey PNGs, "
                f"e.g. {folder.skipped_labels[0]}): masks are not photos")
    if not need_calib:
        return None, folder
    return folder.split_off(calib_n)


def variant_data(precision: str, calib_data: str | os.PathLike | None, config: dict[str, Any] | None = None, *,
                 calib_n: int, log: Callable[[str], None] = lambda m: None) -> tuple[Any, Any]:
    """(calibration set, held-out set) for a ``precision`` variant: from ``calib_data`` (a VOC-like
    root, a folder of images or a clip), else the training data a checkpoint's ``config`` names.
    int8 without either is :class:`NoCalibrationData`; fp16, e2e and auto then get (None, None):
    the guardrail is recorded as skipped, and auto lets only fp32 compete. Every command that
    builds a variant asks here, so "where the calibration images come from" is said once."""
    config = config or {}
    root = calib_data if calib_data is not None else config.get("data")
    if calib_data is None and root is not None and not Path(root).exists():
        if precision == "int8":
            raise NoCalibrationData(f"the checkpoint's training data {root} is not here")
        root = None
    if root is None:
        if precision == "int8":
            raise NoCalibrationData()
        return None, None
    return calibration_sets(root, calib_n, config, need_calib=precision in ("int8", "auto"), log=log)
