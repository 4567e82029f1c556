"""``seg batch``: segment an archive on a Ray cluster (the ``seg-onnx[ray]`` extra; torch-free).

Ray Data does the scheduling, retries and nodes; seg brings the work and the model:

    inputs (folder trees, globs, videos) -> work items: one per photo, one per video file
        -> ray.data.from_items -> map_batches(SegmentActor, compute=ActorPoolStrategy)
           each actor opens the .onnx once (a Segmenter) and writes masks (and overlays) itself
        -> rows back to this process -> the manifest (JSON lines), written as they arrive

A video is one task: its frames are read in order by one actor (OpenCV's seeking is not frame
exact), so the parallelism is across files. Outputs keep the inputs' relative paths:
``<out>/<rel>.png`` for a photo, ``<out>/<rel without suffix>/<frame:06d>.png`` for a video's frames.
Resumable: what the manifest holds as done is skipped; rows of failed items are dropped from it
before they are tried again, so every input appears once. A row comes back only when its task
has finished, and the manifest takes each (source, index) once, so a task that Ray retries on
another node (a node lost mid-run) adds no duplicate.
"""

from __future__ import annotations

import contextlib
import glob as globlib
import json
import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from seg.errors import SegError

MANIFEST = "manifest.jsonl"
INSTALL_HINT = 'seg batch needs Ray: pip install "seg-onnx[ray]"'


@dataclass
class BatchSummary:
    items: int = 0  # work items this run (photos + videos), after skipping what was done
    skipped: int = 0  # rows already in the manifest
    rows: int = 0  # rows written this run (one per photo or video frame)
    failed: int = 0
    wall_s: float = 0.0
    startup_s: float = 0.0
    manifest: str = ""


def _is_glob(s: str) -> bool:
    return any(c in s for c in "*?[")


def collect(inputs: Iterable[str]) -> list[dict[str, Any]]:
    """Work items ``{"kind": "image"|"video", "path", "rel"}`` for folder trees (every image and
    video below), globs and files; ``rel`` is the path below the input's root (a folder, a glob's
    fixed part, a file's folder), prefixed by the root's name where several inputs are given."""
    from seg.data.folder import IMAGE_SUFFIXES, VIDEO_SUFFIXES

    inputs = list(inputs)
    items: list[dict[str, Any]] = []
    for spec in inputs:
        p = Path(spec)
        if _is_glob(spec):
            root = Path(*[part for part in Path(spec).parts if not _is_glob(part)][:-1] or ["."])
            files = sorted(Path(f) for f in globlib.glob(spec, recursive=True) if Path(f).is_file())
            if not files:
                raise SegError(f"no file matches {spec!r}")
        elif p.is_dir():
            root, files = p, sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith("."))
        elif p.is_file():
            root, files = p.parent, [p]
        else:
            raise SegError(f"input {spec} does not exist (a folder, a glob or a file)")
        prefix = Path(root.resolve().name) if len(inputs) > 1 else Path()
        for f in files:
            kind = "image" if f.suffix.lower() in IMAGE_SUFFIXES else "video" if f.suffix.lower() in VIDEO_SUFFIXES else None
            if kind:
                items.append({"kind": kind, "path": str(f.resolve()), "rel": str(prefix / f.relative_to(root))})
    if not items:
        raise SegError(f"no image or video in {', '.join(inputs)}")
    seen: set[str] = set()
    for it in items:  # two inputs with one root name (a/x/1.jpg, b/x/1.jpg): numbered, never overwritten
        base, k = it["rel"], 1
        while it["rel"] in seen:
            it["rel"], k = f"{Path(base).parent / Path(base).stem}-{k}{Path(base).suffix}", k + 1
        seen.add(it["rel"])
    return items


def mask_path(rel: str, kind: str, index: int) -> str:
    """Where a photo's or a video frame's mask goes, relative to ``--out``."""
    return str(Path(rel).with_suffix(".png")) if kind == "image" else str(Path(rel).with_suffix("") / f"{index:06d}.png")


def read_manifest(path: Path) -> tuple[set[tuple[str, int]], list[dict]]:
    """(the (source, index) pairs done, the rows that are kept: every ok row, once)."""
    done, kept = set(), []
    if not path.is_file():
        return done, kept
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except ValueError:  # a line cut by a crash mid-write: that item is done again
            continue
        key = (row.get("source"), row.get("index"))
        if row.get("status") == "ok" and key not in done:
            done.add(key)
            kept.append(row)
    return done, kept


