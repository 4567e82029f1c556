"""The README's `seg bench` table: the models trained by train_budget.py, both engines.

    python benchmarks/bench_models.py [--size 256 256] [--runs 20]

Benchmarks benchmarks/.runs/<model>/best.pt (run train_budget.py first; it exports what is
missing) with `seg.bench.bench`, mIoU on the synthetic val split, and writes
benchmarks/results/bench.json (header + rows, the same schema as `seg bench --json`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from seg.bench import bench, markdown_table, write_outputs
from seg.models import MODELS

HERE = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, nargs=2, default=(256, 256))
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    result = bench(list(MODELS), runs=HERE / ".runs", data=HERE / ".data" / "synth", size=tuple(args.size),
                   n_runs=args.runs, warmup=3)
    write_outputs(result, json_path=HERE / "results" / "bench.json", plot_path=HERE / "results" / "bench.png")
    print(markdown_table(result))


if __name__ == "__main__":
    main()
