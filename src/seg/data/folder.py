"""Plain images without masks, the calibration data an edge user has (torch-free): a folder of
images, or frames spread over a video file (a camera owner has a clip before a folder)."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from seg.data.voc import read_image
from seg.errors import SegError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


class ImageFolder:
    """The images of a folder (sub-folders included), sorted; ``load(i)`` is ``(RGB uint8 [H,W,3], None)``,
    the same protocol as :class:`seg.data.VOCSegmentation` with no mask."""

    split = "images"

    def __init__(self, root: str | os.PathLike, paths: list[Path] | None = None):
        self.voc_dir = self.root = Path(root)  # voc_dir: what reports name as the data
        if paths is None:
            if not self.root.is_dir():
                raise SegError(f"image folder {self.root} does not exist")
            paths = sorted(p for p in self.root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
            if not paths:
                raise SegError(f"{self.root} holds no images ({', '.join(IMAGE_SUFFIXES)})")
        self.paths = paths

    def __len__(self) -> int:
        return len(self.paths)

    def load(self, index: int) -> tuple[np.ndarray, None]:
        return read_image(self.paths[index]), None

    def split_off(self, n: int) -> tuple["ImageFolder", "ImageFolder"]:
        """(``n`` images spread over the folder, the others): calibration and held-out images.
        When nothing is left over, the held-out set is the whole folder (see ``held_out``)."""
        idx = set(np.unique(np.linspace(0, len(self) - 1, num=min(n, len(self))).round().astype(int)).tolist())
        chosen = [p for i, p in enumerate(self.paths) if i in idx]
        rest = [p for i, p in enumerate(self.paths) if i not in idx]
        heldout = ImageFolder(self.root, rest or self.paths)
        heldout.held_out = bool(rest)
        return ImageFolder(self.root, chosen), heldout

    held_out = True


VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")


def is_video_file(path: str | os.PathLike) -> bool:
    return Path(path).is_file() and Path(path).suffix.lower() in VIDEO_SUFFIXES


def _spread(total: int, n: int) -> list[int]:
    """``n`` indices spread evenly over ``range(total)`` (all of them when ``n >= total``)."""
    return np.unique(np.linspace(0, total - 1, num=min(n, total)).round().astype(int)).tolist()


class VideoFrames:
    """Frames spread evenly over a video file, kept JPEG-encoded in memory (82 frames of 1080p
    would take ~500 MB decoded); the protocol of :class:`ImageFolder` (``load(i)`` is
    ``(RGB uint8 [H,W,3], None)``, ``split_off``)."""

    split = "frames"
    held_out = True

    def __init__(self, path: str | os.PathLike, frames: list[bytes]):
        self.voc_dir = self.root = Path(path)
        self.frames = frames

    @classmethod
    def sample(cls, path: str | os.PathLike, n: int) -> "VideoFrames":
        """Read ``path`` once, keeping ``n`` frames spread over it."""
        cap = cv2.VideoCapture(str(path))
        if not cap.isOpened():
            raise SegError(f"calibration video {path} cannot be opened (not a video, or a codec OpenCV lacks)")
        try:
            total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
            keep = set(_spread(total, n)) if total > 0 else None
            encoded: list[bytes] = []
            stride, i = 1, 0  # unknown length: every stride-th frame, the stride doubling as they pile up
            while True:
                ok, frame = cap.read()
                if not ok:
                    break
                if (i in keep) if keep is not None else i % stride == 0:
                    encoded.append(cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes())
                    if keep is None and len(encoded) > 4 * n:
                        encoded, stride = encoded[::2], stride * 2
                i += 1
        finally:
            cap.release()
        if not encoded:
            raise SegError(f"calibration video {path} holds no readable frame")
        if keep is None:
            encoded = [encoded[j] for j in _spread(len(encoded), n)]
        return cls(path, encoded)

    def __len__(self) -> int:
        return len(self.frames)

    def load(self, index: int) -> tuple[np.ndarray, None]:
        bgr = cv2.imdecode(np.frombuffer(self.frames[index], np.uint8), cv2.IMREAD_COLOR)
        return np.ascontiguousarray(bgr[..., ::-1]), None

    def split_off(self, n: int) -> tuple["VideoFrames", "VideoFrames"]:
        """(``n`` frames spread over the clip, the others), as :meth:`ImageFolder.split_off`."""
        idx = set(_spread(len(self), n))
        chosen = [f for i, f in enumerate(self.frames) if i in idx]
        rest = [f for i, f in enumerate(self.frames) if i not in idx]
        heldout = VideoFrames(self.root, rest or self.frames)
        heldout.held_out = bool(rest)
        return VideoFrames(self.root, chosen), heldout
