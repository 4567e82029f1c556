"""Val mIoU each model reaches on the synthetic set within a fixed CPU time budget.

    python benchmarks/train_budget.py --minutes 3            # all four models, ~13 min
    python benchmarks/train_budget.py --models simple_unet --minutes 5 --tag simple_unet_5min

Generates the synthetic set (default settings, seed 0) under benchmarks/.data, trains each
model with `seg.train.train` and a time budget (eval included), and writes
benchmarks/results/train_budget[_TAG].json; `python benchmarks/update_readme.py` then rebuilds
the README's table from it. resnet_fcn trains from random init here (no ImageNet weights offline).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

from seg._io import write_json  # noqa: E402
from seg.machine import machine_info  # noqa: E402
from seg.data.synth import SynthConfig, generate  # noqa: E402
from seg.models import MODELS  # noqa: E402
from seg.train import TrainConfig, train  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=list(MODELS))
    ap.add_argument("--minutes", type=float, default=3.0)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--class-weights", default="none", choices=["none", "inverse", "median"])
    ap.add_argument("--tag", default="")
    args = ap.parse_args()

    synth = SynthConfig()
    data = HERE / ".data" / "synth"
    generate(data, synth, progress=False)
    rows = []
    for name in args.models:
        cfg = TrainConfig(model=name, data=str(data), out=str(HERE / ".runs"), time_budget_min=args.minutes,
                          batch_size=args.batch_size, class_weights=args.class_weights,
                          backbone_weights="none" if name == "resnet_fcn" else None)
        t = time.perf_counter()
        r = train(cfg, progress=False)
        rows.append({
            "model": name, "minutes": args.minutes, "best_val_miou": r["best_val_miou"],
            "best_val_pixel_acc": r["best_val_pixel_acc"], "epochs": r["epochs"], "iterations": r["iterations"],
            "train_images_per_s": r["images_per_s"], "wall_s": time.perf_counter() - t,
            "crop_size": r["config"]["crop_size"], "precision": r["precision"], "batch_size": args.batch_size,
            "class_weights": args.class_weights,
        })
        print(json.dumps(rows[-1]))
    out = HERE / "results" / f"train_budget{'_' + args.tag if args.tag else ''}.json"
    write_json(out, {"benchmark": "train_budget", "machine": machine_info(), "data": {"synth": vars(synth)},
                     "rows": rows})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
