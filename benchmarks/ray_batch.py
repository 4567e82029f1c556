"""`seg batch` on Ray against `seg run` over the same 500 photos, and a simulated 2-node cluster.

    python benchmarks/ray_batch.py [--model FILE.onnx] [--images 500] [--actors 2]

The photos are the 13 real VOC photos of ../shared/real-media copied to 500 files. Measured, in
one process each, alternately: `seg run --folder` (one session, the pipeline's threads) and
`seg batch` on a local Ray (start-up reported apart), then `seg batch` on a
`ray.cluster_utils.Cluster` of 2 nodes sharing this machine's cores (it cannot scale here: the
figure shows Ray's overhead, not a second machine's help). Writes
benchmarks/results/<cpu class>/ray_batch.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PHOTOS = HERE.parent.parent / "shared" / "real-media" / "VOCdevkit" / "VOC2012" / "JPEGImages"

from results_io import save  # noqa: E402
from seg.machine import machine_info  # noqa: E402

SEG = [sys.executable, "-m", "seg.cli"]


def timed(cmd: list[str]) -> tuple[float, str]:
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return time.perf_counter() - t, r.stdout


def two_nodes(model: Path, photos: Path, out: Path, actors: int) -> dict:
    import ray
    from ray.cluster_utils import Cluster

    from seg.batch import run_batch

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=1)
    try:
        t = time.perf_counter()
        ray.init(address=cluster.address, log_to_driver=False, logging_level="ERROR")
        cluster.wait_for_nodes()
        s = run_batch(model, [str(photos)], out, actors=actors, cpus_per_actor=0.5)
        return {"wall_s": time.perf_counter() - t, "work_s": s.wall_s - s.startup_s, "rows": s.rows}
    finally:
        ray.shutdown()
        cluster.shutdown()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=HERE / ".runs" / "lraspp_mobilenet_v3_large" /
                    "lraspp_mobilenet_v3_large.e2e.onnx")
    ap.add_argument("--images", type=int, default=500)
    ap.add_argument("--actors", type=int, default=2)
    args = ap.parse_args()
    src = sorted(PHOTOS.glob("*.jpg"))
    with tempfile.TemporaryDirectory() as d:
        photos = Path(d) / "photos"
        photos.mkdir()
        for k in range(args.images):
            shutil.copy(src[k % len(src)], photos / f"{k:05d}.jpg")
        run_s, _ = timed(SEG + ["run", "--model", str(args.model), "--folder", str(photos), "--out", f"{d}/run",
                                "--provider", "cpu"])
        batch_s, out = timed(SEG + ["batch", str(photos), "--model", str(args.model), "--out", f"{d}/batch",
                                    "--actors", str(args.actors), "--provider", "cpu"])
        rows = [json.loads(x) for x in (Path(d) / "batch" / "manifest.jsonl").read_text().splitlines()]
        startup = float(out.split("Ray up in ")[1].split(" s")[0])
        nodes = two_nodes(args.model, photos, Path(d) / "two", args.actors)
    result = {
        "machine": machine_info(), "model": args.model.name, "images": args.images, "actors": args.actors,
        "seg_run": {"wall_s": run_s, "images_per_s": args.images / run_s},
        "seg_batch": {"wall_s": batch_s, "ray_startup_s": startup, "images_per_s": args.images / batch_s,
                      "images_per_s_after_startup": args.images / (batch_s - startup), "rows": len(rows)},
        "two_nodes": {**nodes, "images_per_s": args.images / nodes["wall_s"]},
        "timed": "wall time of each whole command (Python start-up, model load, Ray start included), one run each",
    }
    result["ratio"] = result["seg_batch"]["images_per_s"] / result["seg_run"]["images_per_s"]
    result["ratio_after_startup"] = result["seg_batch"]["images_per_s_after_startup"] / result["seg_run"]["images_per_s"]
    save("ray_batch", result)
    print(json.dumps({k: v for k, v in result.items() if k != "machine"}, indent=1))


if __name__ == "__main__":
    main()
