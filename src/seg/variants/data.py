"""Which images calibrate an int8 model and which guard a variant (torch-free).

- a VOCdevkit root: its train split calibrates, its val split gives the mIoU guardrail;
- a plain folder of images (no masks, what an edge user has): ``calib_n`` images spread over it
  calibrate, the others give the label-agreement guardrail (int8/fp16 vs fp32 labels);
- a video file: ``calib_n`` + ``HELD_OUT_FRAMES`` frames spread over it, split the same way.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from seg.data.folder import ImageFolder, VideoFrames, is_video_file
from seg.data.voc import VOCSegmentation
from seg.errors import SegError


# Frames of a calibration video that guard the variant besides the calibration ones (a folder
# gives all its other images; a clip of thousands of frames would make the guardrail slow).
HELD_OUT_FRAMES = 32


def is_voc_root(path: str | os.PathLike, year: str = "2007") -> bool:
    p = Path(path)
    return any((c / "JPEGImages").is_dir() for c in (p / "VOCdevkit" / f"VOC{year}", p / f"VOC{year}", p))


def calibration_sets(path: str | os.PathLike, calib_n: int, config: dict[str, Any] | None = None,
                     need_calib: bool = True) -> tuple[Any, Any]:
    """(calibration set or None, held-out set or None) from ``path`` (a VOC root or an image folder).

    ``config``: a training config (year and split names of a VOC root); ``need_calib=False`` for
    fp16/e2e, which only need the held-out set."""
    config = config or {}
    year = str(config.get("year", "2007"))
    if is_voc_root(path, year):
        calib = VOCSegmentation(path, year, config.get("train_split", "train")) if need_calib else None
        try:
            heldout = VOCSegmentation(path, year, config.get("val_split", "val"))
        except SegError:
            heldout = None  # no val split: the guardrail is recorded as skipped
        return calib, heldout
    if is_video_file(path):
        folder = VideoFrames.sample(path, (calib_n if need_calib else 0) + HELD_OUT_FRAMES)
    elif not Path(path).is_dir():
        raise SegError(f"calibration data {path} is neither a folder nor a video file")
    else:
        folder = ImageFolder(path)
    if not need_calib:
        return None, folder
    return folder.split_off(calib_n)
