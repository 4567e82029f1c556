"""Which int8 recipe to ship: quantisation format x activation type, by speed and accuracy.

    python benchmarks/quant_formats.py [--size 256 256] [--runs 10]

For each model trained by train_budget.py (benchmarks/.runs) and each candidate Int8Config, builds
the int8 model (calibrated on the synthetic train split), scores it against fp32 on the val split
with the guardrail, and times it against fp32 ONNX Runtime, interleaved in one process. Writes
benchmarks/results/quant_formats.json; Int8Config's defaults follow from it (see the README).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from seg.data import VOCSegmentation
from seg.variants import make_variant
from seg.variants.quantize import Int8Config, cpu_session
from results_io import save
from seg.machine import machine_info
from seg.models import SEED_MODELS as MODELS

HERE = Path(__file__).resolve().parent
CANDIDATES = {
    "qoperator-u8": Int8Config(format="qoperator", activation="u8"),
    "qoperator-s8": Int8Config(format="qoperator", activation="s8"),
    "qdq-u8": Int8Config(format="qdq", activation="u8"),
    "qdq-s8": Int8Config(format="qdq", activation="s8"),
    "qoperator-u8-no-subpixel": Int8Config(format="qoperator", activation="u8", subpixel=False),
    # The merge ops (skip additions, concatenations, upsampling) left in float: where requantising
    # two differently-scaled inputs could cost accuracy.
    "qoperator-u8-float-merges": Int8Config(format="qoperator", activation="u8", exclude_ops=("Add", "Concat", "Resize")),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=list(MODELS))
    ap.add_argument("--candidates", nargs="+", default=list(CANDIDATES))
    ap.add_argument("--size", type=int, nargs=2, default=(256, 256))
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()
    data = HERE / ".data" / "synth"
    calib, val = VOCSegmentation(data, "2007", "train"), VOCSegmentation(data, "2007", "val")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 3, *args.size), dtype=np.float32)
    rows = []
    for name in args.models:
        fp32 = HERE / ".runs" / name / f"{name}.onnx"
        if not fp32.is_file():
            raise SystemExit(f"{fp32} missing: run benchmarks/train_budget.py and benchmarks/bench_models.py first")
        with tempfile.TemporaryDirectory() as d:
            built = {}
            for key in args.candidates:
                t = time.perf_counter()
                out = Path(d) / f"{key}.onnx"
                r = make_variant(fp32, out, precision="int8", calib=calib, heldout=val, int8=CANDIDATES[key], force=True)
                built[key] = (out, r["guardrail"], time.perf_counter() - t)
            sessions = {"fp32": cpu_session(fp32), **{k: cpu_session(v[0]) for k, v in built.items()}}
            times = {k: [] for k in sessions}
            for s in sessions.values():
                s.run(None, {"image": x})
            for _ in range(args.runs):
                for k, s in sessions.items():  # interleaved, so the ratios hold on a noisy machine
                    t = time.perf_counter()
                    s.run(None, {"image": x})
                    times[k].append((time.perf_counter() - t) * 1e3)
            fp32_ms = statistics.median(times["fp32"])
            for key, (out, g, build_s) in built.items():
                ms = statistics.median(times[key])
                rows.append({"model": name, "candidate": key, **{k: v for k, v in vars(CANDIDATES[key]).items()},
                             "exclude_ops": list(CANDIDATES[key].exclude_ops), "fp32_ms": fp32_ms, "int8_ms": ms,
                             "speedup_vs_fp32": fp32_ms / ms, "fp32_miou": g["fp32_miou"], "int8_miou": g["miou"],
                             "drop_points": g["drop_points"], "label_agreement": g["label_agreement"],
                             "passed": g["passed"], "build_s": build_s, "mb": out.stat().st_size / 1e6})
                print(f"{name:13s} {key:13s} {fp32_ms:8.1f} ms -> {ms:8.1f} ms ({fp32_ms / ms:.2f}x)  "
                      f"mIoU {g['fp32_miou']:.4f} -> {g['miou']:.4f} ({-g['drop_points']:+.2f} pts)", flush=True)
    save("quant_formats",
               {"benchmark": "quant_formats", "machine": machine_info(), "size": list(args.size), "runs": args.runs,
                "calib_images": min(Int8Config().calib_n, len(calib)), "val_images": len(val), "rows": rows})


if __name__ == "__main__":
    main()
