"""Rebuild the README's result tables from benchmarks/results/*.json (never typed by hand).

Each table sits between `<!-- BEGIN name -->` and `<!-- END name -->` markers in README.md.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

from seg.machine import describe  # noqa: E402

README = HERE.parent / "README.md"


def _result(name: str) -> tuple[Path, dict]:
    path = HERE / "results" / f"{name}.json"
    return path, json.loads(path.read_text())


def _caption(path: Path, r: dict, rest: str) -> str:
    """"`benchmarks/results/X.json` — <machine>; ONNX Runtime <version>; <rest>"."""
    return f"`{path.relative_to(HERE.parent)}` — {describe(r['machine'])}; ONNX Runtime {r['machine'].get('onnxruntime')}; {rest}"


def train_budget_table() -> str:
    parts = []
    for path in sorted((HERE / "results").glob("train_budget*.json")):
        res = json.loads(path.read_text())
        lines = [
            f"`{path.relative_to(HERE.parent)}` — {describe(res['machine'])}; synthetic set "
            f"{res['data']['synth']['train']} train / {res['data']['synth']['val']} val images, "
            f"{res['data']['synth']['size']} px wide.",
            "",
            "| model | budget (min) | best val mIoU | val pixel acc | epochs | train img/s | crop | precision | class weights |",
            "|---|---:|---:|---:|---:|---:|---:|---|---|",
        ]
        for r in res["rows"]:
            lines.append(
                f"| {r['model']} | {r['minutes']:g} | {r['best_val_miou']:.3f} | {r['best_val_pixel_acc']:.3f} | "
                f"{r['epochs']} | {r['train_images_per_s']:.1f} | {r['crop_size']} | "
                f"{r['precision']} | {r.get('class_weights', 'none')} |"
            )
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def run_pipeline_table() -> str:
    path, r = _result("run_pipeline")
    lines = [
        _caption(path, r, f"`{r['video']}` ({r['frame_size'][0]}x{r['frame_size'][1]}), model input {r['imgsz']} px, {r['frames']} frames, "
        f"median of {len(r['rows'][0]['rounds'])} alternating rounds; stage columns are mean ms per frame."),
        "",
        "| model file | provider | model-only FPS | end-to-end FPS | ratio (goal >= 0.9) | decode | pre | infer | post | encode |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for x in r["rows"]:
        stages = x["rounds"][len(x["rounds"]) // 2]["stages_ms"]
        lines.append(f"| {x['file']} ({x['weights']}) | {x['provider']} | {x['model_only_fps']:.1f} | {x['end_to_end_fps']:.1f} | "
                     f"{x['ratio']:.2f} | " + " | ".join(f"{stages[s]['mean']:.1f}" for s in ("decode", "pre", "infer", "post", "encode"))
                     + " |")
    return "\n".join(lines)


def bench_table() -> str:
    from seg.reporting import markdown_table

    path, r = _result("bench")
    return f"`{path.relative_to(HERE.parent)}` — " + markdown_table(r)


def quant_formats_table() -> str:
    path, r = _result("quant_formats")
    lines = [
        _caption(path, r, f"input 1x3x{r['size'][0]}x{r['size'][1]}, median of {r['runs']} interleaved runs; calibration "
        f"{r['calib_images']} synthetic train images, mIoU on {r['val_images']} val images."),
        "",
        "| model | format | activations | deconvs | float ops | fp32 ms | int8 ms | speed-up | fp32 mIoU | int8 mIoU | change (points) "
        "| label agreement |",
        "|---|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for x in r["rows"]:
        deconv = "sub-pixel conv" if x.get("subpixel", True) else "ConvTranspose (float)"
        lines.append(f"| {x['model']} | {x['format']} | {x['activation']} | {deconv} | {', '.join(x['exclude_ops']) or '-'} | "
                     f"{x['fp32_ms']:.1f} | {x['int8_ms']:.1f} | "
                     f"{x['speedup_vs_fp32']:.2f}x | {x['fp32_miou']:.4f} | {x['int8_miou']:.4f} | "
                     f"{-x['drop_points']:+.2f} | {x['label_agreement']:.2%} |")
    return "\n".join(lines)


def edge_speed_table() -> str:
    path, r = _result("edge_speed")
    lines = [
        _caption(path, r, f"host share on `{r['video']}` ({r['frame_size'][1]}x{r['frame_size'][0]}), model input {r['imgsz']} px, "
        f"median of {r['frames']} frames; int8 vs fp32 labels on the real VOC2012 photos of ../shared/real-media."),
        "",
        "| model | int8 guardrail (synthetic val): fp32 -> int8 mIoU | int8 vs fp32 labels, real photos "
        "| fp32 plain: host ms / model ms (share) | e2e int8: host ms / model ms (share, goal <= 10%) |",
        "|---|---:|---:|---:|---:|",
    ]
    for x in r["rows"]:
        g = x["guardrail"] or {}
        a, b = x["plain_fp32"], x["e2e_int8"]
        lines.append(
            f"| {x['model']} | {g.get('fp32_miou', float('nan')):.4f} -> {g.get('miou', float('nan')):.4f} "
            f"({-g.get('drop_points', float('nan')):+.2f}) | {x['real_label_agreement_int8']:.2%} | "
            f"{a['pre_ms'] + a['post_ms']:.1f} / {a['infer_ms']:.1f} ({a['host_share']:.1%}) | "
            f"{b['pre_ms'] + b['post_ms']:.1f} / {b['infer_ms']:.1f} ({b['host_share']:.1%}) |")
    return "\n".join(lines)


def session_tuning_table() -> str:
    path, r = _result("session_tuning")
    cfgs = r["configs"]
    lines = [
        _caption(path, r, f"input 1x3x{r['size'][0]}x{r['size'][1]}, median ms of {r['runs']} interleaved runs per threads-level setting; "
        "session start-up ms without / with the saved optimised graph."),
        "",
        "| model | precision | " + " | ".join(cfgs) + " | start | start from saved graph |",
        "|---|---|" + "---:|" * (len(cfgs) + 2),
    ]
    for x in r["rows"]:
        lines.append(f"| {x['model']} | {x['precision']} | " + " | ".join(f"{x['latency_ms'][c]:.1f}" for c in cfgs)
                     + f" | {x['start_ms']:.0f} | {x['start_ms_from_saved']:.0f} |")
    return "\n".join(lines)


def runtime_install_table() -> str:
    path, r = _result("runtime_install")
    sz, st, ev = r["sizes"], r["startup"], r["eval"]
    lines = [
        _caption(path, r, f"start-up = launching `seg run` on one photo ({r['startup_image']}, model "
        f"`{r['startup_model']}`, CPU) until its overlay is written, median of {r['startup_runs']} launches per venv, "
        "interleaved."),
        "",
        "| install | size on disk | packages | torch | start-up to first frame | to exit |",
        "|---|---:|---:|---|---:|---:|",
    ]
    for k, what in (("runtime", "`pip install seg` (runtime)"), ("full", '`pip install "seg[train,dev]"` (full)')):
        lines.append(f"| {what} | {sz[k]['bytes'] / 1e9:.2f} GB | {sz[k]['packages']} | "
                     f"{'yes' if sz[k]['torch'] else 'no'} | {st[k]['first_frame_s']:.2f} s | {st[k]['exit_s']:.2f} s |")
    lines += ["", f"Runtime / full size: {sz['runtime']['bytes'] / sz['full']['bytes']:.1%}. `seg eval` of "
              f"{ev['model']} ({ev['minutes']:g} min of training) on {ev['images']} synthetic {ev['split']} images: "
              f"checkpoint mIoU {ev['checkpoint_miou']:.4f}, its .onnx in the runtime venv {ev['onnx_miou']:.4f} "
              f"(difference {ev['miou_diff']:.1e}; goal <= 1e-3)."]
    return "\n".join(lines)


TABLES = {"runtime_install": runtime_install_table, "train_budget": train_budget_table, "run_pipeline": run_pipeline_table, "bench": bench_table,
          "quant_formats": quant_formats_table, "edge_speed": edge_speed_table, "session_tuning": session_tuning_table}


def main() -> None:
    text = README.read_text()
    for name, make in TABLES.items():
        pattern = re.compile(rf"(<!-- BEGIN {name} -->\n).*?(<!-- END {name} -->)", re.S)
        if not pattern.search(text):
            sys.exit(f"README.md has no <!-- BEGIN {name} --> ... <!-- END {name} --> markers")
        text = pattern.sub(lambda m, t=make(): m.group(1) + t + "\n" + m.group(2), text)
    README.write_text(text)
    print(f"updated {README}")


if __name__ == "__main__":
    main()
