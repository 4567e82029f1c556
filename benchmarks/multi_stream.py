"""N streams on one box: one `seg run` process over N sources (batched) against N `seg run`
processes side by side (what a user with N cameras ran before), aggregate FPS and p95 latency.

    python benchmarks/multi_stream.py [--streams 1 2 4] [--frames 100] [--imgsz 256]

The sources are N copies of bikes.mp4 (640x272, real); the model simple_unet's fp32 export at
--imgsz (random init: the speed is the same). Each setup runs three times, alternating, and the
medians are reported. Writes benchmarks/results/<cpu class>/multi_stream.json.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from results_io import save  # noqa: E402
from run_pipeline import VIDEO, default_model  # noqa: E402
from seg.machine import machine_info  # noqa: E402

SEG = [sys.executable, "-m", "seg.cli"]


def one_process(model: Path, n: int, frames: int, imgsz: int, out: Path) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    (out / "sources.txt").write_text(f"{VIDEO}\n" * n)  # a list: the multi-source path even for one
    t = time.perf_counter()
    r = subprocess.run(SEG + ["run", "--model", str(model), "--source", str(out / "sources.txt"),
                              "--max-frames", str(frames), "--imgsz", str(imgsz), "--batch", str(n), "--out", str(out)],
                       capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t
    p95 = [float(x) for x in re.findall(r"^\| bikes[-\d]* \| \d+ \| [\d.]+ \| \d+ \| [\d.]+ \| ([\d.]+) \|", r.stdout, re.M)]
    return {"aggregate_fps": n * frames / wall, "p95_ms": max(p95) if p95 else None}


def n_processes(model: Path, n: int, frames: int, imgsz: int, out: Path) -> dict:
    t = time.perf_counter()
    procs = [subprocess.Popen(SEG + ["run", "--model", str(model), "--video", str(VIDEO), "--max-frames", str(frames),
                                     "--imgsz", str(imgsz), "--out", str(out / f"{i}.mp4")],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(n)]
    outs = [p.communicate()[0] for p in procs]
    wall = time.perf_counter() - t
    return {"aggregate_fps": n * frames / wall, "p95_ms": None, "ok": all(p.returncode == 0 for p in procs) and bool(outs)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--streams", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--imgsz", type=int, default=256)
    args = ap.parse_args()
    model = default_model()
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for n in args.streams:
            runs = {"one_process": [], "n_processes": []}
            for _ in range(3):  # alternating: machine noise hits both setups alike
                runs["one_process"].append(one_process(model, n, args.frames, args.imgsz, Path(d) / f"a{n}"))
                runs["n_processes"].append(n_processes(model, n, args.frames, args.imgsz, Path(d)))
            row = {"streams": n}
            for k, rs in runs.items():
                row[k] = {"aggregate_fps": statistics.median(r["aggregate_fps"] for r in rs),
                          "p95_ms": statistics.median(r["p95_ms"] for r in rs) if rs[0]["p95_ms"] is not None else None}
            row["ratio"] = row["one_process"]["aggregate_fps"] / row["n_processes"]["aggregate_fps"]
            rows.append(row)
            print(row)
    save("multi_stream", {"machine": machine_info(), "video": VIDEO.name, "model": model.name, "imgsz": args.imgsz,
                          "frames_per_stream": args.frames, "rows": rows,
                          "timed": "wall time of the whole command(s), start-up included; median of 3 alternating runs"})


if __name__ == "__main__":
    main()
