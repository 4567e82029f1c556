"""The edge runtime (`pip install seg-onnx`) against the full install (`pip install "seg-onnx[train]"`).

    python benchmarks/runtime_install.py [--full .venv] [--runtime .venv-runtime] [--minutes 1]

Run it with the full venv's Python. The runtime venv is built fresh (`python3 -m venv` then
`pip install .` from this checkout) unless --runtime names one that exists. Measures:

- size on disk and number of packages of each venv, and whether torch imports there;
- start-up: launching `seg run` on one photo until its overlay is written (and until exit), for a
  small model on the CPU, median of --runs launches per venv, interleaved;
- `seg eval` of the exported .onnx (in the runtime venv) against `seg eval` of its checkpoint (full
  venv) on the same split: the mIoU difference (goal <= 1e-3), for simple_unet trained --minutes.

Writes benchmarks/results/<cpu class>/runtime_install.json (the README's "Install" table comes from it).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def venv_bytes(venv: Path) -> int:
    total = 0
    for dirpath, _, files in os.walk(venv):
        for f in files:
            p = Path(dirpath) / f
            if not p.is_symlink():
                total += p.stat().st_size
    return total


def packages(venv: Path) -> list[str]:
    out = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "list", "--format=json"], capture_output=True,
                         text=True, check=True).stdout
    return sorted(p["name"] for p in json.loads(out))


def has_torch(venv: Path) -> bool:
    return subprocess.run([str(venv / "bin" / "python"), "-c", "import torch"], capture_output=True).returncode == 0


def launch_to_first_frame(venv: Path, model: Path, image: Path, out: Path) -> tuple[float, float]:
    """(seconds until the overlay file exists, seconds until the process exits) for one `seg run`."""
    shutil.rmtree(out, ignore_errors=True)
    target = out / f"{image.stem}.jpg"
    t0 = time.perf_counter()
    proc = subprocess.Popen([str(venv / "bin" / "seg"), "run", "--model", str(model), "--images", str(image),
                             "--out", str(out), "--provider", "cpu"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    first = None
    while proc.poll() is None:
        if first is None and target.exists():
            first = time.perf_counter() - t0
        time.sleep(0.002)
    done = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"seg run failed in {venv}: {proc.stderr.read().decode()[-500:]}")
    return (first if first is not None else done), done


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--full", type=Path, default=ROOT / ".venv")
    ap.add_argument("--runtime", type=Path, default=ROOT / ".venv-runtime")
    ap.add_argument("--minutes", type=float, default=1.0, help="training budget of the model whose evals are compared")
    ap.add_argument("--runs", type=int, default=5, help="launches per venv for the start-up time")
    args = ap.parse_args()

    from seg.data.synth import SynthConfig, generate
    from seg.export import export_checkpoint
    from seg.machine import machine_info
    from seg.train import TrainConfig, evaluate_checkpoint, train

    install_s = None
    if not args.runtime.exists():
        t = time.perf_counter()
        subprocess.run(["python3", "-m", "venv", str(args.runtime)], check=True)
        subprocess.run([str(args.runtime / "bin" / "pip"), "install", "-q", str(ROOT)], check=True)
        install_s = time.perf_counter() - t
    venvs = {"runtime": args.runtime, "full": args.full}
    sizes = {k: {"bytes": venv_bytes(v), "packages": len(packages(v)), "torch": has_torch(v)} for k, v in venvs.items()}

    work = HERE / ".runs-runtime"
    data = generate(work / "data", SynthConfig(val=50), progress=False).parents[1]
    ckpt = work / "runs" / "simple_unet" / "best.pt"
    if not ckpt.is_file():
        train(TrainConfig(model="simple_unet", data=str(data), out=str(work / "runs"), time_budget_min=args.minutes),
              progress=False, log=print)
    onnx_path = work / "runs" / "simple_unet" / "simple_unet.onnx"
    export_checkpoint("simple_unet", runs=work / "runs", out=onnx_path)
    m_ckpt, _ = evaluate_checkpoint(ckpt, data, "val", device="cpu", progress=False)
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([str(args.runtime / "bin" / "seg"), "eval", "--model", str(onnx_path), "--data", str(data),
                        "--provider", "cpu", "--json", f"{d}/v.json"], check=True, capture_output=True)
        m_onnx = json.loads(Path(d, "v.json").read_text())

        photo = next((ROOT.parent / "shared" / "real-media" / "VOCdevkit" / "VOC2012" / "JPEGImages").glob("*.jpg"), None)
        if photo is None:  # no ../shared: one synthetic image instead
            photo = data / "VOCdevkit" / "VOC2007" / "JPEGImages" / "val_000000.jpg"
        for name, venv in venvs.items():  # warm the page cache once per venv
            launch_to_first_frame(venv, onnx_path, photo, Path(d) / name)
        times: dict[str, list[tuple[float, float]]] = {k: [] for k in venvs}
        for _ in range(args.runs):
            for name, venv in venvs.items():  # interleaved
                times[name].append(launch_to_first_frame(venv, onnx_path, photo, Path(d) / name))

    startup = {k: {"first_frame_s": statistics.median(t[0] for t in v), "exit_s": statistics.median(t[1] for t in v)}
               for k, v in times.items()}
    result = {
        "machine": machine_info(), "python": sys.version.split()[0], "runtime_install_s": install_s,
        "sizes": sizes, "startup": startup, "startup_runs": args.runs, "startup_model": onnx_path.name,
        "startup_image": photo.name,
        "eval": {"model": "simple_unet", "minutes": args.minutes, "split": "val", "images": 50,
                 "checkpoint_miou": m_ckpt.miou, "onnx_miou": m_onnx["miou"],
                 "miou_diff": abs(m_ckpt.miou - m_onnx["miou"]),
                 "checkpoint_pixel_acc": m_ckpt.pixel_acc, "onnx_pixel_acc": m_onnx["pixel_acc"]},
    }
    from results_io import save

    save("runtime_install", result)
    print(json.dumps({k: result[k] for k in ("sizes", "startup", "eval")}, indent=1))


if __name__ == "__main__":
    main()
