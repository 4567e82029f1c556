"""`seg bench` and `seg demo`: latency, FPS and mIoU per model; the whole path on the embedded data."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from seg.cli._common import (
    _IN_DIR, MODEL_NAMES, TRAINING, _csv_list, _hw, _out_dir, _out_file, _require, err, out_console)
from seg.metadata import MAX_SIZE, MIN_SIZE
from seg.tables import show
from seg.text import shown


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
) -> None:
    """FPS, latency and mIoU per model and engine.

    Latency p50/p90/p99 per model x engine x provider x precision, PyTorch alongside.

    Ctrl-C stops it and keeps every row measured so far (printed and written, marked partial).
    """
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
