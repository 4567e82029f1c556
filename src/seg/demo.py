"""``seg demo``: the whole tool on a fresh install, nothing downloaded, in a few CPU minutes.

Synthetic data and video -> train the four models within a time budget -> export each to ONNX
with verification -> segment the video with one of them -> the bench table (fp32 and the
end-to-end graph ``--precision auto`` picks on this CPU, against PyTorch).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from seg.data.synth import SynthConfig, generate, write_video
from seg.models import SEED_MODELS

# Share of the training budget per model: simple_unet learns fastest per CPU second (see the
# training table in docs/training.md) and is the one the demo runs on the video, so it gets the most: on a
# CPU without native bf16 (the avx2 class) it trains in fp32, about 4x slower than with bf16.
SHARES = {"baseline_fcn": 0.1, "simple_unet": 0.55, "resnet_fcn": 0.1, "unet": 0.25}


def demo(minutes: float = 10.0, root: Path = Path("runs/demo"), log: Callable[[str], None] = print,
         quick: bool = False) -> dict[str, Any]:
    """Run the demo under ``root``; returns the bench result. ``quick`` shrinks data and sizes
    (the test suite's smoke run)."""
    from seg.bench import bench
    from seg.bench_entries import prepare
    from seg.reporting import write_outputs
    from seg.export import export_checkpoint
    from seg.infer import Segmenter
    from seg.infer.pipeline import run_pipeline
    from seg.infer.sources import VideoSource
    from seg.train import TrainConfig, train

    root = Path(root)
    data = root / "data"
    # 50 val images (not 100): per-epoch eval, the int8 guardrail and per-engine mIoU all read them.
    # quick: every stage at the smallest size that runs it (int8 calibration and the guardrail read
    # every image of the splits, four times per model under --precision auto).
    synth = SynthConfig(train=16, val=4, size=64) if quick else SynthConfig(val=50)
    log(f"1/5 synthetic data ({synth.train} train / {synth.val} val) and video -> {data}")
    generate(data, synth, progress=False)
    video = write_video(data / "demo.mp4", frames=12 if quick else 90, width=128 if quick else 320,
                        height=96 if quick else 240, progress=False)
    train_minutes = 0.6 * minutes  # the rest: export (fp32 and e2e int8), run, bench
    runs = root / "runs"
    for name in SEED_MODELS:
        budget = train_minutes * SHARES[name]
        log(f"2/5 training {name} for {budget:.1f} min")
        train(TrainConfig(model=name, data=str(data), out=str(runs), time_budget_min=budget,
                          batch_size=4 if quick else 8, backbone_weights="none" if name == "resnet_fcn" else None),
              progress=False, log=lambda m: log("    " + m) if m.startswith("best") else None)
    for name in SEED_MODELS:
        log(f"3/5 exporting {name} (with verification)")
        shapes = ((2, 3, 64, 64), (1, 3, 97, 131)) if quick else ((2, 3, 128, 128), (1, 3, 97, 131), (1, 3, 160, 120))
        export_checkpoint(name, runs=runs, verify_shapes=shapes)
    seg = Segmenter(runs / "simple_unet" / "simple_unet.onnx", imgsz=synth.size)
    out_video = runs / "predict" / "demo" / "demo.mp4"
    summary = run_pipeline(seg, VideoSource(str(video)), out_video=out_video, masks_dir=runs / "predict" / "demo" / "masks")
    log(f"4/5 simple_unet over {video}: {summary.frames} frames, {summary.fps:.1f} FPS end to end -> {out_video}")
    log("5/5 bench")
    size = (64, 64) if quick else (synth.size, synth.size)
    # fp32 and the edge fast path (e2e, int8 or fp32, whichever is faster on this CPU and passes its
    # guardrail: --precision auto) vs PyTorch eager and bf16.
    prepared = prepare(list(SEED_MODELS), runs, variants=("fp32", "e2e.auto"), data=data, log=log)
    result = bench(prepared, data=data, size=size, n_runs=3 if quick else 10, warmup=1)
    write_outputs(result, json_path=root / "bench.json", md_path=root / "bench.md", plot_path=root / "bench.png")
    # The table is the caller's to show (seg demo draws it as seg bench does, fitted to the terminal).
    result["demo_outputs"] = (f"outputs: checkpoints and ONNX models in {runs}/<model>/, overlay video {out_video}, "
                              f"bench {root}/bench.*")
    return result
