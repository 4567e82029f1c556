"""The pipelined ``seg run`` loop: decode -> (pre, infer, post) -> overlay/encode in three
threads joined by bounded queues, so end-to-end FPS approaches the model's own.

OpenCV's decode/encode and ONNX Runtime's run release the GIL, so the stages truly overlap.
With ``realtime`` (cameras) the decode queue holds one frame and a new frame replaces an
unprocessed one: the output lags by at most one frame instead of drifting behind. A video file
under ``realtime`` is paced at its own frame rate, as the camera it stands in for.
"""

from __future__ import annotations

import os
import queue
import random
from signal import SIGINT
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np

from seg import signals
from seg._io import atomic_path, writable_dir
from seg.errors import SegError
from seg.infer.masks import write_palette_png
from seg.infer.results import ConsumerGone, Result
from seg.infer.segmenter import Segmenter
from seg.infer.sources import Source

STAGES = ("decode", "pre", "infer", "post", "encode")
_END = object()


class Timings:
    """One stage's milliseconds in constant memory, for sources that never end: count, mean and
    max exact; percentiles from a uniform sample of at most ``CAP`` values (reservoir sampling with
    a fixed seed, so a run's report is reproducible). A list of every time grew ~300 bytes a frame."""

    CAP = 4096

    def __init__(self) -> None:
        self.n, self.total, self.max = 0, 0.0, 0.0
        self.sample: list[float] = []
        self._rng = random.Random(0)

    def add(self, ms: float) -> None:
        self.n += 1
        self.total += ms
        self.max = max(self.max, ms)
        if len(self.sample) < self.CAP:
            self.sample.append(ms)
        elif (j := self._rng.randrange(self.n)) < self.CAP:
            self.sample[j] = ms

    def __len__(self) -> int:
        return self.n

    def stats(self) -> dict[str, float]:
        p50, p95 = np.percentile(self.sample, [50, 95])
        return {"mean": self.total / self.n, "p50": float(p50), "p95": float(p95), "max": self.max, "n": self.n}


@dataclass
class Summary:
    """What a run did: frames, skips, warnings, wall time and per-stage milliseconds."""

    frames: int = 0
    skipped: int = 0
    dropped: int = 0
    wall_s: float = 0.0
    interrupted: bool = False
    consumer_gone: bool = False  # the reader of --save-json or of seg.predict stopped reading
    provider: str = ""
    warnings: list[str] = field(default_factory=list)
    ms: dict[str, Timings] = field(default_factory=lambda: {s: Timings() for s in STAGES})
    outputs: dict[str, str] = field(default_factory=dict)

    @property
    def fps(self) -> float:
        return self.frames / self.wall_s if self.wall_s > 0 else 0.0

    def stage_stats(self) -> dict[str, dict[str, float]]:
        return {s: v.stats() for s, v in self.ms.items() if v}


def open_video_writer(path: str | os.PathLike, width: int, height: int, fps: float) -> tuple[cv2.VideoWriter, tuple[int, int]]:
    """(writer, (pad bottom, pad right)) for a video of ``width`` x ``height``.

    OpenCV's FFmpeg writers silently crop odd sizes (4:2:0 chroma needs even ones), so: .avi is
    written by OpenCV's own MJPEG writer, which keeps any size; .mp4 (MPEG-4) gets frames padded
    by one pixel where a side is odd, and the caller says so."""
    if Path(path).suffix.lower() == ".avi":
        vw = cv2.VideoWriter(str(path), cv2.CAP_OPENCV_MJPEG, cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
        pad = (0, 0)
    else:
        pad = (height % 2, width % 2)
        vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width + pad[1], height + pad[0]))
    if not vw.isOpened():
        raise SegError(f"OpenCV cannot write the video {path}")
    return vw, pad


