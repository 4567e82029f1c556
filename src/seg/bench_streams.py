"""``seg bench --streams 1,2,4``: N video streams through one process, as ``seg run --source`` runs
them (torch-free).

For each N: N sources (the clips given, repeated in turn to make N), the session plan ``seg run``
would use (:mod:`seg.infer.plan`, ``auto``: measured once per model and machine), the batcher of
:mod:`seg.infer.multi` gathering up to ``batch`` frames (default N: one frame of each stream per
call), overlays encoded as ``seg run`` writes them, into a scratch folder. ``realtime`` (default):
each clip is read at its own frame rate and keeps only its latest frame, as a camera does, so the
latency is the processing's and frames the box cannot keep up with are counted as dropped;
without it, the clips are read as fast as they decode (an archive: the queues' wait is latency). Reported: aggregate FPS,
the mean per-stream FPS, and the worst stream's p50/p95 latency from a frame being read to its
result written. One short untimed run first, so no row pays the session's first-call costs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Sequence

from seg._io import scratch_dir
from seg.errors import SegError


def bench_streams(model: str | os.PathLike, clips: Sequence[str | os.PathLike], streams: Sequence[int],
                  frames: int = 100, provider: str = "auto", batch: int | None = None, timeout_ms: float = 20.0,
                  threads: int | None = None, plan: str = "auto", realtime: bool = True,
                  on_progress: Callable[[str], None] = lambda m: None) -> dict[str, Any]:
    """One row per N in ``streams`` for the .onnx ``model`` on ``clips`` (video files); the header
    says the machine, the model, the provider and the clips."""
    from seg.infer import Segmenter
    from seg.infer.multi import MAX_SOURCES, run_many
    from seg.machine import machine_info

    if not clips:
        raise SegError("--streams needs at least one --clip (a video file; N streams are copies of the clips in turn)")
    missing = [str(c) for c in clips if not Path(c).is_file()]
    if missing:
        raise SegError(f"--clip {missing[0]} is not a file")
    if any(not 1 <= n <= MAX_SOURCES for n in streams):
        raise SegError(f"--streams takes counts 1..{MAX_SOURCES}, got {','.join(map(str, streams))}")
    from seg.infer.plan import open_plan
    from seg.infer.sources import VideoSource

    def make(p) -> list:
        return [Segmenter(model, provider=provider, threads=p.threads, spinning=p.spinning) for _ in range(p.sessions)]

    on_progress("choosing the session plan")
    first = VideoSource(str(clips[0]))  # its size, for timing the plans
    try:
        segs, chosen = open_plan(model, make, plan, first, min(batch or max(streams), max(streams)), threads)
    finally:
        first.close()
    seg = segs[0]
    rows = []
    with scratch_dir() as d:
        run_many(segs, [str(clips[0])], Path(d) / "warm", batch=1, max_frames=3)  # untimed: first-call costs
        for n in streams:
            on_progress(f"{n} stream{'s' if n > 1 else ''}")
            specs = [str(clips[i % len(clips)]) for i in range(n)]
            s = run_many(segs, specs, Path(d) / f"n{n}", batch=batch or n, timeout_ms=timeout_ms, max_frames=frames,
                         realtime=realtime)
            if s.failed:
                raise SegError(f"{s.failed[0].spec}: {s.failed[0].failed}")
            live = [st for st in s.streams if st.latency.n]
            rows.append({
                "streams": n, "batch": batch or n, "frames": s.frames, "wall_s": s.wall_s,
                "aggregate_fps": s.fps, "stream_fps": sum(st.fps for st in s.streams) / n,
                "p50_ms": max(st.latency.stats()["p50"] for st in live) if live else None,
                "p95_ms": max(st.latency.stats()["p95"] for st in live) if live else None,
                "dropped": sum(st.dropped for st in s.streams),
                "mean_batch": s.batch_sizes.stats()["mean"] if s.batch_sizes.n else 0.0,
                "interrupted": s.interrupted,
            })
            if s.interrupted:
                break
    m = machine_info()
    return {"header": {"model": seg.meta.get("model"), "file": str(model), "precision": seg.precision, "e2e": seg.e2e,
                       "size_rule": seg.size_rule(), "provider": seg.provider, "plan": chosen,
                       "clips": [str(c) for c in clips],
                       "frames_per_stream": frames, "timeout_ms": timeout_ms, "realtime": realtime, "cpu": m["cpu"],
                       "cpu_class": m["cpu_class"], "cores": m["cores"], "gpu": m.get("gpu"),
                       "onnxruntime": m.get("onnxruntime"),
                       "interrupted": any(r["interrupted"] for r in rows)},
            "rows": rows}