class SegmentActor:
    """One Ray actor: the model opened once, items in, manifest rows out (as columns)."""

    def __init__(self, model: str, out: str, overlays: bool, batch: int, provider: str, threads: int | None):
        from seg.infer import Segmenter

        self.seg = Segmenter(model, provider=provider, threads=threads, varying_sizes=True)
        self.out, self.overlays, self.batch = Path(out), overlays, batch

    def __call__(self, items: dict[str, np.ndarray]) -> dict[str, list]:
        rows: list[dict] = []
        images = []
        for kind, path, rel, skip in zip(items["kind"], items["path"], items["rel"], items["skip"]):
            if kind == "image":
                images.append((str(path), str(rel)))
            else:
                rows += self._video(str(path), str(rel), set(json.loads(str(skip))))
        for k in range(0, len(images), self.batch):
            rows += self._images(images[k:k + self.batch])
        return {key: [r[key] for r in rows] for key in ("source", "index", "output", "pixels", "status", "error")}

    def _frames(self, frames: list[tuple[str, int, np.ndarray]], kind: str) -> list[dict]:
        """Segment frames (rel, index, BGR) in session batches of one shape; write their outputs."""
        rows = []
        by_shape: dict[tuple, list[int]] = {}
        for k, (_, _, f) in enumerate(frames):
            by_shape.setdefault(f.shape, []).append(k)
        labels: dict[int, np.ndarray] = {}
        for ks in by_shape.values():
            out = self.seg.infer(np.concatenate([self.seg.preprocess(frames[k][2]) for k in ks]))
            for j, k in enumerate(ks):
                labels[k] = self.seg.postprocess(out[j:j + 1], frames[k][2].shape[:2])
        for k, (rel, index, frame) in enumerate(frames):
            rows.append(self._write(rel, kind, index, frame, labels[k]))
        return rows

    def _write(self, rel: str, kind: str, index: int, frame: np.ndarray, labels: np.ndarray) -> dict:
        import cv2

        from seg._io import atomic_path
        from seg.infer.masks import write_palette_png

        out = mask_path(rel, kind, index)
        target = self.out / out
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(target) as tmp:  # a retried task rewrites the same file whole
            write_palette_png(tmp, labels, self.seg.palette_bgr[:, ::-1])
        if self.overlays:
            over = self.out / "overlays" / Path(out).with_suffix(".jpg")
            over.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(over) as tmp:  # the temporary name keeps .jpg: OpenCV picks the format from it
                cv2.imwrite(str(tmp), self.seg.overlay(frame, labels))
        counts = np.bincount(labels.ravel(), minlength=len(self.seg.class_names))
        pixels = {self.seg.class_names[c]: int(n) for c, n in enumerate(counts) if n and c < len(self.seg.class_names)}
        return {"source": rel, "index": index, "output": out, "pixels": json.dumps(pixels), "status": "ok", "error": ""}

    def _images(self, items: list[tuple[str, str]]) -> list[dict]:
        from seg.images import read_bgr

        frames, rows = [], []
        for path, rel in items:
            try:
                frame = read_bgr(path)
            except Exception as e:  # noqa: BLE001  one bad file is a failed row, not a failed task
                frame, why = None, str(e)
            else:
                why = "not a readable image"
            if frame is None:
                rows.append(_failed(rel, 0, why))
            else:
                frames.append((rel, 0, frame))
        return rows + self._frames(frames, "image")

    def _video(self, path: str, rel: str, skip: set[int]) -> list[dict]:
        from seg.infer.sources import VideoSource

        try:
            src = VideoSource(path)
        except SegError as e:
            return [_failed(rel, 0, str(e))]
        rows, pending = [], []
        try:
            for index, (_, frame) in enumerate(src):
                if index in skip:
                    continue
                pending.append((rel, index, frame))
                if len(pending) >= self.batch:
                    rows += self._frames(pending, "video")
                    pending = []
            rows += self._frames(pending, "video")
        finally:
            src.close()
        return rows


def _failed(rel: str, index: int, why: str) -> dict:
    return {"source": rel, "index": index, "output": "", "pixels": "{}", "status": "failed", "error": why}


def check_address(address: str | None, timeout: float = 5.0) -> None:
    """An unreachable ``HOST:PORT`` is one line within ``timeout`` s (ray.init would retry for minutes)."""
    if not address or address in ("auto", "local"):
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise SegError(f"--ray-address {address}: give auto, HOST:PORT or ray://HOST:PORT")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except (OSError, ValueError) as e:
        raise SegError(f"--ray-address {address}: cannot reach it within {timeout:g} s ({e}); start a cluster "
                       "with `ray start --head`, or leave --ray-address out for a local Ray") from None


