"""``seg.predict``: segment a source from Python, one :class:`~seg.infer.results.Result` per frame
(torch-free). The same pipeline as ``seg run`` (decode, inference and the results in three threads,
bounded queues), the same model files, providers and variants; a generator that keeps no frame it
has already yielded, so an endless camera runs in flat memory."""

from __future__ import annotations

import os
import queue
import threading
from pathlib import Path
from typing import Iterator

from seg.infer.results import ConsumerGone, Result
from seg.infer.sources import DEFAULT_TIMEOUT_S, open_source

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")
_DONE = object()


def _open(source: str | int | os.PathLike, recursive: bool, timeout: float):
    """A video file, a folder of images, a glob, one image, or a camera (index, /dev/videoN, URL)."""
    if isinstance(source, int) or (isinstance(source, str) and (source.isdigit() or "://" in source
                                                                or source.startswith("/dev/video"))):
        return open_source(source=str(source), timeout=timeout)
    p = Path(source)
    if p.is_dir():
        return open_source(folder=p, recursive=recursive)
    if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES:
        return open_source(video=p)
    return open_source(images=str(source))  # a glob, or one image file


def predict(model: str | os.PathLike, source: str | int | os.PathLike, *, variant: str = "fp32",
            runs: str | os.PathLike = "runs", provider: str = "auto", imgsz: int | None = None,
            threads: int | None = None, frames: bool = False, max_frames: int | None = None,
            realtime: bool = False, recursive: bool = False, timeout: float = DEFAULT_TIMEOUT_S) -> Iterator[Result]:
    """Yield one :class:`Result` per frame of ``source`` segmented by ``model`` (an .onnx file, or a
    model name under ``runs`` with its ``variant``, as ``seg run --model``).

    ``source``: a video file, a folder of images, a glob (``"shots/*.jpg"``), a camera index or
    a stream URL. ``frames=True`` puts each frame in its result (for ``Result.overlay``). Stopping
    early (``break``) stops the pipeline; errors are the one-line :class:`seg.SegError`.

    >>> for r in seg.predict("runs/simple_unet/simple_unet.onnx", "cam.mp4"):
    ...     print(r.index, r.areas())
    """
    from seg.infer.pipeline import drain, offer, run_pipeline
    from seg.infer.segmenter import Segmenter
    from seg.layout import resolve_onnx, trt_cache_dir

    path = resolve_onnx(str(model), Path(runs), variant)
    src = _open(source, recursive, timeout)
    try:
        seg = Segmenter(path, provider=provider, imgsz=imgsz, threads=threads, cache_dir=trt_cache_dir(runs),
                        frame_sizes=src.frame_sizes, varying_sizes=not src.is_video)
    except BaseException:
        src.close()
        raise
    results: queue.Queue = queue.Queue(maxsize=2)  # backpressure: the pipeline waits for the caller
    closed = threading.Event()

    def sink(result: Result) -> None:
        if not offer(results, result, closed):
            raise ConsumerGone()

    def work() -> None:
        try:
            run_pipeline(seg, src, max_frames=max_frames, realtime=realtime, on_result=sink, result_frames=frames)
        except BaseException as e:  # handed to the caller's thread
            results.put(e)
        finally:
            results.put(_DONE)

    thread = threading.Thread(target=work, name="seg-predict", daemon=True)
    thread.start()
    try:
        while True:
            item = results.get()
            if item is _DONE:
                break
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        closed.set()
        drain(results, thread, timeout=None)  # the pipeline ends, then closes the source
        thread.join()
