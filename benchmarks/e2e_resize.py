"""The resize moved into the e2e graph: label agreement with the host path, and its cost.

    python benchmarks/e2e_resize.py [--models NAME ...] [--clip-frames 3] [--tag T]

For each model (default: the four seed models and the four torchvision ones), an fp32 export
(benchmarks/.runs/<model>/<model>.onnx; exported random-init when missing: no weights can be
downloaded here) and its e2e graph, which now sizes frames itself. On the 13 real VOC photos and
``--clip-frames`` frames spread over each of the 4 real clips in ../shared/real-media:

- agreement: the e2e graph's labels vs ``seg run``'s host path with the plain model (OpenCV's
  INTER_AREA or Pillow's antialiased resize, the model, argmax, nearest back), pixel for pixel;
  the issue's bar is >= 99.5% per model. ``labels`` says how many classes the host path predicted
  (a random-init model that predicts one class everywhere would agree trivially);
- resized frames: the graph's own resized frame (its ``frames_resized`` tensor) against the host's
  resize for the plain model, in levels: the part of the difference that no model choice hides
  (random-init torchvision models predict one class everywhere, so their label agreement is trivial);
- ms per frame: host path (resize + normalise + model + argmax + resize back) vs the e2e graph
  (one session call), the median over the frames.

Writes benchmarks/results/<cpu class>/e2e_resize.json.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
MEDIA = HERE.parent.parent / "shared" / "real-media"

from results_io import save  # noqa: E402
from seg.infer import Segmenter  # noqa: E402
from seg.machine import machine_info  # noqa: E402
from seg.models import MODELS, SEED_MODELS as SEED  # noqa: E402


def frames(clip_frames: int) -> list[tuple[str, np.ndarray]]:
    out = [(p.name, cv2.imread(str(p))) for p in sorted((MEDIA / "VOCdevkit" / "VOC2012" / "JPEGImages").glob("*.jpg"))]
    for clip in sorted((MEDIA / "video").glob("*.mp4")):
        cap = cv2.VideoCapture(str(clip))
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        for k in np.linspace(0, max(n - 1, 0), clip_frames).astype(int):
            cap.set(cv2.CAP_PROP_POS_FRAMES, int(k))
            ok, f = cap.read()
            if ok:
                out.append((f"{clip.name}#{k}", f))
        cap.release()
    return out


def exported(name: str) -> Path:
    from seg.export import export_checkpoint

    path = HERE / ".runs" / name / f"{name}.onnx"
    if not path.is_file():
        trained = (HERE / ".runs" / name / "best.pt").is_file()
        if name in SEED:
            export_checkpoint(name, out=path, runs=HERE / ".runs", random_init=not trained)
        else:
            export_checkpoint(name, out=path, runs=HERE / ".runs", weights="none")
    e2e = path.with_name(f"{name}.e2e.onnx")
    if not e2e.is_file():
        from seg.variants import make_variant

        make_variant(path, e2e, e2e=True)
    return path


def timed(fn, x) -> tuple[np.ndarray, float]:
    t = time.perf_counter()
    y = fn(x)
    return y, (time.perf_counter() - t) * 1e3


def resized_probe(e2e: Path):
    """A CPU session of the e2e graph that also returns its resized frame."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    from seg.metadata import E2E_RESIZED_NAME

    m = onnx.load(str(e2e))
    m.graph.output.append(helper.make_tensor_value_info(E2E_RESIZED_NAME, TensorProto.UINT8, None))
    return ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])


def measure(name: str, media: list[tuple[str, np.ndarray]]) -> dict:
    from seg.infer.preprocess import resize_for_model

    plain_path = exported(name)
    e2e = plain_path.with_name(f"{name}.e2e.onnx")
    host, graph = Segmenter(plain_path, provider="cpu"), Segmenter(e2e, provider="cpu")
    probe = resized_probe(e2e)
    diffs, off = [], []
    same = total = 0
    worst = (1.0, "")
    host_ms, graph_ms, classes = [], [], set()
    seen = set()
    for label, f in media:
        if f.shape not in seen:  # warm-up at each new shape
            host.predict(f), graph.predict(f)
            seen.add(f.shape)
        a, ta = timed(host.predict, f)
        b, tb = timed(graph.predict, f)
        host_ms.append(ta)
        graph_ms.append(tb)
        classes |= set(np.unique(a).tolist())
        agree = float((a == b).mean())
        worst = min(worst, (agree, label))
        same += int((a == b).sum())
        total += a.size
        theirs = probe.run(["frames_resized"], {"frames": f[None]})[0][0]
        ours = resize_for_model(f, host.input_size(*f.shape[:2]), host.meta)
        d = np.abs(theirs.astype(int) - ours) if theirs.shape == ours.shape else None
        if d is not None:
            diffs.append(int(d.max()))
            off.append(float((d > 1).mean()))
    row = {"model": name, "weights": host.meta.get("weights"), "size_rule": graph.size_rule(),
           "frames": len(media), "agreement": same / total, "worst_frame": {"agreement": worst[0], "frame": worst[1]},
           "labels": len(classes), "resized_max_levels": max(diffs) if diffs else None,
           "resized_share_over_1_level": float(np.mean(off)) if off else None, "host_ms_p50": statistics.median(host_ms), "graph_ms_p50": statistics.median(graph_ms)}
    print(f"{name}: agreement {row['agreement']:.4%} (worst {worst[0]:.4%} on {worst[1]}), {len(classes)} labels; "
          f"resized frames within {row['resized_max_levels']} levels ({row['resized_share_over_1_level']:.2%} > 1); "
          f"host {row['host_ms_p50']:.1f} ms, graph {row['graph_ms_p50']:.1f} ms per frame", flush=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=list(MODELS))
    ap.add_argument("--clip-frames", type=int, default=3)
    ap.add_argument("--tag", default="")
    args = ap.parse_args()
    media = frames(args.clip_frames)
    rows = [measure(m, media) for m in args.models]
    save("e2e_resize" + (f"_{args.tag}" if args.tag else ""), {
        "benchmark": "e2e_resize", "machine": machine_info(), "media": [m for m, _ in media],
        "bar": 0.995, "rows": rows})


if __name__ == "__main__":
    main()
