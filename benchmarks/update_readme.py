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
    path = HERE / "results" / "run_pipeline.json"
    r = json.loads(path.read_text())
    stages = r["rounds"][len(r["rounds"]) // 2]["stages_ms"]
    return "\n".join([
        f"`{path.relative_to(HERE.parent)}` — {describe(r['machine'])}; ONNX Runtime {r['machine'].get('onnxruntime')} "
        f"({r['provider']} provider); {r['model']} ({r['weights']} weights) on `{r['video']}` "
        f"({r['frame_size'][0]}x{r['frame_size'][1]}), model input {r['imgsz']} px, {r['frames']} frames, "
        f"median of {len(r['rounds'])} alternating rounds.",
        "",
        "| model-only FPS | end-to-end FPS | ratio (goal >= 0.9) | decode ms | pre ms | infer ms | post ms | encode ms |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {r['model_only_fps']:.1f} | {r['end_to_end_fps']:.1f} | {r['ratio']:.2f} | "
        + " | ".join(f"{stages[s]['mean']:.1f}" for s in ("decode", "pre", "infer", "post", "encode")) + " |",
    ])


def bench_table() -> str:
    from seg.bench import markdown_table

    path = HERE / "results" / "bench.json"
    return f"`{path.relative_to(HERE.parent)}` — " + markdown_table(json.loads(path.read_text()))


TABLES = {"train_budget": train_budget_table, "run_pipeline": run_pipeline_table, "bench": bench_table}


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
