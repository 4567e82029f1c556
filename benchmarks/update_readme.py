"""Rebuild the result tables of README.md and docs/*.md from benchmarks/results/<class>/*.json (never typed by hand).

Each table sits between `<!-- BEGIN name -->` and `<!-- END name -->` markers in one of the pages, where it is read, and is
drawn once per CPU class that has a result, each captioned with its class and CPU: a figure is
never shown without the machine class it came from. Why ~340 lines in one script: one short
builder per generated table, each beside the others so that their captions stay alike.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent

from results_io import load  # noqa: E402
from seg.machine import describe  # noqa: E402

README = HERE.parent / "README.md"


def _caption(path: Path, r: dict, rest: str) -> str:
    """"`benchmarks/results/<class>/X.json` — class <class>: <machine>; ONNX Runtime <version>; <rest>"."""
    return f"`{path.relative_to(HERE.parent)}` — {describe(r['machine'])}; ONNX Runtime {r['machine'].get('onnxruntime')}; {rest}"


def train_budget_table(path: Path, res: dict) -> str:
    lines = [
        f"`{path.relative_to(HERE.parent)}` — {describe(res['machine'], torch_side=True)}; synthetic set "
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
    return "\n".join(lines)


def run_pipeline_table(path: Path, r: dict) -> str:
    lines = [
        _caption(path, r, f"`{r['video']}` ({r['frame_size'][0]}x{r['frame_size'][1]}), model input "
        f"{r['rows'][0].get('size_rule') or str(r['imgsz']) + ' px'}"
        f"{' = ' + 'x'.join(map(str, r['rows'][0]['input'][::-1])) if r['rows'][0].get('input') else ''}, {r['frames']} frames, "
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


def bench_table(path: Path, r: dict) -> str:
    from seg.reporting import markdown_table

    return f"`{path.relative_to(HERE.parent)}` — " + markdown_table(r)


def quant_formats_table(path: Path, r: dict) -> str:
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


def edge_speed_table(path: Path, r: dict) -> str:
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


def session_tuning_table(path: Path, r: dict) -> str:
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


def runtime_install_table(path: Path, r: dict) -> str:
    sz, st, ev = r["sizes"], r["startup"], r["eval"]
    lines = [
        _caption(path, r, f"start-up = launching `seg run` on one photo ({r['startup_image']}, model "
        f"`{r['startup_model']}`, CPU) until its overlay is written, median of {r['startup_runs']} launches per venv, "
        "interleaved."),
        "",
        "| install | size on disk | packages | torch | start-up to first frame | to exit |",
        "|---|---:|---:|---|---:|---:|",
    ]
    for k, what in (("runtime", "`pip install seg-onnx` (runtime)"), ("full", '`pip install "seg-onnx[train,dev]"` (full)')):
        lines.append(f"| {what} | {sz[k]['bytes'] / 1e9:.2f} GB | {sz[k]['packages']} | "
                     f"{'yes' if sz[k]['torch'] else 'no'} | {st[k]['first_frame_s']:.2f} s | {st[k]['exit_s']:.2f} s |")
    lines += ["", f"Runtime / full size: {sz['runtime']['bytes'] / sz['full']['bytes']:.1%}. `seg eval` of "
              f"{ev['model']} ({ev['minutes']:g} min of training) on {ev['images']} synthetic {ev['split']} images: "
              f"checkpoint mIoU {ev['checkpoint_miou']:.4f}, its .onnx in the runtime venv {ev['onnx_miou']:.4f} "
              f"(difference {ev['miou_diff']:.1e}; goal <= 1e-3)."]
    return "\n".join(lines)


def auto_precision_table(path: Path, r: dict) -> str:
    names = ("fp32", "int8", "int8, merge ops in float")
    lines = [
        _caption(path, r, f"`seg export --precision auto --e2e`: each candidate's median ms per frame as `seg run` "
                 f"runs it (longer side {r['imgsz']} px, CPU provider, 3 interleaved rounds), int8 guarded on the "
                 "synthetic val split."),
        "",
        "| model | " + " | ".join(f"{n} ms" for n in names) + " | chosen | int8 speed-up |",
        "|---|" + "---:|" * len(names) + "---|---:|",
    ]
    for x in r["rows"]:
        c = {k["name"]: k for k in x["candidates"]}

        def cell(n: str) -> str:
            if n not in c:
                return "-"
            return f"{c[n]['ms']:.1f}" if "ms" in c[n] else "refused"
        best_int8 = min((c[n]["ms"] for n in names[1:] if "ms" in c.get(n, {})), default=None)
        speed = f"{c['fp32']['ms'] / best_int8:.2f}x" if best_int8 else "-"
        lines.append(f"| {x['model']} | " + " | ".join(cell(n) for n in names) + f" | {x['chosen']} | {speed} |")
    return "\n".join(lines)




def train_profile_table(path: Path, r: dict) -> str:
    lines = [f"`{path.relative_to(HERE.parent)}` — {describe(r['machine'], torch_side=True)}; simple_unet, batch "
             f"{r['batch']}, {r['threads']} compute threads; per image: decoding + augmenting (one process) and one "
             "optimizer step on a ready batch.",
             "", "| crop | step | loading ms | step ms | compute img/s | loading share |", "|---:|---|---:|---:|---:|---:|"]
    for x in r["rows"]:
        lines.append(f"| {x['crop']} | {x['mode']} | {x['load_ms_per_image']:.1f} | {x['step_ms_per_image']:.1f} | "
                     f"{x['images_per_s_compute']:.1f} | {x['loading_share']:.0%} |")
    return "\n".join(lines)


def train_experiments() -> str:
    """One table per class: every `train_budget.py --tag exp...` run, what it changed and what it reached."""
    by_class: dict[str, list] = {}
    for cls, path, r in load("train_budget_exp*.json"):
        by_class.setdefault(cls, []).append((path, r))
    parts = []
    for cls, runs in by_class.items():
        m = runs[0][1]["machine"]
        lines = [f"`benchmarks/results/{cls}/train_budget_exp*.json` — {describe(m, torch_side=True)}; simple_unet, "
                 "synthetic set (400 / 100), each run a fresh 5-minute budget, start-up and evaluations included.",
                 "", "| run | changed | best val mIoU | epochs | train img/s | crop | batch | lr | precision |",
                 "|---|---|---:|---:|---:|---:|---:|---:|---|"]
        for path, r in sorted(runs, key=lambda t: t[0].stem):
            for x in r["rows"]:
                changed = ", ".join(f"{k}={v}" for k, v in x.get("overrides", {}).items()) or "defaults"
                lines.append(f"| {path.stem.removeprefix('train_budget_')} | {changed} | {x['best_val_miou']:.3f} | "
                             f"{x['epochs']} | {x['train_images_per_s']:.1f} | {x['crop_size']} | {x['batch_size']} | "
                             f"{x['lr']:g} | {x['precision']} |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts) or "(no experiments yet)"


def op_profile_table(path: Path, r: dict) -> str:
    lines = [_caption(path, r, f"input 1x3x{r['size'][0]}x{r['size'][1]}, ONNX Runtime's profiler over {r['runs']} runs; "
                      f"GEMM peaks fp32 {r['peaks']['fp32']:.0f}, int8 {r['peaks']['int8']:.0f} GOP/s; shares of kernel time."),
             "", "| model file | ms | dense conv: share, GOP/s, % peak | depthwise conv: share, GOP/s, % peak | int8 conv "
             "(all kinds): share, GOP/s, % peak | other ops: share (largest) | opt level basic / extended / all, ms |",
             "|---|---:|---|---|---|---|---|"]

    def kind(x: dict, k: str) -> str:
        v = x["kinds"].get(k)
        if not v:
            return "-"
        return f"{v['share']:.0%}, {v['gops_per_s']:.0f}, {v['pct_peak']:.0%}"

    for x in r["rows"]:
        other = x["kinds"].get("other") or {"share": 0, "ops": {}}
        top = ", ".join(f"{op} {ms:.1f} ms" for op, ms in sorted(other["ops"].items(), key=lambda t: -t[1])[:3])
        lv = x["opt_levels_ms"]
        lines.append(f"| {x['file']} | {x['ms']:.1f} | {kind(x, 'dense conv')} | {kind(x, 'depthwise conv')} | "
                     f"{kind(x, 'int8 conv')} | "
                     f"{other['share']:.0%} ({top}) | {lv['basic']:.1f} / {lv['extended']:.1f} / {lv['all']:.1f} |")
    return "\n".join(lines)


def pretrained_summary(path: Path, r: dict) -> str:
    """The README's one-glance figures for the pretrained path, per class: the fastest guarded
    lraspp variant against resnet_fcn's fastest at the bench size (goal >= 2x), and `seg run`'s
    end-to-end FPS at the preset (goal >= 15)."""
    def fastest(model: str) -> dict | None:
        rows = [x for x in r["rows"] if x["model"] == model and x["engine"] == "onnxruntime"]
        return min(rows, key=lambda x: x["latency_ms_p50"], default=None)

    def form(x: dict) -> str:
        return x["precision"] + (" e2e" if x["e2e"] else "")

    lr, rn = fastest("lraspp_mobilenet_v3_large"), fastest("resnet_fcn")
    if lr is None or rn is None:
        return ""
    h, cls = r["header"], path.parent.name
    runs = [x for c, _, x in load("run_pipeline_lraspp_*.json") if c == cls and x["imgsz"] < 0]

    def variant(file: str) -> str:
        stem = file.removesuffix(".onnx")
        return stem.split(".", 1)[1] if "." in stem else "fp32"

    lines = [f"Class `{cls}`: {h['cpu']}, {h['cores']} cores, no GPU; the other classes are not measured yet "
             "(`benchmarks/results/<class>/bench_pretrained_512.json`, `run_pipeline_lraspp_*.json`).", "",
             f"| at {h['size'][0]}x{h['size'][1]} | fastest guarded variant | ms |", "|---|---|---:|",
             f"| lraspp_mobilenet_v3_large | {form(lr)} | {lr['latency_ms_p50']:.1f} |",
             f"| resnet_fcn | {form(rn)} | {rn['latency_ms_p50']:.1f} |",
             f"| ratio (goal >= 2x) | | {rn['latency_ms_p50'] / lr['latency_ms_p50']:.1f}x |", "",
             "| `seg run` end to end, lraspp at its preset (goal >= 15 FPS) | model input | "
             + " | ".join(f"{variant(z['file'])} FPS" for z in (runs[0]["rows"] if runs else [])) + " |",
             "|---|---|" + "---:|" * len(runs[0]["rows"] if runs else [])]
    for x in runs:
        lines.append(f"| `{x['video']}` ({x['frame_size'][0]}x{x['frame_size'][1]}) | "
                     f"{'x'.join(map(str, x['rows'][0]['input'][::-1]))} | "
                     + " | ".join(f"{z['end_to_end_fps']:.1f}" for z in x["rows"]) + " |")
    return "\n".join(lines)


def multi_stream_table(path: Path, r: dict) -> str:
    lines = [_caption(path, r, f"N copies of `{r['video']}`, {r['model']} at {r['imgsz']} px, {r['frames_per_stream']} "
                      f"frames each; {r['timed']}."), "",
             "| streams | one process, batched: aggregate FPS | its p95 latency (ms) | N processes: aggregate FPS | ratio |",
             "|---:|---:|---:|---:|---:|"]
    for x in r["rows"]:
        p95 = x["one_process"]["p95_ms"]
        lines.append(f"| {x['streams']} | {x['one_process']['aggregate_fps']:.1f} | {'-' if p95 is None else f'{p95:.0f}'} | "
                     f"{x['n_processes']['aggregate_fps']:.1f} | {x['ratio']:.2f}x |")
    return "\n".join(lines)


def e2e_resize_table(path: Path, r: dict) -> str:
    lines = [_caption(path, r, f"{len(r['media'])} real frames (13 VOC photos, frames of the 4 clips); e2e graph vs "
                      "`seg run`'s host path with the plain model, CPU provider; ms are medians per frame."), "",
             "| model | weights | size rule (in the graph) | label agreement (goal >= 99.5%) | worst frame | classes "
             "predicted | resized frame: max levels off (share > 1) | host path ms | e2e graph ms |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for x in r["rows"]:
        lines.append(f"| {x['model']} | {x['weights']} | {x['size_rule']} | {x['agreement']:.3%} | "
                     f"{x['worst_frame']['agreement']:.2%} | {x['labels']} | {x.get('resized_max_levels', '-')} "
                     f"({(x.get('resized_share_over_1_level') or 0):.2%}) | {x['host_ms_p50']:.0f} | {x['graph_ms_p50']:.0f} |")
    return "\n".join(lines)


def bench_streams_table(path: Path, r: dict) -> str:
    h = r["header"]
    lines = [f"`{path.relative_to(HERE.parent)}` — class {h['cpu_class']}: {h['cpu']}, {h['cores']} cores, GPU "
             f"{h.get('gpu') or 'none'}; ONNX Runtime {h.get('onnxruntime')}; `seg bench --streams` on "
             f"{', '.join(Path(c).name for c in h['clips'])}, {h['frames_per_stream']} frames a stream, "
             f"{'paced at the clip FPS, as cameras' if h.get('realtime') else 'read as fast as they decode'}, "
             f"timeout {h['timeout_ms']:g} ms; {h.get('plan', 'one session')}; latency from a frame read to its result "
             "written, the worst stream's.",
             "", "| file | size rule | streams | batch | aggregate FPS | per stream FPS | p50 ms | p95 ms | dropped |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for res in r["results"]:
        for x in res["rows"]:
            lines.append(f"| {Path(res['header']['file']).name} | {res['header']['size_rule']} | {x['streams']} | "
                         f"{x['batch']} | {x['aggregate_fps']:.1f} | {x['stream_fps']:.1f} | {x['p50_ms']:.0f} | "
                         f"{x['p95_ms']:.0f} | {x['dropped']} |")
    return "\n".join(lines)


def ray_batch_table(path: Path, r: dict) -> str:
    lines = [_caption(path, r, f"{r['images']} photos (the 13 real VOC photos, copied), {r['model']}, "
                      f"{r['actors']} actors; {r['timed']}."), "",
             "| setup | wall s | photos/s | vs seg run |", "|---|---:|---:|---:|",
             f"| `seg run --folder` (one process) | {r['seg_run']['wall_s']:.1f} | {r['seg_run']['images_per_s']:.1f} | 1.00x |",
             f"| `seg batch`, local Ray (Ray start-up {r['seg_batch']['ray_startup_s']:.1f} s included) | "
             f"{r['seg_batch']['wall_s']:.1f} | {r['seg_batch']['images_per_s']:.1f} | {r['ratio']:.2f}x |",
             f"| `seg batch`, the same after start-up | {r['seg_batch']['wall_s'] - r['seg_batch']['ray_startup_s']:.1f} | "
             f"{r['seg_batch']['images_per_s_after_startup']:.1f} | {r['ratio_after_startup']:.2f}x |",
             f"| `seg batch`, simulated 2-node cluster on the same cores | {r['two_nodes']['wall_s']:.1f} | "
             f"{r['two_nodes']['images_per_s']:.1f} | {r['two_nodes']['images_per_s'] / r['seg_run']['images_per_s']:.2f}x |"]
    return "\n".join(lines)


def render(pattern: str, make) -> str:
    if make is None:
        return train_experiments()
    return "\n\n".join(make(path, r) for _, path, r in load(pattern)
                        if "_exp" not in path.stem and "_pretrained" not in path.stem)


def render_all(pattern: str, make) -> str:
    return "\n\n".join(make(path, r) for _, path, r in load(pattern))


def pretrained_speed() -> str:
    parts = [render_all("bench_pretrained_*.json", bench_table), render_all("op_profile*.json", op_profile_table),
             render_all("run_pipeline_lraspp_*.json", run_pipeline_table),
             render_all("train_budget_pretrained.json", train_budget_table)]
    return "\n\n".join(p for p in parts if p)


# README marker -> (result files, table builder): one table per class that has a result.
TABLES = {
    "runtime_install": ("runtime_install.json", runtime_install_table),
    "train_budget": ("train_budget*.json", train_budget_table),
    "run_pipeline": ("run_pipeline.json", run_pipeline_table),
    "bench": ("bench.json", bench_table),
    "quant_formats": ("quant_formats.json", quant_formats_table),
    "edge_speed": ("edge_speed.json", edge_speed_table),
    "session_tuning": ("session_tuning.json", session_tuning_table),
    "auto_precision": ("auto_precision.json", auto_precision_table),
    "train_experiments": ("train_budget_exp*.json", None),
    "train_profile": ("train_profile.json", train_profile_table),
    "multi_stream": ("multi_stream.json", multi_stream_table),
    "e2e_resize": ("e2e_resize.json", e2e_resize_table),
    "run_pipeline_e2e": ("run_pipeline_e2e*.json", run_pipeline_table),
    "bench_streams": ("bench_streams.json", bench_streams_table),
    "ray_batch": ("ray_batch.json", ray_batch_table),
}


def demo_table() -> str:
    """`seg demo` per class: wall time, what simple_unet reached, the edge path's speed-up."""
    lines = ["| class | machine | wall time (min) | simple_unet val mIoU (goal >= 0.5) | unet | simple_unet edge path "
             "| vs PyTorch eager | vs PyTorch's best |", "|---|---|---:|---:|---:|---|---:|---:|"]
    for cls, path, r in load("demo.json"):
        m = r["machine"]
        e = r["edge_path"].get("simple_unet", {})
        machine = f"{m['cpu']}, {m['cores']} cores" + (f"; {m['emulation']}" if m.get("emulation") else "")
        lines.append(f"| `{cls}` | {machine} | {r['wall_s'] / 60:.1f} | {r['val_miou']['simple_unet']:.2f} | "
                     f"{r['val_miou']['unet']:.2f} | {e.get('variant', '-')} | {e.get('vs_torch_fp32', 0):.2f}x | "
                     f"{e.get('vs_best_torch', 0):.2f}x |")
    return "\n".join(lines) + "\n\n(`benchmarks/results/<class>/demo.json`, made by `python benchmarks/demo_run.py`.)"


