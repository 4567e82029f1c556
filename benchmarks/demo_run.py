"""`seg demo` timed, with what it reached: the README's set-up figures, per CPU class.

    python benchmarks/demo_run.py [--minutes 10]                  # runs `seg demo` and records it
    python benchmarks/demo_run.py --record ROOT --wall-s SECONDS  # records a demo already run into ROOT

Wall time is the whole command (process start to exit); the rest is read from the demo's own
files: each model's best val mIoU (runs/<model>/results.json) and the bench rows (bench.json).
Run under ONEDNN_MAX_CPU_ISA=AVX2 to emulate the avx2 class for PyTorch (recorded as emulated).
Writes benchmarks/results/<cpu class>/demo.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results_io import save
from seg.machine import machine_info
from seg.models import SEED_MODELS


def record(root: Path, wall_s: float, minutes: float) -> dict:
    runs = root / "runs"
    bench = json.loads((root / "bench.json").read_text())
    fast = {r["model"]: r for r in bench["rows"] if r["engine"] == "onnxruntime" and r["variant"] != "fp32"}
    return {
        "benchmark": "demo", "machine": machine_info(), "minutes": minutes, "wall_s": wall_s,
        "val_miou": {m: json.loads((runs / m / "results.json").read_text())["best_val_miou"] for m in SEED_MODELS},
        "edge_path": {m: {"variant": r["precision"] + (" e2e" if r["e2e"] else ""), "vs_torch_fp32": r["speedup_vs_torch"],
                          "vs_best_torch": r["speedup_vs_torch_best"]} for m, r in fast.items()},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--record", type=Path, help="a demo root already run (runs/, bench.json)")
    ap.add_argument("--wall-s", type=float, help="with --record: how long that command took")
    args = ap.parse_args()
    if args.record:
        if args.wall_s is None:
            sys.exit("--record needs --wall-s")
        result = record(args.record, args.wall_s, args.minutes)
    else:
        with tempfile.TemporaryDirectory() as d:
            t = time.perf_counter()
            subprocess.run([sys.executable, "-m", "seg.cli", "demo", "--root", d, "--minutes", str(args.minutes)],
                           check=True)
            result = record(Path(d), time.perf_counter() - t, args.minutes)
    save("demo", result, torch_side=True)
    print(json.dumps({k: result[k] for k in ("wall_s", "val_miou", "edge_path")}, indent=1))


if __name__ == "__main__":
    main()
