"""The one image reader: every path that reads a photo (``seg run``, ``seg eval``, training,
int8 calibration, the bench) reads it here, so a mask lines up with the photo as viewers and
labelling tools show it.

Two things no single library call does together: EXIF orientation (a phone photo stored
landscape with orientation 6 is shown portrait; CVAT, labelme and every viewer apply it, and
OpenCV's ``IMREAD_UNCHANGED`` does not) and the image kinds users bring (grey, RGBA, 16-bit,
1-bit, float TIFF), which OpenCV decodes at their own depth and :func:`to_bgr8` brings to 8 bits.
"""

from __future__ import annotations

import os

import cv2
import numpy as np

from seg.errors import SegError

ORIENTATION_TAG = 0x0112


def to_bgr8(img: np.ndarray) -> np.ndarray | None:
    """Any image OpenCV reads (grey, BGRA, 16-bit, float) as BGR uint8; None if unsupported."""
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    elif img.dtype in (np.float32, np.float64):
        img = np.clip(img * (255.0 if img.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    elif img.dtype != np.uint8:
        return None
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    if img.ndim == 3 and img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    if img.ndim == 3 and img.shape[2] == 3:
        return img
    if img.ndim == 3 and img.shape[2] == 1:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    return None


def exif_orientation(path: str | os.PathLike) -> int:
    """The file's EXIF orientation (1-8; 1 = as stored), read from its header only."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            value = im.getexif().get(ORIENTATION_TAG, 1)
    except Exception:  # not an image Pillow knows, or broken EXIF: shown as stored
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def orient(img: np.ndarray, orientation: int) -> np.ndarray:
    """``img`` [H,W,...] as a viewer shows it for EXIF ``orientation`` (Pillow's ``exif_transpose``)."""
    if orientation == 2:
        img = img[:, ::-1]
    elif orientation == 3:
        img = img[::-1, ::-1]
    elif orientation == 4:
        img = img[::-1]
    elif orientation == 5:
        img = img.swapaxes(0, 1)
    elif orientation == 6:
        img = np.rot90(img, -1)
    elif orientation == 7:
        img = img[::-1, ::-1].swapaxes(0, 1)
    elif orientation == 8:
        img = np.rot90(img, 1)
    return np.ascontiguousarray(img)


def read_bgr(path: str | os.PathLike) -> np.ndarray | None:
    """An image file as BGR uint8 [H,W,3], the right way up; None if it cannot be read as one."""
    img = cv2.imread(os.fspath(path), cv2.IMREAD_UNCHANGED)
    frame = None if img is None else to_bgr8(img)
    if frame is None:
        return None
    return orient(frame, exif_orientation(path))


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """An image file as RGB uint8 [H,W,3], the right way up; a SegError naming it if unreadable."""
    bgr = read_bgr(path)
    if bgr is None:
        raise SegError(f"cannot read image {path}: not an image OpenCV can decode")
    return np.ascontiguousarray(bgr[..., ::-1])


def shown_size(path: str | os.PathLike) -> tuple[int, int] | None:
    """(H, W) of the image as shown (EXIF orientation applied), from its header only; None if unreadable."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            h, w = im.height, im.width
            o = im.getexif().get(ORIENTATION_TAG, 1)
    except Exception:
        return None
    return (w, h) if o in (5, 6, 7, 8) else (h, w)
