"""The README's `seg bench` table: the models trained by train_budget.py, every variant and engine.

    python benchmarks/bench_models.py [--models ...] [--size 512 512] [--runs 10] [--tag T]

Benchmarks benchmarks/.runs/<model>/best.pt (run train_budget.py first) with `seg.bench.bench`:
ONNX Runtime fp32, int8, e2e and e2e int8 (exported from the checkpoints when missing, int8
calibrated on the synthetic train split and gated by the guardrail), PyTorch eager fp32 and
bf16 autocast + channels_last, at a realistic 512x512, mIoU on the synthetic val split.
Writes benchmarks/results/<cpu class>/bench.json (header + rows, the schema of `seg bench --json`) and
bench.png.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from results_io import path_for
from seg.bench import bench
from seg.bench_entries import prepare
from seg.reporting import markdown_table, write_outputs
from seg.models import SEED_MODELS as MODELS

HERE = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=list(MODELS))
    ap.add_argument("--size", type=int, nargs=2, default=(512, 512))
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--tag", default="", help="saved as bench_<tag>.json (the README's main table is bench.json)")
    args = ap.parse_args()
    name = "bench" + (f"_{args.tag}" if args.tag else "")
    data = HERE / ".data" / "synth"
    result = bench(prepare(args.models, HERE / ".runs", data=data), data=data, size=tuple(args.size), n_runs=args.runs,
                   warmup=2, on_progress=lambda m: print(m, flush=True) if m.endswith("mIoU") else None)
    result["header"]["data"] = "benchmarks/.data/synth"  # not this machine's absolute path
    h = result["header"]
    write_outputs(result, json_path=path_for(name, h), plot_path=path_for(name, h, suffix=".png"))
    print(markdown_table(result))


if __name__ == "__main__":
    main()
