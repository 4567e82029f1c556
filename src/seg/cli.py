"""The ``seg`` command line: a thin typer layer, one library call per command.

Errors the user can fix are raised as :class:`seg.errors.SegError` anywhere below and printed
here as one line (``error: ...``) with exit code 1; usage errors exit with 2 (click's code).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from seg import __version__
from seg.errors import SegError

app = typer.Typer(
    help="seg: train, export, run and benchmark semantic-segmentation models (PyTorch -> ONNX).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
data_app = typer.Typer(help="Get datasets: real PASCAL VOC 2007, or a synthetic VOC-format set.", no_args_is_help=True)
app.add_typer(data_app, name="data")

out = Console()
err = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        out.print(f"seg {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    pass


@app.command()
def models(
    names: Optional[list[str]] = typer.Argument(None, help="Models to show (default: all)."),
    size: int = typer.Option(512, min=32, help="Square input size at which GFLOPs are counted."),
) -> None:
    """List the registered architectures with their parameters and GFLOPs."""
    from seg.models import MODELS, check_model_name, count_parameters, get_model, model_flops

    names = [check_model_name(n) for n in names] if names else list(MODELS)
    table = Table(title=f"seg models (GFLOPs at 1x3x{size}x{size}; a multiply-add = 2 FLOPs)")
    for col in ("model", "params", "GFLOPs", "description"):
        table.add_column(col, justify="right" if col in ("params", "GFLOPs") else "left")
    for name in names:
        params = count_parameters(get_model(name))
        doc = (MODELS[name].__doc__ or "").strip().splitlines()[0]
        table.add_row(name, f"{params:,}", f"{model_flops(name, size, size) / 1e9:.1f}", doc)
    out.print(table)


@data_app.command("voc2007")
def data_voc2007(
    root: Path = typer.Option(Path("data"), help="Folder to download and extract into (gets VOCdevkit/VOC2007)."),
    mirror: Optional[str] = typer.Option(None, help="Base URL of a mirror holding the two tarballs (same md5s)."),
    keep_archives: bool = typer.Option(True, help="Keep the .tar files after extraction."),
) -> None:
    """Download PASCAL VOC 2007 (trainval + test, ~870 MB), verify md5, resume, extract."""
    from seg.data.download import VOC2007, download_voc2007, mirrored

    resources = mirrored(mirror) if mirror else VOC2007
    voc_dir = download_voc2007(root, resources, keep_archives=keep_archives, progress=sys.stderr.isatty())
    out.print(f"VOC2007 ready in {voc_dir}")


@data_app.command("synth")
def data_synth(
    root: Path = typer.Option(Path("data/synth"), help="Folder to write (gets VOCdevkit/VOC2007)."),
    train: int = typer.Option(400, help="Number of training images."),
    val: int = typer.Option(100, help="Number of validation images."),
    size: int = typer.Option(160, help="Image width in pixels (heights vary in 0.75-1x of it)."),
    seed: int = typer.Option(0, help="Random seed; the same seed writes the same files."),
    overwrite: bool = typer.Option(False, help="Replace a synthetic set generated with other settings."),
    video: Optional[Path] = typer.Option(None, help="Also write a video of moving synthetic objects (.mp4 or .avi)."),
    frames: int = typer.Option(90, help="Frames in --video."),
) -> None:
    """Generate a synthetic dataset in the VOC layout (and optionally a video)."""
    from seg.data.synth import SynthConfig, check_video_args, generate, write_video

    progress = sys.stderr.isatty()
    if video is not None:
        check_video_args(video, frames)
    voc_dir = generate(root, SynthConfig(train=train, val=val, size=size, seed=seed), overwrite=overwrite, progress=progress)
    out.print(f"synthetic VOC set ({train} train, {val} val, {size} px wide) in {voc_dir}")
    if video is not None:
        write_video(video, frames=frames, seed=seed, progress=progress)
        out.print(f"synthetic video ({frames} frames) in {video}")


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the app, turning SegError into one line and exit 1."""
    try:
        app(args=argv, prog_name="seg")
    except SegError as e:
        err.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
