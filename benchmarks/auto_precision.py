"""What `seg export --precision auto --e2e` chooses on this CPU class, and why, per model.

    python benchmarks/auto_precision.py [--imgsz 512] [--runs 10]

For each model trained by train_budget.py (benchmarks/.runs/<model>/best.pt): its fp32 export,
then `seg.variants.auto.auto_variant` in the end-to-end form, int8 calibrated on the synthetic
train split and guarded on its val split, every candidate timed per frame as `seg run` runs it at
--imgsz. Writes benchmarks/results/<class>/auto_precision.json (the README's table).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

from results_io import save  # noqa: E402
from seg.export import export_checkpoint  # noqa: E402
from seg.layout import variant_path  # noqa: E402
from seg.machine import machine_info  # noqa: E402
from seg.models import SEED_MODELS as MODELS  # noqa: E402
from seg.variants import calibration_sets  # noqa: E402
from seg.variants.auto import auto_variant  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=list(MODELS))
    ap.add_argument("--imgsz", type=int, default=512, help="longer side of the frames the candidates are timed on")
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()

    calib, heldout = calibration_sets(HERE / ".data" / "synth", 64)
    rows = []
    for name in args.models:
        if not (HERE / ".runs" / name / "best.pt").is_file():
            raise SystemExit(f"benchmarks/.runs/{name}/best.pt is missing: run benchmarks/train_budget.py first")
        fp32 = variant_path(HERE / ".runs", name)
        if not fp32.is_file():
            export_checkpoint(name, runs=HERE / ".runs")
        with tempfile.TemporaryDirectory() as d:
            r = auto_variant(fp32, Path(d) / "auto.onnx", e2e=True, calib=calib, heldout=heldout, imgsz=args.imgsz,
                             runs=args.runs, log=print)
        rows.append({"model": name, "chosen": r["auto"]["chosen"], "candidates": r["auto"]["candidates"]})
        print(json.dumps(rows[-1]))
    save("auto_precision", {"benchmark": "auto_precision", "machine": machine_info(), "imgsz": args.imgsz,
                            "runs": args.runs, "form": "e2e", "rows": rows})


if __name__ == "__main__":
    main()