def run_batch(model: str | os.PathLike, inputs: list[str], out: str | os.PathLike, *, address: str | None = None,
              actors: int = 2, batch: int = 4, cpus_per_actor: float | None = None, gpus_per_actor: float = 0.0,
              overlays: bool = False, provider: str = "auto", threads: int | None = None,
              on_rows: Callable[[int, int], None] = lambda done, total: None,
              log: Callable[[str], None] = lambda m: None) -> BatchSummary:
    """Segment ``inputs`` with ``model`` on Ray (``address``: ``auto``, ``HOST:PORT`` or None for a
    local Ray), masks under ``out``, the manifest ``out/manifest.jsonl`` written as rows arrive.
    ``cpus_per_actor`` defaults to a fraction that leaves room for Ray's own tasks (whole CPUs
    for every actor on a small node hung the pipeline). ``on_rows(done, total)``: progress."""
    import time

    # Ray's own log lines (C++ and Python) would bury seg's: errors only, unless the user set them
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
    try:
        import ray
        import ray.data
    except ImportError:
        raise SegError(INSTALL_HINT) from None
    import logging

    for name in ("ray", "ray.data"):
        logging.getLogger(name).setLevel(logging.ERROR)
    from seg._io import atomic_path, writable_dir

    t0 = time.perf_counter()
    model = str(Path(model).resolve())
    items = collect(inputs)
    writable_dir(out)
    out = Path(out).resolve()
    manifest = out / MANIFEST
    done, kept = read_manifest(manifest)
    with atomic_path(manifest) as tmp:  # failed rows and torn lines out: they are tried again
        tmp.write_text("".join(json.dumps(r) + "\n" for r in kept))
    todo = []
    total = 0
    for it in items:
        if it["kind"] == "image":
            if (it["rel"], 0) not in done:
                todo.append({**it, "skip": "[]"})
                total += 1
        else:
            skip = sorted(i for (s, i) in done if s == it["rel"])
            n = _frame_count(it["path"])
            if n is None or len(skip) < n:
                todo.append({**it, "skip": json.dumps(skip)})
                total += (n - len(skip)) if n else 1
    summary = BatchSummary(items=len(todo), skipped=len(kept), manifest=str(manifest))
    on_rows(0, total)  # the bar's length from the start, not from the first rows
    if not todo:
        log(f"nothing to do: the manifest holds all {len(kept)} rows")
        return summary
    check_address(address)
    if not ray.is_initialized():
        try:
            with _stderr_silenced():  # its C++ logging announces the level it was set to, on stderr
                ray.init(address=None if address in (None, "local") else address, include_dashboard=False,
                         log_to_driver=False, logging_level="ERROR", configure_logging=True)
        except (ConnectionError, RuntimeError) as e:
            raise SegError(f"--ray-address {address}: {str(e).strip().splitlines()[0]}") from None
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False  # seg draws its own bar
    ctx.print_on_execution_start = False
    cpus = cpus_per_actor if cpus_per_actor is not None else _default_cpus(actors)
    # ONNX Runtime's threads per actor from the CPUs it reserved (its default, one per core of the
    # node, put 2 actors x 2 threads on 2 cores: 0.53x of seg run's throughput, measured)
    threads = threads or max(1, int(cpus))
    summary.startup_s = time.perf_counter() - t0
    ds = ray.data.from_items(todo, override_num_blocks=min(len(todo), max(actors * 4, -(-len(todo) // batch))))
    rows = ds.map_batches(SegmentActor, batch_size=batch, batch_format="numpy",
                          compute=ray.data.ActorPoolStrategy(min_size=1, max_size=actors),
                          fn_constructor_kwargs={"model": model, "out": str(out), "overlays": overlays, "batch": batch,
                                                 "provider": provider, "threads": threads},
                          num_cpus=cpus, num_gpus=gpus_per_actor or None)  # Ray Data restarts actors, retries tasks
    with open(manifest, "a") as f:
        for cols in rows.iter_batches(batch_size=None, batch_format="numpy"):
            for source, index, output, pixels, status, error in zip(
                    cols["source"], cols["index"], cols["output"], cols["pixels"], cols["status"], cols["error"]):
                key = (str(source), int(index))
                if key in done:  # a retried task's second answer
                    continue
                done.add(key)
                row = {"source": key[0], "index": key[1], "output": str(output), "pixels": json.loads(str(pixels)),
                       "status": str(status)}
                if status != "ok":
                    row["error"] = str(error)
                    summary.failed += 1
                f.write(json.dumps(row) + "\n")
                summary.rows += 1
            f.flush()
            os.fsync(f.fileno())
            on_rows(summary.rows, max(total, summary.rows))
    summary.wall_s = time.perf_counter() - t0
    return summary


@contextlib.contextmanager
def _stderr_silenced():
    """File descriptor 2 to /dev/null for the block (C++ libraries write there, not to sys.stderr)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _frame_count(path: str) -> int | None:
    import cv2

    cap = cv2.VideoCapture(path)
    try:
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        cap.release()
    return n if n > 0 else None


def _default_cpus(actors: int) -> float:
    """CPUs each actor asks for: the node's CPUs shared by the actors, less a quarter of one for
    Ray's own tasks (whole CPUs for every actor on a 2-CPU node left none and the run hung)."""
    import ray

    total = ray.cluster_resources().get("CPU", 1.0)
    return max(0.25, round((total - 0.25) / max(actors, 1), 2))
