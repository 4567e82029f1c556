"""Frames to a running Triton server and back, compared with `seg run`'s labels for the same file.

    python benchmarks/triton_check.py --url localhost:8000 --repository runs/triton --model NAME [--video CLIP] [--frames 30]

Sends the frames of a real clip one request each (the e2e form takes uint8 BGR frames of any size;
the plain form gets the normalised float input `seg run` makes), reads the first output, and
counts the pixels whose label equals that of `seg.infer.Segmenter` on the repository's own
model.onnx (CPU provider). Prints one line per check and exits 1 when agreement is under 99.9%.
Run by benchmarks/triton_check.sh on a machine that has Triton.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CLIP = HERE.parent.parent / "shared" / "real-media" / "video" / "bikes.mp4"


def main() -> int:
    import tritonclient.http as http

    from seg.infer import Segmenter
    from seg.infer.sources import VideoSource

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", default="localhost:8000")
    ap.add_argument("--repository", type=Path, default=Path("runs/triton"))
    ap.add_argument("--model", required=True)
    ap.add_argument("--video", type=Path, default=CLIP)
    ap.add_argument("--frames", type=int, default=30)
    args = ap.parse_args()
    client = http.InferenceServerClient(args.url)
    for _ in range(120):
        if client.is_model_ready(args.model):
            break
        time.sleep(1)
    else:
        print(f"model {args.model} not ready on {args.url}")
        return 1
    seg = Segmenter(args.repository / args.model / "1" / "model.onnx", provider="cpu")
    meta = client.get_model_metadata(args.model)
    name, out_name = meta["inputs"][0]["name"], meta["outputs"][0]["name"]
    same = total = 0
    ms = []
    for k, (_, frame) in enumerate(VideoSource(str(args.video))):
        if k >= args.frames:
            break
        x = seg.preprocess(frame)
        inp = http.InferInput(name, list(x.shape), "UINT8" if x.dtype == np.uint8 else "FP32")
        inp.set_data_from_numpy(x)
        t = time.perf_counter()
        res = client.infer(args.model, [inp], outputs=[http.InferRequestedOutput(out_name)])
        ms.append((time.perf_counter() - t) * 1e3)
        got = seg.postprocess(res.as_numpy(out_name), frame.shape[:2])
        ref = seg.predict(frame)
        same += int((got == ref).sum())
        total += ref.size
    agree = same / max(total, 1)
    print(f"triton {args.model}: {len(ms)} frames of {args.video.name}, label agreement with seg run {agree:.4%}, "
          f"median {np.median(ms):.1f} ms a request (client to server and back)")
    return 0 if agree >= 0.999 else 1


if __name__ == "__main__":
    sys.exit(main())
