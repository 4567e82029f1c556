"""Where a model's CPU time goes, by kind of op, and how close each kind runs to the machine's peak.

    python benchmarks/op_profile.py --models A.onnx [B.onnx ...] [--size 512 512] [--runs 5] [--tag T]

ONNX Runtime's own profiler (kernel time per node, with its input and output shapes) on the CPU
provider, at seg's session settings. Nodes are grouped into dense convolutions (GEMM-shaped work),
depthwise convolutions (one 3x3 or 5x5 filter per channel: 9-25 multiply-adds per value loaded,
so memory-bound) and everything else (activations, squeeze-excite scaling, resize, adds,
quantise/dequantise). Each group's FLOPs come from the shapes; its GOP/s is set against the GEMM
peak of its arithmetic (seg.roofline). Also the whole graph's latency at each graph
optimisation level (`basic`, `extended`, `all`: `all` adds ONNX Runtime's NCHWc layout).
Writes benchmarks/results/<cpu class>/op_profile[_<tag>].json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import onnxruntime as ort

from results_io import save
from seg.infer.session import create_session
from seg.machine import machine_info
from seg.metadata import is_e2e, read_meta
from seg.roofline import measure_peaks

CONV_OPS = {"Conv", "FusedConv", "QLinearConv", "ConvInteger", "NhwcConv", "NhwcFusedConv"}


def _shapes(arg) -> list[list[int]]:
    return [next(iter(d.values())) for d in arg or []]


def classify(event: dict) -> tuple[str, float]:
    """(group, FLOPs) of one profiled node: FLOPs = 2 x output values x multiply-adds per value.

    fp32 convs show their weights' shape [M, C/groups, kh, kw]. int8 QLinearConvs in ONNX Runtime's
    NHWC layout have their weights pre-packed (the profile shows no weight shape): they are one
    group, "int8 conv", whose FLOPs are those of the same model's fp32 convs (see main)."""
    a = event["args"]
    op = a.get("op_name", "?")
    if op in CONV_OPS:
        ins, outs = _shapes(a.get("input_type_shape")), _shapes(a.get("output_type_shape"))
        weights = next((s for s in ins[1:] if len(s) == 4), None)
        if weights is not None and outs:
            macs_per_out = int(np.prod(weights[1:]))  # (C / groups) x kh x kw
            flops = 2.0 * float(np.prod(outs[0])) * macs_per_out
            return ("depthwise conv" if weights[1] == 1 else "dense conv"), flops
        if op == "QLinearConv":
            return "int8 conv", 0.0
    return f"other: {op}", 0.0


def profile(path: Path, size: tuple[int, int], runs: int, opt_level: str = "all") -> dict:
    meta = read_meta(path)
    e2e = is_e2e(meta)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (1, *size, 3), dtype=np.uint8) if e2e else rng.standard_normal((1, 3, *size), np.float32)
    with tempfile.TemporaryDirectory() as d:
        sess = create_session(path, "cpu", opt_level=opt_level, spinning=False, profile=str(Path(d) / "p"))[0]
        name = sess.get_inputs()[0].name
        for _ in range(2):
            sess.run(None, {name: x})
        t0 = time.perf_counter()
        for _ in range(runs):
            sess.run(None, {name: x})
        ms = (time.perf_counter() - t0) / runs * 1e3
        events = json.loads(Path(sess.end_profiling()).read_text())
    groups: dict[str, dict[str, float]] = defaultdict(lambda: {"us": 0.0, "flops": 0.0, "nodes": 0})
    node_events = [e for e in events if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time")]
    for e in node_events[-len(node_events) * runs // (runs + 2):]:  # the timed runs, not the warm-up
        g, flops = classify(e)
        groups[g]["us"] += e["dur"] / runs
        groups[g]["flops"] += flops / runs
        groups[g]["nodes"] += 1 / runs
    return {"ms": ms, "groups": dict(groups)}


def latency(path: Path, size: tuple[int, int], runs: int, level: str) -> float:
    meta = read_meta(path)
    e2e = is_e2e(meta)
    x = np.zeros((1, *size, 3), np.uint8) if e2e else np.zeros((1, 3, *size), np.float32)
    sess = create_session(path, "cpu", opt_level=level, spinning=False)[0]
    name = sess.get_inputs()[0].name
    sess.run(None, {name: x})
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        sess.run(None, {name: x})
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", type=Path, nargs="+", required=True)
    ap.add_argument("--size", type=int, nargs=2, default=(512, 512))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--tag", default="")
    args = ap.parse_args()
    size = tuple(args.size)
    peaks = measure_peaks()
    rows = []
    for path in args.models:
        meta = read_meta(path)
        precision = meta.get("precision", "fp32")
        peak = peaks["int8" if precision == "int8" else "fp32"]
        p = profile(path, size, args.runs)
        total_us = sum(g["us"] for g in p["groups"].values())
        kinds = {}
        for g, v in sorted(p["groups"].items(), key=lambda kv: -kv[1]["us"]):
            key = g if g in ("dense conv", "depthwise conv", "int8 conv") else "other"
            k = kinds.setdefault(key, {"ms": 0.0, "gflops": 0.0, "nodes": 0, "ops": {}})
            k["ms"] += v["us"] / 1e3
            k["gflops"] += v["flops"] / 1e9
            k["nodes"] += round(v["nodes"])
            if key == "other":
                k["ops"][g.removeprefix("other: ")] = round(v["us"] / 1e3, 2)
        fp32_row = next((r for r in rows if r["model"] == meta.get("model") and r["precision"] == "fp32"), None)
        if "int8 conv" in kinds and fp32_row:  # the same convolutions as the fp32 graph's
            kinds["int8 conv"]["gflops"] = sum(fp32_row["kinds"].get(k, {}).get("gflops", 0.0)
                                               for k in ("dense conv", "depthwise conv"))
        for k in kinds.values():
            k["share"] = k["ms"] * 1e3 / total_us if total_us else 0.0
            k["gops_per_s"] = k["gflops"] / (k["ms"] / 1e3) if k["ms"] else 0.0
            k["pct_peak"] = k["gops_per_s"] / peak if peak else None
        levels = {lv: latency(path, size, args.runs, lv) for lv in ("basic", "extended", "all")}
        row = {"file": path.name, "model": meta.get("model"), "precision": precision,
               "e2e": is_e2e(meta), "ms": p["ms"], "kernel_ms": total_us / 1e3, "kinds": kinds,
               "opt_levels_ms": levels, "peak_gops": peak}
        rows.append(row)
        print(f"{path.name}: {p['ms']:.1f} ms; " + "; ".join(
            f"{k} {v['share']:.0%} of kernel time, {v['gops_per_s']:.0f} GOP/s" for k, v in kinds.items())
            + f"; levels {', '.join(f'{lv} {ms:.1f}' for lv, ms in levels.items())} ms", flush=True)
    save("op_profile" + (f"_{args.tag}" if args.tag else ""),
         {"benchmark": "op_profile", "machine": machine_info(), "size": list(size), "runs": args.runs,
          "peaks": peaks, "onnxruntime": ort.__version__, "rows": rows})


if __name__ == "__main__":
    main()
