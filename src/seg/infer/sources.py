"""Frame sources for ``seg run``: a video file, a camera or stream, a folder or glob of images.

Each source yields ``(name, frame)`` with ``frame`` BGR uint8 [H,W,3]. Images that cannot be
read (corrupt, not an image, unsupported depth) are skipped with a warning and counted in
``skipped``; a video that stops decoding early ends with a warning in ``warnings``.
"""

from __future__ import annotations

import glob as globlib
import os
from pathlib import Path
from typing import Iterator

# FFmpeg inside OpenCV prints its own complaints about broken files; we report them in one line.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from seg.errors import SegError  # noqa: E402

cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)  # we report unreadable files ourselves


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


class Source:
    """Base: iteration yields (name, BGR frame); fps/size/count are known for videos only."""

    fps: float | None = None
    count: int | None = None
    is_video = False
    is_live = False

    def __init__(self) -> None:
        self.skipped = 0
        self.warnings: list[str] = []

    def __iter__(self) -> Iterator[tuple[str, np.ndarray]]:
        raise NotImplementedError

    def close(self) -> None:
        pass


class VideoSource(Source):
    """A video file or a live camera/stream (``live=True``: index, /dev/videoN or URL)."""

    is_video = True

    def __init__(self, spec: str | int, live: bool = False):
        super().__init__()
        self.spec, self.is_live = spec, live
        if not live and not Path(str(spec)).is_file():
            raise SegError(f"video {spec} does not exist")
        self.cap = cv2.VideoCapture(spec)
        if not self.cap.isOpened():
            what = "camera or stream" if live else "video"
            raise SegError(f"cannot open {what} {spec}" + ("" if live else " (not a video OpenCV can decode?)"))
        fps = self.cap.get(cv2.CAP_PROP_FPS)
        self.fps = fps if fps and fps > 0 and fps < 1000 else None
        n = int(self.cap.get(cv2.CAP_PROP_FRAME_COUNT))
        self.count = n if n > 0 and not live else None
        self.stem = "camera" if live else Path(str(spec)).stem

    def __iter__(self) -> Iterator[tuple[str, np.ndarray]]:
        i = 0
        while True:
            ok, frame = self.cap.read()
            if not ok or frame is None:
                break
            yield f"{self.stem}_{i:06d}", frame
            i += 1
        if self.count is not None and i < self.count:
            self.warnings.append(f"video {self.spec} stopped decoding after {i} of {self.count} frames (truncated or corrupt)")
        elif i == 0:
            self.warnings.append(f"no frame could be decoded from {self.spec}")

    def close(self) -> None:
        self.cap.release()


class ImageSource(Source):
    """A list of image files, read in order; unreadable ones are skipped and counted."""

    def __init__(self, paths: list[Path], stem: str, root: Path | None = None):
        super().__init__()
        self.paths, self.stem, self.count = paths, stem, len(paths)
        self.root = root if root is not None else Path(os.path.commonpath([str(p.parent) for p in paths]))

    def name(self, p: Path) -> str:
        """Output name: the path below the root, '/' -> '_', without suffix (a/b.jpg -> a_b)."""
        return str(p.relative_to(self.root).with_suffix("")).replace(os.sep, "_")

    def __iter__(self) -> Iterator[tuple[str, np.ndarray]]:
        for p in self.paths:
            img = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
            frame = None if img is None else to_bgr8(img)
            if frame is None:
                self.skipped += 1
                self.warnings.append(f"skipped {p}: not a readable image")
                continue
            yield self.name(p), frame


def folder_source(folder: str | os.PathLike, recursive: bool = False) -> ImageSource:
    root = Path(folder)
    if not root.is_dir():
        raise SegError(f"folder {root} does not exist")
    files = sorted(p for p in (root.rglob("*") if recursive else root.iterdir()) if p.is_file() and not p.name.startswith("."))
    if not files:
        raise SegError(f"folder {root} holds no files" + ("" if recursive else " (--recursive to look in sub-folders)"))
    return ImageSource(files, root.resolve().name, root)


def glob_source(pattern: str) -> ImageSource:
    files = sorted(Path(p) for p in globlib.glob(pattern, recursive=True) if Path(p).is_file())
    if not files:
        raise SegError(f"no file matches {pattern!r}")
    return ImageSource(files, Path(pattern).parent.name or "images")


def camera_spec(source: str) -> str | int:
    """'0' -> camera index 0; '/dev/video2', 'rtsp://...', 'http://...' as they are."""
    return int(source) if source.isdigit() else source