def metadata_table() -> str:
    """The seg.* metadata keys, from seg.metadata's docstring: one source for the table."""
    import seg.metadata

    rows = [line.replace("``", "`") for line in (seg.metadata.__doc__ or "").splitlines() if line.startswith("|")]
    return "\n".join(rows)


def test_count() -> str:
    """How many tests the README's test command runs: pytest's own count (a test checks it)."""
    import subprocess

    out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
                         cwd=HERE.parent, capture_output=True, text=True).stdout
    m = re.search(r"^(\d+) tests? collected", out, re.M)
    if m is None:
        sys.exit(f"pytest --collect-only gave no count: {out[-500:]}")
    return f"{m.group(1)} tests"


def doctor_sample() -> str:
    """`seg doctor`, piped, on the machine that regenerates the pages (its class is in the output)."""
    import subprocess

    r = subprocess.run([sys.executable, "-m", "seg.cli", "doctor"], capture_output=True, text=True, cwd=HERE.parent)
    return "```text\n$ seg doctor | cat\n" + r.stdout.rstrip() + "\n```"


def builders() -> dict[str, Callable[[], str]]:
    """Every generated block: marker -> text."""
    out: dict[str, Callable[[], str]] = {name: (lambda f=files, m=make: render(f, m)) for name, (files, make) in TABLES.items()}
    out["pretrained_summary"] = lambda: render_all("bench_pretrained_512.json", pretrained_summary)
    out["pretrained_speed"] = pretrained_speed
    out["metadata_table"] = metadata_table
    out["demo"] = demo_table
    out["test_count"] = test_count
    out["doctor_sample"] = doctor_sample
    out["gpu_bench"] = lambda: "\n\n".join(bench_table(path, r) for _, path, r in load("bench.json", gpu=True))
    return out


PAGES = [README, *sorted((HERE.parent / "docs").glob("*.md"))]


def main() -> None:
    todo = builders()
    for page in PAGES:
        text = page.read_text()
        for name in [n for n in todo if f"<!-- BEGIN {n} -->" in text]:
            pattern = re.compile(rf"(<!-- BEGIN {name} -->\n).*?(<!-- END {name} -->)", re.S)
            text = pattern.sub(lambda m, t=todo.pop(name)(): m.group(1) + t + "\n" + m.group(2), text)
        page.write_text(text)
    if todo:
        sys.exit(f"no page has <!-- BEGIN {next(iter(todo))} --> ... <!-- END --> markers (README.md, docs/*.md)")
    print(f"updated {', '.join(str(p.relative_to(HERE.parent)) for p in PAGES)}")


if __name__ == "__main__":
    main()
