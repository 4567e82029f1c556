"""How many ONNX Runtime sessions, of how many threads, serve N streams on this CPU (torch-free).

Three plans compete (measured, then chosen per machine and model, like ``--precision auto``):

- ``batched``: one session, one intra-op thread per core, frames of several streams in one call;
- ``batched-nospin``: the same with ONNX Runtime's idle threads not busy-waiting between calls
  (``session.intra_op.allow_spinning=0``): the decode and encode threads get the cores back;
- ``per-core``: one single-thread session per core, batches handed to whichever is free.

Measured on 2 shared cores with a small segmentation graph: 1 session x 2 threads, batch 1: 46
FPS, batch 4: 59; 2 sessions x 1 thread: 72, batch 4: 84; spinning off took 2-thread batch 1
from 56 to 64 FPS. Which wins depends on the model, the CPU and the cores, hence a measurement.
The choice is kept in ``<cache>/plans.json`` keyed by the model file's content, the ONNX Runtime
version, the CPU and the batch, so a camera box measures once.
"""

from __future__ import annotations

import json
import os
import statistics
import threading
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np

PLANS = ("auto", "batched", "batched-nospin", "per-core")


@dataclass(frozen=True)
class Plan:
    """``sessions`` sessions of ``threads`` intra-op threads each; ``spinning``: ORT's busy-wait."""

    name: str
    sessions: int
    threads: int
    spinning: bool = True

    def describe(self) -> str:
        s = "s" if self.sessions > 1 else ""
        return (f"{self.name}: {self.sessions} session{s} x {self.threads} thread{'s' if self.threads > 1 else ''}"
                f"{', no spin-wait' if not self.spinning and self.threads > 1 else ''}")


def cores() -> int:
    """The cores this process may use (a container's CPU set, not the host's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def named(name: str, threads: int | None = None) -> Plan:
    """The plan called ``name`` on this machine (``threads``: the run's --threads, default one per core)."""
    n = threads or cores()
    return {"batched": Plan("batched", 1, n, True), "batched-nospin": Plan("batched-nospin", 1, n, False),
            "per-core": Plan("per-core", n, 1, True)}[name]


def _cache_file() -> Path:
    from seg.layout import user_cache_dir

    return user_cache_dir() / "plans.json"


def _key(model: str | os.PathLike, batch: int, threads: int | None) -> str:
    import onnxruntime as ort

    from seg.infer.providers import content_key
    from seg.machine import cpu_info

    m = cpu_info()
    return f"{content_key(model)}|ort{ort.__version__}|{m['cpu']}|{m['cpu_class']}|{cores()}c|t{threads or 0}|b{batch}"


def _recorded() -> dict:
    """Every measurement kept, by key; none where the cache is missing or unreadable."""
    try:
        return json.loads(_cache_file().read_text())
    except (OSError, ValueError):
        return {}


def _record(key: str, record: dict) -> None:
    from seg._io import write_json

    path = _cache_file()
    data = _recorded()
    data[key] = record
    try:
        write_json(path, data)
    except OSError:  # a read-only cache: measured again next time, nothing else lost
        pass


def throughput(segs: list, frame: np.ndarray, batch: int, seconds: float) -> float:
    """Frames per second of a plan's sessions (its Segmenters) on copies of ``frame`` in batches
    of ``batch``, every session busy, for about ``seconds``."""
    x = np.concatenate([segs[0].preprocess(frame)] * batch)
    for s in segs:
        s.infer(x)  # warm-up
    done, stop = [0] * len(segs), threading.Event()

    def work(k: int) -> None:
        while not stop.is_set():
            segs[k].infer(x)
            done[k] += batch

    threads = [threading.Thread(target=work, args=(k,), daemon=True) for k in range(len(segs))]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    return sum(done) / (time.perf_counter() - t0)


def choose(model: str | os.PathLike, make: Callable[[Plan], list], frame: np.ndarray, batch: int,
           threads: int | None = None, seconds: float = 0.5, rounds: int = 3,
           log: Callable[[str], None] = lambda m: None, made: dict[str, list] | None = None) -> tuple[Plan, dict]:
    """The fastest plan for ``model`` at ``batch`` on this machine: from the record kept for it,
    or measured now (interleaved rounds, the median; a tie within 5% goes to the simpler plan, in
    the order batched, batched-nospin, per-core) and recorded. Returns (plan, record). ``make(plan)``
    opens a plan's sessions, once each: ``made`` keeps them by name for the caller."""
    made = {} if made is None else made
    key = _key(model, batch, threads)  # hashes the model file: once
    kept = _recorded().get(key)
    if kept and kept.get("chosen") in PLANS[1:]:
        return named(kept["chosen"], threads), kept
    plans = [named(n, threads) for n in PLANS[1:]]
    if plans[-1].sessions == 1:  # one core: per-core is batched
        plans.pop()
    log(f"plan: measuring {', '.join(p.name for p in plans)} ({rounds} rounds of {seconds:g} s each, batch {batch}; "
        "once for this model and machine)")
    fps: dict[str, list[float]] = {p.name: [] for p in plans}
    for _ in range(rounds):
        for p in plans:
            if p.name not in made:
                made[p.name] = make(p)
            fps[p.name].append(throughput(made[p.name], frame, batch, seconds))
    med = {n: statistics.median(v) for n, v in fps.items()}
    best = max(med.values())
    chosen = next(p for p in plans if med[p.name] >= best * 0.95)
    record = {"chosen": chosen.name, "fps": med, "batch": batch, "frame": list(frame.shape[:2]),
              "plans": {p.name: asdict(p) for p in plans}, "measured": time.strftime("%Y-%m-%d %H:%M:%S")}
    _record(key, record)
    return chosen, record


def frame_like(source) -> np.ndarray:
    """A frame the size of ``source``'s (a video's, or a folder's first image's), for timing the
    plans: the source's own frames stay unread."""
    h, w = (source.size[1], source.size[0]) if getattr(source, "size", None) else \
        next(iter(source.frame_sizes() or [(480, 640)]))
    return np.random.default_rng(0).integers(0, 256, (max(h, 1), max(w, 1), 3), dtype=np.uint8)


def open_plan(model: str | os.PathLike, make: Callable[[Plan], list], plan: str, source,
              batch: int, threads: int | None = None, log: Callable[[str], None] = lambda m: None) -> tuple[list, str]:
    """(the sessions to run with, what they are in words) for ``plan`` (one of PLANS): a GPU gets
    one session; ``auto`` on a CPU is :func:`choose`, timed on a frame the size of ``source``'s."""
    first = named("batched" if plan == "auto" else plan, threads)
    segs = make(replace(first, sessions=1))  # one, until the provider is known
    if segs[0].provider != "cpu":  # a GPU runs one session; the plans are the CPU's
        return segs, f"one {segs[0].provider} session"
    if plan != "auto":
        return segs + make(replace(first, sessions=first.sessions - 1)), f"plan {first.describe()}"
    made = {"batched": segs}
    p, record = choose(model, make, frame_like(source), batch, threads, log=log, made=made)
    fps = ", ".join(f"{k} {v:.1f}" for k, v in record["fps"].items())
    return made.get(p.name) or make(p), f"plan {p.describe()} (auto, measured {record['measured']}: {fps} FPS)"
