"""`seg data`: get datasets (real PASCAL VOC 2007, or a synthetic VOC-format set)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from seg.cli._common import _out_dir, _out_file, out_console
from seg.metadata import MAX_SIZE, MIN_SIZE

app = typer.Typer(help="Get datasets: real PASCAL VOC 2007, or a synthetic VOC-format set.", no_args_is_help=True,
                  rich_markup_mode=None)


@app.command("voc2007")
def data_voc2007(
    root: Path = typer.Option(Path("data"), callback=_out_dir("data folder"),
                              help="Folder to download and extract into (gets VOCdevkit/VOC2007)."),
    mirror: Optional[str] = typer.Option(None, help="Base URL of a mirror holding the two tarballs (same md5s)."),
    keep_archives: bool = typer.Option(True, help="Keep the .tar files after extraction."),
) -> None:
    """Download PASCAL VOC 2007: trainval + test, ~870 MB.

    md5-checked, resumable, extracted into --root."""
    from seg.data.download import VOC2007, download_voc2007, mirrored

    resources = mirrored(mirror) if mirror else VOC2007
    voc_dir = download_voc2007(root, resources, keep_archives=keep_archives, progress=sys.stderr.isatty())
    out_console.print(f"VOC2007 ready in {voc_dir}", highlight=False, soft_wrap=True)


@app.command("synth")
def data_synth(
    root: Path = typer.Option(Path("data/synth"), callback=_out_dir("data folder"),
                              help="Folder to write (gets VOCdevkit/VOC2007)."),
    train: int = typer.Option(400, min=1, max=1_000_000, help="Number of training images."),
    val: int = typer.Option(100, min=1, max=1_000_000, help="Number of validation images."),
    size: int = typer.Option(160, min=MIN_SIZE, max=MAX_SIZE, help="Image width in pixels (heights vary in 0.75-1x of it)."),
    seed: int = typer.Option(0, min=0, max=2**32 - 1, help="Random seed; the same seed writes the same files."),
    overwrite: bool = typer.Option(False, help="Replace a synthetic set generated with other settings."),
    video: Optional[Path] = typer.Option(None, callback=_out_file("video"),
                                         help="Also write a video of moving synthetic objects (.mp4 or .avi)."),
    frames: int = typer.Option(90, min=1, max=100_000, help="Frames in --video."),
) -> None:
    """Generate a synthetic VOC-format dataset (and a video).

    The embedded default: drawn shapes on textures, VOC's layout and palette; --video adds a clip."""
    from seg.data.synth import SynthConfig, check_video_args, generate, write_video

    progress = sys.stderr.isatty()
    if video is not None:
        check_video_args(video, frames)
    voc_dir = generate(root, SynthConfig(train=train, val=val, size=size, seed=seed), overwrite=overwrite, progress=progress)
    out_console.print(f"synthetic VOC set ({train} train, {val} val, {size} px wide) in {voc_dir}", highlight=False,
                      soft_wrap=True)
    if video is not None:
        write_video(video, frames=frames, seed=seed, progress=progress)
        out_console.print(f"synthetic video ({frames} frames) in {video}", highlight=False, soft_wrap=True)
