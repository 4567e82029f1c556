"""Edge-speed checks that the bench table does not show: int8 on real photos, and host-side work.

    python benchmarks/edge_speed.py [--imgsz 512] [--frames 20]

1. int8 vs fp32 label agreement on the 13 real VOC2012 photos in ../shared/real-media (the
   models were trained on the synthetic set, so agreement, not mIoU, is what these can show).
2. Host-side share of the frame time on a real video: ``Segmenter`` pre + post (resize,
   normalise/layout, argmax, label resize) against the session call, for the plain fp32 model
   and the end-to-end int8 graph (``<model>.e2e.int8.onnx``), frames resized to ``--imgsz``.

Uses benchmarks/.runs (train_budget.py; bench_models.py exports the variants).
Writes benchmarks/results/<cpu class>/edge_speed.json.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import cv2

from seg.data import VOCSegmentation
from seg.layout import variant_path
from seg.variants.quantize import label_agreement
from seg.metadata import read_meta
from seg.infer import Segmenter
from results_io import save
from seg.machine import machine_info
from seg.models import SEED_MODELS as MODELS

HERE = Path(__file__).resolve().parent
REAL = HERE.parent.parent / "shared" / "real-media"


def host_share(path: Path, frames, imgsz: int) -> dict:
    seg = Segmenter(path, provider="cpu", imgsz=imgsz)
    ms = {"pre": [], "infer": [], "post": []}
    seg.predict(frames[0])  # warm-up
    for f in frames:
        t0 = time.perf_counter()
        x = seg.preprocess(f)
        t1 = time.perf_counter()
        out = seg.infer(x)
        t2 = time.perf_counter()
        seg.postprocess(out, f.shape[:2])
        t3 = time.perf_counter()
        for k, dt in zip(ms, (t1 - t0, t2 - t1, t3 - t2)):
            ms[k].append(dt * 1e3)
    med = {k: statistics.median(v) for k, v in ms.items()}
    return {**{f"{k}_ms": v for k, v in med.items()}, "host_share": (med["pre"] + med["post"]) / sum(med.values()),
            "model_size": list(x.shape)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=list(MODELS))
    ap.add_argument("--imgsz", type=int, default=512)
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--video", type=Path, default=REAL / "video" / "bikes.mp4")
    args = ap.parse_args()
    real = VOCSegmentation(REAL, "2012", "val")
    photos = [real.load(i)[0] for i in range(len(real))]
    cap = cv2.VideoCapture(str(args.video))
    frames = []
    while len(frames) < args.frames:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    rows = []
    for name in args.models:
        fp32, int8, e2e = (variant_path(HERE / ".runs", name, p, e) for p, e in (("fp32", False), ("int8", False),
                                                                              ("int8", True)))
        meta = read_meta(fp32)
        row = {"model": name, "guardrail": read_meta(int8).get("guardrail"),
               "real_photos": len(photos),
               "real_label_agreement_int8": label_agreement(fp32, int8, photos, meta, meta),
               "plain_fp32": host_share(fp32, frames, args.imgsz), "e2e_int8": host_share(e2e, frames, args.imgsz)}
        rows.append(row)
        print(f"{name:13s} real-photo agreement {row['real_label_agreement_int8']:.2%}  host share "
              f"fp32 {row['plain_fp32']['host_share']:.1%} -> e2e int8 {row['e2e_int8']['host_share']:.1%}", flush=True)
    save("edge_speed",
               {"benchmark": "edge_speed", "machine": machine_info(), "imgsz": args.imgsz, "video": args.video.name,
                "frame_size": list(frames[0].shape[:2]), "frames": len(frames), "rows": rows})


if __name__ == "__main__":
    main()
