"""Plain images without masks, the calibration data an edge user has (torch-free): a folder of
images, or frames spread over a video file (a camera owner has a clip before a folder)."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import cv2
import numpy as np

from seg.data.voc import read_image
from seg.errors import SegError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def spread_indices(total: int, n: int) -> list[int]:
    """``n`` indices spread evenly over ``range(total)`` (all of them when ``n >= total``):
    deterministic, so the same images calibrate every time."""
    return np.unique(np.linspace(0, total - 1, num=min(n, total)).round().astype(int)).tolist()


def is_label_image(path: Path) -> bool:
    """A mask, not a photo: a palette PNG (VOC, CVAT, labelme masks), or a grey PNG with at most 64
    levels (class indices). Calibrating int8 on masks quantises for images no camera sends."""
    if path.suffix.lower() != ".png":
        return False
    from PIL import Image

    try:
        with Image.open(path) as im:
            if im.mode in ("P", "1"):  # a palette or a 1-bit PNG: class indices, a binary mask
                return True
            if im.mode not in ("L", "I", "I;16"):
                return False
            return len(np.unique(np.asarray(im))) <= 64
    except Exception:  # unreadable: left for the reader to report
        return False


class _PlainImages:
    """What a folder and a clip share: ``items`` (paths, or encoded frames) in order, and the
    calibration/held-out split; subclasses say how an item loads and how a subset is made."""

    held_out = True
    items: list

    def __len__(self) -> int:
        return len(self.items)

    def _subset(self, items: list) -> "_PlainImages":
        raise NotImplementedError

    def split_off(self, n: int) -> tuple["_PlainImages", "_PlainImages"]:
        """(``n`` items spread over the set, the others): calibration and held-out images.
        When nothing is left over, the held-out set is the whole set (see ``held_out``)."""
        idx = set(spread_indices(len(self), n))
        chosen = [x for i, x in enumerate(self.items) if i in idx]
        rest = [x for i, x in enumerate(self.items) if i not in idx]
        heldout = self._subset(rest or self.items)
        heldout.held_out = bool(rest)
        return self._subset(chosen), heldout


class ImageFolder(_PlainImages):
    """The images of a folder (sub-folders included), sorted; ``load(i)`` is ``(RGB uint8 [H,W,3], None)``,
    the same protocol as :class:`seg.data.VOCSegmentation` with no mask."""

    split = "images"
    skipped_labels: list[Path] = []

    def __init__(self, root: str | os.PathLike, paths: list[Path] | None = None):
        self.voc_dir = self.root = Path(root)  # voc_dir: what reports name as the data
        if paths is None:
            if not self.root.is_dir():
                raise SegError(f"image folder {self.root} does not exist")
            found = sorted(p for p in self.root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
            paths = [p for p in found if not is_label_image(p)]
            self.skipped_labels = [p for p in found if p not in set(paths)]
            if not paths:
                what = " (only label images: pass the photos' folder)" if found else ""
                raise SegError(f"{self.root} holds no images ({', '.join(IMAGE_SUFFIXES)}){what}")
        self.paths = self.items = paths

    def load(self, index: int) -> tuple[np.ndarray, None]:
        return read_image(self.paths[index]), None

    def _subset(self, items: list) -> "ImageFolder":
        return ImageFolder(self.root, items)


VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")


def is_video_file(path: str | os.PathLike) -> bool:
    return Path(path).is_file() and Path(path).suffix.lower() in VIDEO_SUFFIXES


class VideoFrames(_PlainImages):
    """Frames spread evenly over a video file, kept JPEG-encoded in memory (82 frames of 1080p
    would take ~500 MB decoded); ``load(i)`` as :class:`ImageFolder`'s."""

    split = "frames"

    def __init__(self, path: str | os.PathLike, frames: list[bytes]):
        self.voc_dir = self.root = Path(path)
        self.items = frames

    @classmethod
    def sample(cls, path: str | os.PathLike, n: int) -> "VideoFrames":
        """Read ``path`` once, keeping ``n`` frames spread over it."""
        cap = cv2.VideoCapture(str(path))
        if not cap.isOpened():
            raise SegError(f"calibration video {path} cannot be opened (not a video, or a codec OpenCV lacks)")
        total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        # Known length: the n frames to keep. Unknown (streams, some containers): every stride-th
        # frame, the stride doubling whenever more than 4n pile up, thinned to n at the end.
        keep = set(spread_indices(total, n)) if total > 0 else None
        encoded: list[bytes] = []
        stride = 1
        try:
            for i in itertools.count():
                ok, frame = cap.read()
                if not ok:
                    break
                wanted = i in keep if keep is not None else i % stride == 0
                if not wanted:
                    continue
                encoded.append(cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes())
                if keep is None and len(encoded) > 4 * n:
                    encoded, stride = encoded[::2], stride * 2
        finally:
            cap.release()
        if not encoded:
            raise SegError(f"calibration video {path} holds no readable frame")
        if keep is None:
            encoded = [encoded[j] for j in spread_indices(len(encoded), n)]
        return cls(path, encoded)

    def load(self, index: int) -> tuple[np.ndarray, None]:
        bgr = cv2.imdecode(np.frombuffer(self.items[index], np.uint8), cv2.IMREAD_COLOR)
        return np.ascontiguousarray(bgr[..., ::-1]), None

    def _subset(self, items: list) -> "VideoFrames":
        return VideoFrames(self.root, items)
