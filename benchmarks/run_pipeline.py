"""Model-only FPS vs end-to-end `seg run` FPS on a real video (goal: end-to-end >= 0.9x).

    python benchmarks/run_pipeline.py [--models A.onnx B.onnx] [--video PATH] [--imgsz 256] [--frames 120] [--tag T]

Model-only: `session.run` alone on the preprocessed first frame, repeated. End to end: the
threaded pipeline (decode -> pre/infer/post -> overlay + encode to mp4) over the video. The two
are measured alternately, three rounds, and medians are reported, so machine noise hits both.
Without --models: simple_unet's fp32 export in benchmarks/.runs (exported first if needed, random
init without a checkpoint) and, when exported, its e2e int8 graph (the edge fast path).
Writes benchmarks/results/<cpu class>/run_pipeline.json.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

from results_io import save
from seg.machine import machine_info  # noqa: E402
from seg.infer import Segmenter  # noqa: E402
from seg.infer.pipeline import run_pipeline  # noqa: E402
from seg.infer.sources import VideoSource  # noqa: E402

VIDEO = HERE.parent.parent / "shared" / "real-media" / "video" / "bikes.mp4"


def default_model() -> Path:
    path = HERE / ".runs" / "simple_unet" / "simple_unet.onnx"
    if not path.is_file():
        from seg.export import export_checkpoint

        trained = (HERE / ".runs" / "simple_unet" / "best.pt").is_file()
        export_checkpoint("simple_unet", out=path, runs=HERE / ".runs", random_init=not trained)
    return path


def model_only_fps(seg: Segmenter, frame, n: int) -> float:
    """session.run alone, at the model's input size: an e2e graph that sizes frames itself is fed
    the frame already at that size (its resize then a 1.2 ms copy at 924x520, argmax included)."""
    x = seg.preprocess(frame)
    if seg.graph_rule:
        from seg.infer.preprocess import resize_antialias

        x = resize_antialias(frame, seg.graph_rule.of(*frame.shape[:2]))[None]
    for _ in range(3):
        seg.infer(x)
    times = []
    for _ in range(n):
        t = time.perf_counter()
        seg.infer(x)
        times.append(time.perf_counter() - t)
    return 1.0 / statistics.median(times)


def measure(model: Path, args, first) -> dict:
    seg = Segmenter(model, provider="auto", imgsz=None if args.imgsz < 0 else args.imgsz)
    rounds = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.rounds):
            m = model_only_fps(seg, first, args.frames)
            s = run_pipeline(seg, VideoSource(str(args.video)), out_video=Path(tmp) / "o.mp4", max_frames=args.frames)
            rounds.append({"model_only_fps": m, "end_to_end_fps": s.fps, "stages_ms": s.stage_stats()})
            print(f"{model.name}: model-only {m:.1f} FPS, end-to-end {s.fps:.1f} FPS ({s.fps / m:.2f}x)", flush=True)
    mo = statistics.median(r["model_only_fps"] for r in rounds)
    e2e = statistics.median(r["end_to_end_fps"] for r in rounds)
    return {"file": model.name, "model": seg.meta.get("model"), "precision": seg.precision, "e2e": seg.e2e,
            "input": list(seg.input_size(*first.shape[:2])), "size_rule": seg.size_rule(),
            "weights": seg.meta.get("weights"), "provider": seg.provider,
            "model_only_fps": mo, "end_to_end_fps": e2e, "ratio": e2e / mo, "rounds": rounds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", type=Path, nargs="+",
                    help="default: simple_unet's fp32 export and its e2e int8 graph (when exported) in benchmarks/.runs")
    ap.add_argument("--video", type=Path, default=VIDEO)
    ap.add_argument("--imgsz", type=int, default=256, help="-1: each model's own default (seg run without --imgsz)")
    ap.add_argument("--tag", default="", help="saved as run_pipeline_<tag>.json")
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    models = args.models or [default_model()]
    fast = HERE / ".runs" / "simple_unet" / "simple_unet.e2e.int8.onnx"
    if not args.models and fast.is_file():
        models.append(fast)
    first = next(iter(VideoSource(str(args.video))))[1]
    rows = [measure(m, args, first) for m in models]
    h, w = first.shape[:2]
    save("run_pipeline" + (f"_{args.tag}" if args.tag else ""), {
        "benchmark": "run_pipeline", "machine": machine_info(), "video": args.video.name, "frame_size": [w, h],
        "imgsz": args.imgsz, "frames": args.frames, "rows": rows,
    })
    for r in rows:
        print(f"{r['file']}: median model-only {r['model_only_fps']:.1f} FPS, end-to-end {r['end_to_end_fps']:.1f} FPS, "
              f"ratio {r['ratio']:.2f}")


if __name__ == "__main__":
    main()
