"""Many sources, one process: ``seg run --source A --source B ...`` (torch-free).

One decode thread per source feeds its own small queue; a batcher gathers the next frame of each
file source (the latest of each live one) into one session call, pushed when the batch is full or
``timeout_ms`` after its first frame, so a slow, stalled or dead source never holds up the others
(DeepStream's ``nvstreammux`` pushes the same way; waiting for every stream, as a per-frame zip of
the sources would, lets one dead camera stall all). Frames of different model input sizes go in
separate calls. One writer thread writes each source's outputs into its own folder.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np

from seg import signals
from seg._io import atomic_path, writable_dir
from seg.errors import SegError
from seg.infer.masks import write_palette_png
from seg.infer.pipeline import Timings, drain, hand_over, open_video_writer, read_frames
from seg.infer.segmenter import Segmenter
from seg.infer.sources import Source, folder_source, VideoSource, camera_spec

MAX_SOURCES = 64
_END = object()


@dataclass
class StreamStats:
    """One source's run: frames, drops, and the latency from its frame being read to its result written."""

    name: str
    spec: str
    frames: int = 0
    dropped: int = 0
    failed: str | None = None  # why the source could not be opened or stopped with an error
    latency: Timings = field(default_factory=Timings)
    outputs: dict[str, str] = field(default_factory=dict)
    wall_s: float = 0.0

    @property
    def fps(self) -> float:
        return self.frames / self.wall_s if self.wall_s > 0 else 0.0


@dataclass
class MultiSummary:
    streams: list[StreamStats]
    wall_s: float = 0.0
    batches: int = 0
    batch_sizes: Timings = field(default_factory=Timings)
    interrupted: bool = False

    @property
    def frames(self) -> int:
        return sum(s.frames for s in self.streams)

    @property
    def fps(self) -> float:
        return self.frames / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def failed(self) -> list[StreamStats]:
        return [s for s in self.streams if s.failed]


def open_any(spec: str, timeout: float) -> Source:
    """A video file, a folder of images, or a camera/stream (index, /dev/videoN, URL)."""
    p = Path(spec)
    if p.is_dir():
        return folder_source(p)
    if p.is_file():
        return VideoSource(str(p))
    if spec.isdigit() or "://" in spec or spec.startswith("/dev/video"):
        return VideoSource(camera_spec(spec), live=True, timeout=timeout)
    raise SegError(f"source {spec} does not exist (a video file, a folder, a camera index or a stream URL)")


def open_all(specs: list[str], timeout: float) -> tuple[list[Source | None], dict[str, str]]:
    """(each source opened, or None; why each of the others could not be): every one of them
    failing is one SegError line."""
    sources, failed = [], {}
    for spec in specs:
        try:
            sources.append(open_any(spec, timeout))
        except SegError as e:
            sources.append(None)
            failed[spec] = str(e)
    if all(s is None for s in sources):
        raise SegError(f"no source could be opened: {next(iter(failed.values()))}"
                       + (f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""))
    return sources, failed


def read_source_list(specs: list[str]) -> list[str]:
    """``--source`` values, a ``.txt`` among them being a list of sources, one a line (# comments)."""
    out: list[str] = []
    for s in specs:
        if s.endswith(".txt") and Path(s).is_file():
            out += [ln.strip() for ln in Path(s).read_text().splitlines() if ln.strip() and not ln.startswith("#")]
        else:
            out.append(s)
    if len(out) > MAX_SOURCES:
        raise SegError(f"{len(out)} sources: at most {MAX_SOURCES} in one process")
    return out


def _names(specs: list[str]) -> list[str]:
    """One output folder name per source: its stem, numbered where two share one."""
    stems = ["camera" + s if s.isdigit() else (Path(s.rstrip("/")).stem or "source") for s in specs]
    return [f"{st}-{i}" if stems.count(st) > 1 else st for i, st in enumerate(stems)]


