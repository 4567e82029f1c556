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
from seg.images import read_bgr, shown_size  # noqa: E402

cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)  # we report unreadable files ourselves

# How long a live source may take to connect, and to deliver each frame, before seg gives up on
# it (OpenCV's FFmpeg default is 30 s of silence). `seg run --timeout` changes it.
DEFAULT_TIMEOUT_S = 10.0


class Source:
    """Base: iteration yields (name, BGR frame); fps/size/count are known for videos only."""

    fps: float | None = None
    count: int | None = None
    size: tuple[int, int] = (0, 0)  # (width, height) of a video's frames; (0, 0) where unknown
    is_video = False
    is_live = False

    def __init__(self) -> None:
        self.skipped = 0
        self.skipped_paths: list[Path] = []  # image files that could not be read
        self.warnings: list[str] = []

    def __iter__(self) -> Iterator[tuple[str, np.ndarray]]:
        raise NotImplementedError

    def frame_sizes(self) -> list[tuple[int, int]]:
        """(H, W) of the frames to come where that is known before reading them ([] where not):
        what TensorRT's shape profile must cover."""
        return [(self.size[1], self.size[0])] if all(self.size) else []

    def close(self) -> None:
        pass


class VideoSource(Source):
    """A video file or a live camera/stream (``live=True``: index, /dev/videoN or URL).

    A live source gets ``timeout`` seconds to connect and to deliver each frame (OpenCV's
    FFmpeg backend honours both for streams); one that stops sending ends the run with a
    warning, one that never sends is an error.
    """

    is_video = True

    def __init__(self, spec: str | int, live: bool = False, timeout: float = DEFAULT_TIMEOUT_S):
        super().__init__()
        self.spec, self.is_live, self.timeout = spec, live, timeout
        if not live:
            p = Path(str(spec))
            if p.is_dir():
                raise SegError(f"video {spec} is a folder (use --folder for a folder of images)")
            if not p.is_file():
                raise SegError(f"video {spec} does not exist")
        ms = int(timeout * 1000)
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms] if live else []
        # OpenCV logs its own "[ERROR:0@...] camera index out of range" lines; we say it in one line.
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
        try:
            self.cap = cv2.VideoCapture(spec, cv2.CAP_ANY, params)
        finally:
            cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
        if not self.cap.isOpened():
            what = "camera or stream" if live else "video"
            why = f" (nothing within {timeout:g} s, or no such device)" if live else " (not a video OpenCV can decode?)"
            raise SegError(f"cannot open {what} {spec}{why}")
        fps = self.cap.get(cv2.CAP_PROP_FPS)
        self.fps = fps if fps and fps > 0 and fps < 1000 else None
        n = int(self.cap.get(cv2.CAP_PROP_FRAME_COUNT))
        self.count = n if n > 0 and not live else None
        self.size = (int(self.cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(self.cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        self.stem = "camera" if live else Path(str(spec)).stem

    def __iter__(self) -> Iterator[tuple[str, np.ndarray]]:
        i = 0
        while True:
            ok, frame = self.cap.read()
            if not ok or frame is None:
                break
            yield f"{self.stem}_{i:06d}", frame
            i += 1
        if self.is_live:
            if i == 0:
                self.warnings.append(f"no frame from {self.spec} within {self.timeout:g} s")
            else:
                self.warnings.append(f"{self.spec} stopped sending after {i} frames (closed, or nothing for "
                                     f"{self.timeout:g} s: --timeout)")
        elif self.count is not None and i < self.count:
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
        self.names = _output_names(paths, self.root)

    def frame_sizes(self) -> list[tuple[int, int]]:
        """Each readable image's (H, W), from its header alone (Pillow opens files lazily)."""
        return [s for s in map(shown_size, self.paths) if s is not None]  # unreadable: skipped when reached

    def __iter__(self) -> Iterator[tuple[str, np.ndarray]]:
        for p, name in zip(self.paths, self.names):
            frame = read_bgr(p)
            if frame is None:
                self.skipped += 1
                self.skipped_paths.append(p)
                self.warnings.append(f"skipped {p}: not a readable image")
                continue
            yield name, frame


def _output_names(paths: list[Path], root: Path) -> list[str]:
    """One output name per input: the path below ``root`` with '/' -> '_' and no suffix
    (a/b.jpg -> a_b); where two inputs would share a name (x.jpg, x.png) each keeps its suffix
    (x_jpg, x_png), so no output overwrites another."""
    stems = [str(p.relative_to(root).with_suffix("")).replace(os.sep, "_") for p in paths]
    taken = {s for s in stems if stems.count(s) > 1}
    return [f"{s}_{p.suffix.lstrip('.')}" if s in taken else s for s, p in zip(stems, paths)]


def folder_source(folder: str | os.PathLike, recursive: bool = False) -> ImageSource:
    root = Path(folder)
    if root.is_file():
        raise SegError(f"folder {root} is a file (use --video for a video, --images for a glob)")
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


def source_stem(video: str | os.PathLike | None = None, source: str | None = None,
                folder: str | os.PathLike | None = None, images: str | None = None) -> str:
    """The name a source's outputs are filed under, known before the source is opened."""
    if video is not None:
        return Path(video).stem
    if source is not None:
        return "camera"
    if folder is not None:
        return Path(folder).resolve().name
    return Path(str(images)).parent.name or "images"


def open_source(video: str | os.PathLike | None = None, source: str | None = None,
                folder: str | os.PathLike | None = None, images: str | None = None, recursive: bool = False,
                timeout: float = DEFAULT_TIMEOUT_S) -> Source:
    """Exactly one of a video file, a camera/stream (index, /dev/videoN, URL), a folder or a glob."""
    given = [x for x in (video, source, folder, images) if x is not None]
    if len(given) != 1:
        raise SegError("pass exactly one of --video, --source, --folder, --images")
    if video is not None:
        return VideoSource(str(video))
    if source is not None:
        return VideoSource(camera_spec(source), live=True, timeout=timeout)
    if folder is not None:
        return folder_source(folder, recursive)
    return glob_source(str(images))
