"""How to set up the CPU session: threads, graph optimisation level, saved optimised graph.

    python benchmarks/session_tuning.py [--size 512 512] [--runs 5]

For each model's fp32 and int8 export in benchmarks/.runs: latency at each (threads, level),
interleaved in one process, and session start-up time without and with the optimised graph
saved by `create_session(save_optimized=True)`. Writes benchmarks/results/<cpu class>/session_tuning.json;
seg.infer's defaults (threads = cores, level `all`, no saved graph unless asked) follow from it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import time
from pathlib import Path

import numpy as np

from seg.layout import variant_path
from seg.infer.session import create_session, optimized_cache_path
from results_io import save
from seg.machine import machine_info
from seg.models import SEED_MODELS as MODELS

HERE = Path(__file__).resolve().parent


def start_ms(path: Path, **kw) -> float:
    t = time.perf_counter()
    create_session(path, "cpu", spinning=False, **kw)
    return (time.perf_counter() - t) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=list(MODELS))
    ap.add_argument("--size", type=int, nargs=2, default=(512, 512))
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    x = np.random.default_rng(0).standard_normal((1, 3, *args.size), dtype=np.float32)
    cores = os.cpu_count() or 1
    configs = [(t, lvl) for t in sorted({1, cores}) for lvl in ("basic", "extended", "all")]
    rows = []
    for name in args.models:
        for precision in ("fp32", "int8"):
            path = variant_path(HERE / ".runs", name, precision)
            if not path.is_file():
                continue
            sessions = {c: create_session(path, "cpu", threads=c[0], opt_level=c[1], spinning=False)[0] for c in configs}
            times = {c: [] for c in configs}
            for s in sessions.values():
                s.run(None, {"image": x})
            for _ in range(args.runs):
                for c, s in sessions.items():
                    t = time.perf_counter()
                    s.run(None, {"image": x})
                    times[c].append((time.perf_counter() - t) * 1e3)
            cache = optimized_cache_path(path).parent
            shutil.rmtree(cache, ignore_errors=True)
            cold = statistics.median(start_ms(path) for _ in range(3))
            first = start_ms(path, save_optimized=True)  # optimises and saves
            warm = statistics.median(start_ms(path, save_optimized=True) for _ in range(3))
            shutil.rmtree(cache, ignore_errors=True)
            row = {"model": name, "precision": precision,
                   "latency_ms": {f"{t}t-{lvl}": statistics.median(times[(t, lvl)]) for t, lvl in configs},
                   "start_ms": cold, "start_ms_saving": first, "start_ms_from_saved": warm}
            rows.append(row)
            print(name, precision, {k: round(v, 1) for k, v in row["latency_ms"].items()},
                  f"start {cold:.0f} ms -> {warm:.0f} ms from the saved graph", flush=True)
    save("session_tuning",
               {"benchmark": "session_tuning", "machine": machine_info(), "size": list(args.size), "runs": args.runs,
                "configs": [f"{t}t-{lvl}" for t, lvl in configs], "rows": rows})


if __name__ == "__main__":
    main()