def run_many(seg: Segmenter | Sequence[Segmenter], specs: list[str], out_root: str | os.PathLike,
             masks_root: str | os.PathLike | None = None,
             batch: int = 4,
             timeout_ms: float = 20.0, max_frames: int | None = None, realtime: bool = False,
             source_timeout: float = 10.0, alpha: float = 0.5, legend: bool = False,
             warn: Callable[[str], None] = lambda m: None, opened: list[Source | None] | None = None,
             reasons: dict[str, str] | None = None) -> MultiSummary:
    """Segment every source in ``specs`` in one process: outputs in ``out_root/<source name>/``
    (an overlay video for a video or camera, overlay images for a folder) and, with ``masks_root``,
    palette PNG masks in ``masks_root/<source name>/``. A source that cannot be opened or fails is reported and the others run on;
    all of them failing is a SegError. ``seg``: one Segmenter, or several of the same model (a
    session plan of one session per core, :mod:`seg.infer.plan`): each batch goes to whichever
    is free, and each source's results are still written in its frames' order."""
    segs = [seg] if isinstance(seg, Segmenter) else list(seg)
    seg = segs[0]
    names = _names(specs)
    streams = [StreamStats(n, s) for n, s in zip(names, specs)]
    if opened is None:  # opened: what open_all gave (or a Python caller's own sources), None where one failed
        opened, reasons = open_all(specs, source_timeout)
        for spec, why in reasons.items():
            warn(f"{spec}: {why}; the other sources run on")
    sources: list[Source | None] = list(opened)
    for st, src in zip(streams, sources):
        if src is None:
            st.failed = (reasons or {}).get(st.spec, "could not be opened")
    writable_dir(out_root)
    feeds: list[queue.Queue] = [queue.Queue(maxsize=1 if (realtime or (src is not None and src.is_live)) else 2)
                                for src in sources]
    stop = threading.Event()
    results: queue.Queue = queue.Queue(maxsize=4 * max(1, batch))
    summary = MultiSummary(streams)

    def reader(i: int) -> None:
        src, st, q = sources[i], streams[i], feeds[i]
        live = realtime or src.is_live
        try:
            # a file under --realtime is paced at its own frame rate, as the camera it stands in for
            for _, name, frame, _ in read_frames(src, stop, realtime, max_frames):
                item = (name, frame, time.perf_counter())
                st.dropped += hand_over(q, item, stop, latest=live)  # live: the latest frame only
        except Exception as e:  # a source that breaks mid-run: reported, the others go on
            st.failed = f"stopped with an error: {e}"
        finally:
            q.put(_END)

    def writer() -> None:
        writers: dict[int, tuple[cv2.VideoWriter, tuple[int, int]]] = {}
        videos = contextlib.ExitStack()  # per video: released, then renamed into place (atomic_path)
        # several sessions finish batches out of order: each source's results wait for their turn
        pending: dict[int, dict[int, tuple]] = {}
        expect = [0] * len(sources)
        try:
            while True:
                item = results.get()
                if item is _END:
                    break
                pending.setdefault(item[0], {})[item[-1]] = item
                i = item[0]
                while expect[i] in pending[i]:
                    write(pending[i].pop(expect[i]), writers, videos)
                    expect[i] += 1
        finally:
            with signals.held(reraise=False):
                videos.close()  # every video finalised and in place: it plays

    def write(item: tuple, writers: dict, videos: contextlib.ExitStack) -> None:
        i, name, frame, labels, t_read, _ = item
        st, src = streams[i], sources[i]
        folder = Path(out_root) / st.name
        over = seg.overlay(frame, labels, alpha, legend)
        if src.is_video:
            if i not in writers:
                folder.mkdir(parents=True, exist_ok=True)
                final = folder / f"{st.name}.{'avi' if any(v % 2 for v in frame.shape[:2]) else 'mp4'}"
                tmp = videos.enter_context(atomic_path(final))
                writers[i] = open_video_writer(tmp, *frame.shape[1::-1], src.fps or 30.0)
                videos.callback(writers[i][0].release)
                st.outputs["video"] = str(final)
            vw, pad = writers[i]
            if any(pad):
                over = cv2.copyMakeBorder(over, 0, pad[0], 0, pad[1], cv2.BORDER_REPLICATE)
            vw.write(over)
        else:
            folder.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(folder / f"{name}.jpg"), over)
            st.outputs["overlays"] = str(folder)
        if masks_root is not None:
            mdir = Path(masks_root) / st.name
            mdir.mkdir(parents=True, exist_ok=True)
            write_palette_png(mdir / f"{name}.png", labels, seg.palette_bgr[:, ::-1])
            st.outputs["masks"] = str(mdir)
        st.frames += 1
        st.latency.add((time.perf_counter() - t_read) * 1e3)

    threads = [(i, threading.Thread(target=reader, args=(i,), daemon=True)) for i, s in enumerate(sources) if s is not None]
    wr = threading.Thread(target=writer, name="seg-encode", daemon=True)
    t0 = time.perf_counter()
    live = {i for i, s in enumerate(sources) if s is not None}
    taken = [0] * len(sources)
    nxt = 0  # round-robin start, so every source gets the batch's first place in turn
    # One session: the batcher runs each batch itself. Several: a worker per session takes the
    # next batch while the others run theirs. The batcher gathers only when a worker is free, so
    # frames wait in their sources' queues (a live source's replaced by newer ones), never in a
    # queue of batches: latency stays one batch's time, not a backlog's.
    work: queue.Queue = queue.Queue()
    free = threading.Semaphore(len(segs))
    failures: list[BaseException] = []

    def worker(k: int) -> None:
        while (g := work.get()) is not _END:
            try:
                _infer_batch(segs[k], g, results)
            except BaseException as e:  # noqa: BLE001  handed to the batcher, which raises it
                failures.append(e)
                stop.set()
                return
            finally:
                free.release()

    workers = [threading.Thread(target=worker, args=(k,), name=f"seg-session-{k}", daemon=True)
               for k in range(len(segs))] if len(segs) > 1 else []
    try:
        # started inside the try: a signal during a start still stops every thread before a source
        # is closed (closing a capture under its decoding thread can abort FFmpeg)
        for t in [t for _, t in threads] + [wr] + workers:
            t.start()
        while live:
            while workers and not signals.acquire(free, 0.05):  # a session to run the batch on
                if failures:
                    raise failures[0]
            gathered: list[tuple[int, tuple]] = []
            deadline = None
            while live and len(gathered) < batch:
                took = False
                order = sorted(live, key=lambda i: (i - nxt) % len(sources))
                for i in order:
                    if len(gathered) >= batch or any(g[0] == i for g in gathered):
                        continue
                    try:
                        with signals.held():  # never inside the queue's lock (seg.signals.get)
                            item = feeds[i].get_nowait()
                    except queue.Empty:
                        continue
                    if item is _END:
                        live.discard(i)
                        streams[i].wall_s = time.perf_counter() - t0
                        continue
                    gathered.append((i, (*item, taken[i])))  # numbered as taken: a live source's drops leave no gap
                    taken[i] += 1
                    took = True
                    deadline = deadline or time.perf_counter() + timeout_ms / 1e3
                if len(gathered) >= batch or (deadline is not None and time.perf_counter() >= deadline):
                    break  # full, or the first frame has waited long enough: push
                if not took:
                    time.sleep(0.001)
            if not gathered:
                if workers:
                    free.release()
                continue
            nxt = (gathered[0][0] + 1) % len(sources)
            if workers:
                signals.put(work, gathered)
            else:
                _infer_batch(seg, gathered, results)
            summary.batches += 1
            summary.batch_sizes.add(len(gathered))
        if failures:  # a session failed while the sources were ending
            raise failures[0]
    except KeyboardInterrupt:  # Ctrl-C, SIGTERM, SIGHUP: finish the outputs
        summary.interrupted = True
    finally:
        with signals.held(reraise=False):
            stop.set()
            for i, t in threads:  # the readers end: stopped, or their sources did
                if t.ident is not None:
                    drain(feeds[i], t)
            started = [w for w in workers if w.ident is not None]
            for _ in started:  # each worker ends after the batches before its end marker
                work.put(_END)
            for w in started:
                w.join()
            results.put(_END)
            if wr.ident is not None:
                wr.join()
            reading = {i for i, t in threads if t.is_alive()}  # still inside a read after the drain's wait
            for i, s in enumerate(sources):
                if s is not None and i not in reading:
                    s.close()
            summary.wall_s = time.perf_counter() - t0
            for st in streams:
                st.wall_s = st.wall_s or summary.wall_s
    summary.interrupted = summary.interrupted or signals.received is not None
    return summary


def _infer_batch(seg: Segmenter, gathered: list[tuple[int, tuple]], results: queue.Queue) -> None:
    """One session call per model input shape among the gathered frames; results in gathering order."""
    inputs = [(i, item, seg.preprocess(item[1])) for i, item in gathered]
    by_shape: dict[tuple, list[int]] = {}
    for k, (_, _, x) in enumerate(inputs):
        by_shape.setdefault(x.shape, []).append(k)
    labels: dict[int, np.ndarray] = {}
    for ks in by_shape.values():
        out = seg.infer(np.concatenate([inputs[k][2] for k in ks]))
        for j, k in enumerate(ks):
            labels[k] = seg.postprocess(out[j:j + 1], inputs[k][1][1].shape[:2])
    for k, (i, (name, frame, t_read, seq), _) in enumerate(inputs):
        signals.put(results, (i, name, frame, labels[k], t_read, seq))  # the batcher's thread, or a session's