def read_frames(source: Source, stop: threading.Event, realtime: bool = False,
                max_frames: int | None = None) -> Iterator[tuple[int, str, np.ndarray, float]]:
    """(index, name, frame, decode ms) of ``source`` until it ends, ``stop`` is set or ``max_frames``.
    A video file under ``realtime`` stands in for the camera it was recorded with: its frames are
    released at its own frame rate, so frames drop only when the model falls behind that clock
    (read as fast as it decodes, a 500-frame file dropped 490)."""
    pace = 1.0 / source.fps if realtime and source.is_video and not source.is_live and source.fps else None
    it = iter(source)
    start = time.perf_counter()
    n = 0
    while not stop.is_set() and (max_frames is None or n < max_frames):
        t = time.perf_counter()
        try:
            name, frame = next(it)
        except StopIteration:
            return
        decode_ms = (time.perf_counter() - t) * 1e3
        if pace is not None and (delay := start + n * pace - time.perf_counter()) > 0:
            stop.wait(delay)
        yield n, name, frame, decode_ms
        n += 1


def drain(q: queue.Queue, producer: threading.Thread, timeout: float | None = 5.0) -> None:
    """Empty ``q`` until ``producer`` has ended (or ``timeout`` s): a producer blocked on the full
    queue, with a last frame or its end marker, gets room. Emptying it once was not enough: a reader
    could put one more frame, then block on its end marker until a join timed out (5 s a source)."""
    deadline = None if timeout is None else time.perf_counter() + timeout
    while producer.is_alive() and (deadline is None or time.perf_counter() < deadline):
        try:
            q.get(timeout=0.05)
        except queue.Empty:
            pass


def offer(q: queue.Queue, item, stop: threading.Event) -> bool:
    """Put ``item`` into the bounded ``q``, waiting for room until ``stop`` is set; whether it went in."""
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def hand_over(q: queue.Queue, item, stop: threading.Event, latest: bool = False) -> bool:
    """A reader's frame into its queue: with ``latest`` (live sources, --realtime) it replaces a frame
    nobody has taken yet, and True says one was dropped; else it waits for room (:func:`offer`)."""
    if not latest:
        offer(q, item, stop)
        return False
    try:
        q.get_nowait()
        dropped = True
    except queue.Empty:
        dropped = False
    q.put(item)
    return dropped


def _check_something_processed(summary: Summary, source: Source, consequence: str) -> None:
    """A run that segmented no frame failed, whatever the reason: say why in one line."""
    if summary.frames or summary.interrupted:
        return
    if source.skipped_paths:
        why = f"none of the {source.skipped} files could be read as an image (e.g. {source.skipped_paths[0]})"
    else:
        why = source.warnings[0] if source.warnings else "the source gave no frame"
    raise SegError(f"no frame was processed: {why}; {consequence}")


