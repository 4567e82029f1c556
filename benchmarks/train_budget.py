"""Val mIoU each model reaches on the synthetic set within a fixed CPU time budget.

    python benchmarks/train_budget.py --minutes 3            # all four models, ~13 min
    python benchmarks/train_budget.py --models simple_unet --minutes 5 --tag simple_unet_5min
    ONEDNN_MAX_CPU_ISA=AVX2 python benchmarks/train_budget.py --models simple_unet --minutes 5 --tag simple_unet_5min

Generates the synthetic set (default settings, seed 0) under benchmarks/.data, trains each
model with `seg.train.train` and a time budget (start-up and evaluations included), and writes
benchmarks/results/<class>/train_budget[_TAG].json, where the class is the CPU's, or the one
PyTorch's oneDNN was capped to with ONEDNN_MAX_CPU_ISA (this project's emulation of an older CPU:
AVX2 has no native bf16, so `--amp auto` trains in fp32 there). `python benchmarks/update_readme.py`
rebuilds the README's tables. resnet_fcn trains from random init (no ImageNet weights offline).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import fields
from pathlib import Path

HERE = Path(__file__).resolve().parent

from results_io import save  # noqa: E402
from seg.data.synth import SynthConfig, generate  # noqa: E402
from seg.machine import machine_info  # noqa: E402
from seg.models import SEED_MODELS as MODELS  # noqa: E402
from seg.models.pretrained import PRETRAINED  # noqa: E402
from seg.train import TrainConfig, train  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=list(MODELS))
    ap.add_argument("--minutes", type=float, default=3.0)
    ap.add_argument("--tag", default="")
    # Any TrainConfig field can be set for an experiment, e.g. --set lr=0.002 --set crop_size=96.
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE")
    args = ap.parse_args()

    types = {f.name: f.type for f in fields(TrainConfig)}
    overrides = {}
    for item in args.set:
        k, v = item.split("=", 1)
        overrides[k] = None if v == "None" else (float(v) if "float" in str(types[k]) else
                                                 int(v) if "int" in str(types[k]) else v)
    synth = SynthConfig()
    data = HERE / ".data" / "synth"
    generate(data, synth, progress=False)
    rows = []
    for name in args.models:
        # Nothing can be downloaded here: random init for resnet_fcn's backbone and torchvision's models.
        offline = {"backbone_weights": "none" if name == "resnet_fcn" else None,
                   "weights": "none" if name in PRETRAINED else None}
        cfg = TrainConfig(model=name, data=str(data), out=str(HERE / ".runs"), time_budget_min=args.minutes,
                          **{**offline, **overrides})
        t = time.perf_counter()
        r = train(cfg, progress=False)
        c = r["config"]
        rows.append({
            "model": name, "minutes": args.minutes, "best_val_miou": r["best_val_miou"],
            "best_val_pixel_acc": r["best_val_pixel_acc"], "epochs": r["epochs"], "iterations": r["iterations"],
            "train_images_per_s": r["images_per_s"], "wall_s": time.perf_counter() - t,
            "crop_size": c["crop_size"], "precision": r["precision"], "batch_size": c["batch_size"], "lr": c["lr"],
            "class_weights": c["class_weights"], "overrides": overrides,
        })
        print(json.dumps(rows[-1]))
    save(f"train_budget{'_' + args.tag if args.tag else ''}",
         {"benchmark": "train_budget", "machine": machine_info(), "data": {"synth": vars(synth)}, "rows": rows},
         torch_side=True)


if __name__ == "__main__":
    main()
