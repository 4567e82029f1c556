"""`seg bench` and `seg demo`: latency, FPS and mIoU per model; the whole path on the embedded data."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from seg.cli._common import (
    _IN_DIR, _IN_FILE, MODEL_NAMES, TRAINING, _csv_list, _hw, _out_dir, _out_file, _require, err, out_console)
from seg.metadata import MAX_SIZE, MIN_SIZE
from seg.tables import Column, fmt, show
from seg.text import shown

MAX_STREAMS = 64  # seg.infer.multi.MAX_SOURCES: one process's limit


def _stream_counts(value: Optional[str]) -> Optional[list[int]]:
    if value is None:
        return None
    counts = _csv_list(value)
    if not counts or not all(c.isdigit() and 1 <= int(c) <= MAX_STREAMS for c in counts):
        raise typer.BadParameter(f"{value!r}: comma-separated stream counts, each 1..{MAX_STREAMS} (e.g. 1,2,4,8)")
    return [int(c) for c in counts]


def bench(
    models: Optional[str] = typer.Option(None, help="Comma-separated model names, or .onnx files [default: all four]."),
    data: Optional[Path] = typer.Option(None, **_IN_DIR, help="A labelled set (any layout: docs/datasets.md) whose val split gives mIoU per engine "
                                        "(and whose train split calibrates int8 where the checkpoint's data is absent)."),
    year: str = typer.Option("2007", help="VOC year folder of --data."),
    size: tuple[int, int] = typer.Option((256, 256), callback=_hw, metavar="H W",
                                         help=f"Input height and width for timing, two numbers ({MIN_SIZE}..{MAX_SIZE})."),
    batch: int = typer.Option(1, min=1, max=256, help="Batch size for timing."),
    providers: Optional[str] = typer.Option(None, help="Comma-separated ONNX Runtime providers [default: the best available]."),
    engines: str = typer.Option("onnxruntime,torch", help="Comma-separated engines: onnxruntime, torch (eager fp32, the reference)."),
    runs_n: int = typer.Option(20, "--runs", min=1, max=100_000, help="Timed runs per engine."),
    warmup: int = typer.Option(3, min=0, max=10_000, help="Untimed warm-up runs per engine."),
    runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help="Where <model>/best.pt and <model>.onnx live."),
    random_init: bool = typer.Option(False, "--random-init", help="Bench untrained weights where no checkpoint exists (flagged)."),
    variants: Optional[str] = typer.Option(None, help="Comma-separated ONNX variants: fp32, int8, fp16, e2e, e2e.int8, "
                                           "e2e.fp16; exported when missing [default: fp32,int8,e2e,e2e.int8 on CPU, "
                                           "fp16 ones on GPU]."),
    torch_bf16: Optional[bool] = typer.Option(None, "--torch-bf16/--no-torch-bf16", help="Add PyTorch bf16 autocast + "
                                              "channels_last rows [default: where the CPU has native bf16]."),
    json_out: Optional[Path] = typer.Option(None, "--json", callback=_out_file("--json file"), help="Write header + rows as JSON."),
    csv_out: Optional[Path] = typer.Option(None, "--csv", callback=_out_file("--csv file"), help="Write the rows as CSV."),
    md_out: Optional[Path] = typer.Option(None, "--md", callback=_out_file("--md file"), help="Write a Markdown table."),
    plot: Optional[Path] = typer.Option(None, callback=_out_file("--plot file"), help="Write a PNG of FPS against mIoU."),
    streams: Optional[str] = typer.Option(None, callback=_stream_counts, metavar="N,N,...",
                                          help=f"Instead: N streams in one process, as seg run --source runs them "
                                               f"(e.g. 1,2,4,8; 1..{MAX_STREAMS}): aggregate FPS and per-stream "
                                               "p50/p95 latency of each model's file (--variants' first) on --clip."),
    clips: Optional[list[Path]] = typer.Option(None, "--clip", **_IN_FILE, metavar="VIDEO", help="With --streams: a video file; "
                                               "repeat it for several (N streams are the clips in turn)."),
    frames: int = typer.Option(100, min=1, max=1_000_000, help="With --streams: frames read from each stream."),
    realtime: bool = typer.Option(True, help="With --streams: read each clip at its frame rate, keeping its latest "
                                  "frame, as a camera (drops counted); --no-realtime: as fast as they decode."),
) -> None:
    """FPS, latency and mIoU per model and engine (--streams: N at once).

    Latency p50/p90/p99 per model x engine x provider x precision, PyTorch alongside.
    With --streams 1,2,4 --clip cam.mp4: aggregate FPS and per-stream latency of N streams.

    Ctrl-C stops it and keeps every row measured so far (printed and written, marked partial).
    """
    if streams is not None:
        return _bench_streams(models, runs_dir, variants, providers, streams, clips or [], frames, batch, json_out,
                              realtime)
    from rich.progress import Progress

    from seg.bench import ENGINES, check_engines
    from seg.bench import bench as run_bench
    from seg.bench_entries import prepare
    from seg.reporting import write_outputs

    if plot is not None:
        _require("bench --plot", "matplotlib")
    engines_used = check_engines(tuple(_csv_list(engines) or ENGINES))
    with Progress(console=err, disable=not sys.stderr.isatty(), transient=True) as bar:
        task = bar.add_task("bench", total=None)
        # the files first (found, exported or built where missing), then the timing
        prepared = prepare(_csv_list(models) or list(MODEL_NAMES), runs_dir, _csv_list(providers),
                           tuple(_csv_list(variants)) if variants else None, data, random_init,
                           onnx="onnxruntime" in engines_used, log=lambda m: err.print(m, highlight=False, soft_wrap=True))
        result = run_bench(prepared, data=data, year=year, size=size, batch=batch, engines=engines_used, n_runs=runs_n,
                           warmup=warmup, torch_bf16=torch_bf16, on_progress=lambda m: bar.update(task, description=m))
    show_result(result)
    write_outputs(result, json_out, csv_out, md_out, plot)
    if result["header"]["interrupted"]:
        from seg import signals

        raise typer.Exit(signals.exit_code())


STREAM_ROWS = [Column("file", lambda r: r["model"]), Column("streams", lambda r: str(r["streams"]), right=True),
               Column("batch", lambda r: str(r["batch"]), right=True, drop=3),
               Column("FPS", lambda r: f"{r['aggregate_fps']:.1f}", right=True),
               Column("per stream", lambda r: f"{r['stream_fps']:.1f}", right=True, drop=2),
               Column("p50 ms", lambda r: fmt(r["p50_ms"], ".1f"), right=True),
               Column("p95 ms", lambda r: fmt(r["p95_ms"], ".1f"), right=True),
               Column("dropped", lambda r: str(r["dropped"]), right=True, drop=1)]


def _bench_streams(models, runs_dir, variants, providers, streams, clips, frames, batch, json_out, realtime) -> None:
    """``seg bench --streams``: one table, a row per model and stream count."""
    from rich.progress import Progress

    from seg._io import write_json
    from seg.bench_streams import bench_streams
    from seg.layout import resolve_onnx

    variant = (_csv_list(variants) or ["fp32"])[0]
    provider = (_csv_list(providers) or ["auto"])[0]
    files = [resolve_onnx(m, runs_dir, "fp32" if m.endswith(".onnx") else variant)
             for m in (_csv_list(models) or list(MODEL_NAMES))]
    results = []
    with Progress(console=err, disable=not sys.stderr.isatty(), transient=True) as bar:
        task = bar.add_task("streams", total=None)
        for f in files:
            results.append(bench_streams(f, [str(c) for c in clips], streams, frames=frames, provider=provider,
                                         batch=batch if batch > 1 else None, realtime=realtime,
                                         on_progress=lambda m, f=f: bar.update(task, description=f"{f.name}: {m}")))
    rows = [{"model": shown(Path(r["header"]["file"]).name.removesuffix(".onnx")), **row}
            for r in results for row in r["rows"]]
    h = results[0]["header"]
    show(out_console, STREAM_ROWS, rows,
         title=f"seg bench --streams: {frames} frames a stream, {', '.join(Path(c).name for c in h['clips'])}"
               f"{', paced as cameras' if realtime else ', as fast as they decode'}",
         caption=f"class {h['cpu_class']}: {h['cpu']}, {h['cores']} cores, GPU {h.get('gpu') or 'none'}; "
                 f"{h['provider']}, {h['plan']}; latency: frame read to result written, the worst stream's")
    if json_out is not None:
        write_json(json_out, {"header": {**h, "files": [r["header"]["file"] for r in results]}, "results": results})
    if any(r["header"]["interrupted"] for r in results):
        from seg import signals

        raise typer.Exit(signals.exit_code())


def show_result(result: dict) -> None:
    """The bench table as ``seg bench`` and ``seg demo`` print it: fitted to the terminal, Markdown
    when piped; then why providers were passed over and what was not benchmarked."""
    from seg.reporting import COLUMNS, FEW_RUNS_NOTE, few_runs

    h = result["header"]
    show(out_console, COLUMNS, result["rows"],
         title=f"seg bench: {h['batch']}x3x{h['size'][0]}x{h['size'][1]}, {h['runs']} runs"
               f"{' (INTERRUPTED: partial)' if h['interrupted'] else ''}",
         caption=f"class {h.get('cpu_class', '?')}: {h['cpu']}, {h['cores']} cores, GPU {h.get('gpu') or 'none'}; "
                 f"ORT {h['onnxruntime']}, torch {h.get('torch', '-')}"
                 + (f"; {FEW_RUNS_NOTE}" if few_runs(result["rows"]) else ""))
    if h.get("provider_verdict"):  # why auto passed over a GPU provider, as seg run says it
        out_console.print(shown(f"ONNX Runtime on {', '.join(h['providers'])} ({'; '.join(h['provider_verdict'])})"),
                          highlight=False, soft_wrap=True)
    for sk in h.get("skipped", []):
        out_console.print(shown(f"{sk['model']} {sk['variant']}: not benchmarked: {sk.get('reason')}"), highlight=False,
                          soft_wrap=True)


def demo(
    minutes: float = typer.Option(10.0, min=0.2, max=24 * 60, help="Rough total budget; 60% of it trains the four models."),
    root: Path = typer.Option(Path("runs/demo"), callback=_out_dir("demo folder"), help="Where data, runs and the bench go."),
    quick: bool = typer.Option(False, help="Tiny data and sizes: a smoke test in about a minute of training."),
) -> None:
    """The whole tool on synthetic data: train, export, run, bench.

    data -> train x4 -> export x4 -> run on a video -> bench, in about --minutes.
    """
    _require("demo", *TRAINING, "onnxscript", "matplotlib")
    from seg.demo import demo as run_demo

    result = run_demo(minutes, root, log=lambda m: out_console.print(m, highlight=False, soft_wrap=True), quick=quick)
    show_result(result)  # the same table as seg bench's: it fits an 80-column terminal
    out_console.print(shown(result["demo_outputs"]), highlight=False, soft_wrap=True)