class _Stages:
    """One run's three stages, sharing its queues, stop event, errors and summary: ``decode``
    (a thread: source -> q_in), ``segment`` (the caller's thread: pre, infer, post -> q_out) and
    ``encode`` (a thread: q_out -> results, overlays, masks, video). :meth:`run` starts and joins
    them; every error is kept in ``errors`` and raised in the main thread by :func:`run_pipeline`."""

    def __init__(self, seg: Segmenter, source: Source, summary: Summary, *, out_dir, masks_dir, alpha: float,
                 legend: bool, show: bool, max_frames: int | None, realtime: bool, queue_size: int,
                 on_frame: Callable[[int], None] | None, on_result: Callable[[Result], None] | None,
                 result_frames: bool) -> None:
        self.seg, self.source, self.summary = seg, source, summary
        self.out_dir, self.masks_dir, self.alpha, self.legend, self.show = out_dir, masks_dir, alpha, legend, show
        self.max_frames, self.realtime = max_frames, realtime
        self.on_frame, self.on_result, self.result_frames = on_frame, on_result, result_frames
        self.q_in: queue.Queue = queue.Queue(maxsize=1 if realtime else queue_size)
        self.q_out: queue.Queue = queue.Queue(maxsize=queue_size)
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.paths = dict(zip(source.names, map(str, source.paths))) if hasattr(source, "names") else {}
        spec = getattr(source, "spec", None)
        self.spec = str(spec if spec is not None else getattr(source, "root", ""))
        self.video, self.pad = None, (0, 0)  # the overlay video's writer, opened at the first frame

    def decode(self) -> None:
        """Frames of the source into q_in (the newest only, under ``realtime``), then the end marker."""
        source = self.source
        try:
            for n, name, frame, decode_ms in read_frames(source, self.stop, self.realtime, self.max_frames):
                # the frame's time: the video's own clock for files, wall time for live sources
                clock = time.time() if source.is_live else (n / source.fps if source.is_video and source.fps else None)
                self.summary.dropped += hand_over(self.q_in, (name, frame, decode_ms, n, clock), self.stop,
                                                  latest=self.realtime)
        except BaseException as e:  # surfaced in the main thread
            self.errors.append(e)
        finally:
            self.q_in.put(_END)

    def segment(self) -> None:
        """q_in -> pre, infer, post -> q_out until the end marker or an error, timing each step."""
        seg, ms = self.seg, self.summary.ms
        while True:
            item = signals.get(self.q_in)  # in the main thread: a signal never lands inside the queue's lock
            if item is _END or self.errors:
                return
            name, frame, decode_ms, index, clock = item
            t1 = time.perf_counter()
            x = seg.preprocess(frame)
            t2 = time.perf_counter()
            logits = seg.infer(x)
            t3 = time.perf_counter()
            labels = seg.postprocess(logits, frame.shape[:2])
            t4 = time.perf_counter()
            for stage, v in zip(STAGES, (decode_ms, (t2 - t1) * 1e3, (t3 - t2) * 1e3, (t4 - t3) * 1e3)):
                ms[stage].add(v)
            signals.put(self.q_out, (name, frame, labels, index, clock))
            self.summary.frames += 1
            if self.on_frame is not None:
                self.on_frame(self.summary.frames)

    def encode(self, video_path: Path | None) -> None:
        """q_out -> each frame's outputs until the end marker. After a failure (or the results'
        reader going away) it still drains q_out, so :meth:`segment` never blocks on it."""
        dead = False
        try:
            while (item := self.q_out.get()) is not _END:
                if dead:
                    continue
                t = time.perf_counter()
                try:
                    self._emit(item, video_path)
                except ConsumerGone:  # the reader of the results went away: end as the source would
                    self.summary.consumer_gone = dead = True
                    self.stop.set()
                    continue
                self.summary.ms["encode"].add((time.perf_counter() - t) * 1e3)
        except BaseException as e:
            self.errors.append(e)
            self.stop.set()
            while self.q_out.get() is not _END:  # drain: the segment stage may still be putting frames
                pass
        finally:
            if self.video is not None:
                self.video.release()  # writes the moov atom: the file plays even after Ctrl-C

    def _emit(self, item, video_path: Path | None) -> None:
        """One frame's outputs: its Result, overlay video frame and image, mask, window."""
        seg = self.seg
        name, frame, labels, index, clock = item
        if self.on_result is not None:
            self.on_result(Result(labels, seg.class_names, seg.meta["palette"], self.spec, index, name, seg.path, clock,
                                  self.paths.get(name), frame if self.result_frames else None))
        over = seg.overlay(frame, labels, self.alpha, self.legend) if (video_path or self.out_dir or self.show) else None
        if video_path is not None:
            if self.video is None:
                self.video, self.pad = open_video_writer(video_path, *frame.shape[1::-1], self.source.fps or 30.0)
                if any(self.pad):
                    h, w = frame.shape[:2]
                    self.summary.warnings.append(
                        f"the mp4 encoder needs even sizes: the {w}x{h} overlay video is padded to "
                        f"{w + self.pad[1]}x{h + self.pad[0]} (an .avi --out keeps {w}x{h})")
            if any(self.pad):
                over = cv2.copyMakeBorder(over, 0, self.pad[0], 0, self.pad[1], cv2.BORDER_REPLICATE)
            self.video.write(over)
        if self.out_dir is not None:
            cv2.imwrite(str(Path(self.out_dir) / f"{name}.jpg"), over)
        if self.masks_dir is not None:
            write_palette_png(Path(self.masks_dir) / f"{name}.png", labels, seg.palette_bgr[:, ::-1])
        if self.show:
            cv2.imshow("seg", over)
            if cv2.waitKey(1) & 0xFF in (27, ord("q")):
                self.stop.set()

    def settle(self) -> None:
        """After :meth:`run`: a signal received counts as an interruption; a stage's error is raised."""
        self.summary.interrupted = self.summary.interrupted or signals.received is not None
        if self.errors:
            raise self.errors[0]

    def run(self, video_path: Path | None) -> None:
        """decode and encode in threads, segment here; Ctrl-C (SIGTERM, SIGHUP) ends it with what
        is written finalised."""
        rd = threading.Thread(target=self.decode, name="seg-decode", daemon=True)
        wr = threading.Thread(target=self.encode, args=(video_path,), name="seg-encode", daemon=True)
        t0 = time.perf_counter()
        try:
            # started inside the try: a signal during a start still stops the reader before the
            # source is closed (closing it under a decoding thread aborted FFmpeg: exit -6)
            rd.start()
            wr.start()
            self.segment()
        except KeyboardInterrupt:  # Ctrl-C, SIGTERM, SIGHUP (seg.signals): finish what is written
            self.summary.interrupted = True
        finally:
            with signals.held(reraise=False):  # a signal now must not cut the video's finalisation
                self.stop.set()
                if rd.ident is not None:
                    drain(self.q_in, rd)  # the reader ends: it was stopped, or the source did
                self.q_out.put(_END)
                if wr.ident is not None:
                    wr.join()
                self.summary.wall_s = time.perf_counter() - t0
                if self.show:
                    cv2.destroyAllWindows()


