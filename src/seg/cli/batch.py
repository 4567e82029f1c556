"""`seg batch`: an archive of photos and videos segmented on a Ray cluster (the `[ray]` extra)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from seg.cli._common import PROVIDER_CHOICES, _choice, err, out_console
from seg.errors import SegError
from seg.layout import VARIANTS
from seg.text import plural, shown


def batch(
    inputs: list[str] = typer.Argument(..., metavar="INPUT", help="Folders (every photo and video below), globs "
                                       "('shots/**/*.jpg', quoted) or files."),
    model: str = typer.Option("resnet_fcn", "--model", "-m", help="An .onnx file, or a model name (-> <runs>/<name>/<name>.onnx)."),
    variant: str = typer.Option("fp32", callback=_choice(*VARIANTS), help="With a model name: which exported file."),
    runs: Path = typer.Option(Path("runs"), help="Runs folder holding <model>/<model>.onnx."),
    out: Path = typer.Option(..., help="Where masks go, with the inputs' relative paths, and manifest.jsonl (one "
                             "row per photo or frame); a second run skips what the manifest holds."),
    ray_address: Optional[str] = typer.Option(None, metavar="auto|HOST:PORT", help="A running Ray cluster (auto: the "
                                              "one on this machine, started by `ray start --head`) [default: a local "
                                              "Ray for this run]."),
    actors: int = typer.Option(2, min=1, max=4096, help="Model actors (each opens the model once)."),
    batch_size: int = typer.Option(4, "--batch", min=1, max=256, help="Photos (or a video's frames) per model call."),
    cpus_per_actor: Optional[float] = typer.Option(None, min=0.01, max=1024, help="CPUs each actor reserves [default: "
                                                   "the cluster's CPUs shared, less a quarter for Ray's own tasks]."),
    gpus_per_actor: float = typer.Option(0.0, min=0.0, max=64, help="GPUs each actor reserves (e.g. 0.5: two a GPU)."),
    overlays: bool = typer.Option(False, help="Also write overlay JPEGs under <out>/overlays/."),
    provider: str = typer.Option("auto", callback=_choice(*PROVIDER_CHOICES), help="ONNX Runtime provider in the actors."),
    threads: Optional[int] = typer.Option(None, min=1, max=1024, help="CPU provider threads per actor [default: the "
                                          "CPUs it reserves, at least 1]."),
) -> None:
    """Segment an archive of photos and videos on a Ray cluster.

    Needs the Ray extra: pip install "seg-onnx[ray]". Ray schedules, retries and spreads the work over nodes; each actor opens the model once.
    Photos are one task each, a video one task (its frames in order).
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from seg.batch import run_batch
    from seg.layout import resolve_onnx

    onnx_path = resolve_onnx(model, runs, variant)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, disable=not sys.stderr.isatty(), transient=True) as bar:
        task = bar.add_task("seg batch", total=None)
        s = run_batch(onnx_path, inputs, out, address=ray_address, actors=actors, batch=batch_size,
                      cpus_per_actor=cpus_per_actor, gpus_per_actor=gpus_per_actor, overlays=overlays,
                      provider=provider, threads=threads,
                      on_rows=lambda done, total: bar.update(task, completed=done, total=total),
                      log=lambda m: err.print(shown(m), highlight=False, soft_wrap=True))
    out_console.print(shown(f"{plural(s.rows, 'row')} written ({plural(s.items, 'item')}: photos and videos), "
                            f"{s.skipped} already in the manifest; {s.wall_s:.1f} s, Ray up in {s.startup_s:.1f} s; "
                            f"manifest {s.manifest}"), highlight=False, soft_wrap=True)
    if s.failed:
        raise SegError(f"{plural(s.failed, 'item')} could not be segmented (status failed in {s.manifest}, with the "
                       "reason); the others were written")