def run_pipeline(
    seg: Segmenter,
    source: Source,
    out_video: str | os.PathLike | None = None,
    out_dir: str | os.PathLike | None = None,
    masks_dir: str | os.PathLike | None = None,
    alpha: float = 0.5,
    legend: bool = False,
    show: bool = False,
    max_frames: int | None = None,
    realtime: bool = False,
    on_frame: Callable[[int], None] | None = None,
    queue_size: int = 4,
    on_result: Callable[[Result], None] | None = None,
    result_frames: bool = False,
) -> Summary:
    """Segment every frame of ``source``; write an overlay video (``out_video``) or overlay
    images (``out_dir``) and palette PNG masks (``masks_dir``); hand each frame's
    :class:`~seg.infer.results.Result` to ``on_result`` (in order, with the frame itself when
    ``result_frames``). Ctrl-C stops reading, finishes and closes the outputs (the video still
    plays), and returns with ``interrupted=True``; ``on_result`` raising ConsumerGone ends the run
    as the source ending would (``consumer_gone``)."""
    summary = Summary(provider=seg.provider)
    for d in (out_dir, masks_dir):
        if d is not None:
            writable_dir(d)
    if out_video is not None:
        writable_dir(Path(out_video).parent)
    stages = _Stages(seg, source, summary, out_dir=out_dir, masks_dir=masks_dir, alpha=alpha, legend=legend,
                     show=show, max_frames=max_frames, realtime=realtime, queue_size=queue_size, on_frame=on_frame,
                     on_result=on_result, result_frames=result_frames)

    try:
        if out_video is not None:
            with atomic_path(out_video) as tmp:
                stages.run(tmp)
                stages.settle()
                if summary.interrupted and not tmp.exists():  # stopped before the first frame was written
                    raise signals.Stopped(signals.received or SIGINT)
                _check_something_processed(summary, source, "no video written")
            summary.outputs["video"] = str(out_video)
        else:
            stages.run(None)
            stages.settle()
            _check_something_processed(summary, source, "nothing written")
    finally:
        source.close()
    summary.skipped = source.skipped
    summary.warnings = list(source.warnings) + summary.warnings  # the source's, then the writer's
    for key, d in (("overlays", out_dir), ("masks", masks_dir)):
        if d is not None:
            summary.outputs[key] = str(d)
    return summary
