"""`seg data`: get datasets (real PASCAL VOC 2007, or a synthetic VOC-format set) and check your own."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from seg.cli._common import _out_dir, _out_file, out_console
from seg.metadata import MAX_SIZE, MIN_SIZE

app = typer.Typer(help="Get datasets (VOC 2007, a synthetic set) or check your own.", no_args_is_help=True,
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


@app.command("check")
def data_check(
    root: Path = typer.Argument(..., exists=True, file_okay=False, readable=True, metavar="DIR",
                                help="A labelled set: VOC, CVAT, labelme, images/ + masks/, or COCO JSON."),
    year: str = typer.Option("2007", help="VOC year folder, for a VOCdevkit root."),
    val_fraction: float = typer.Option(0.1, min=0.01, max=0.9, help="Share held out for val where the set has no "
                                       "val split of its own (seeded by --seed)."),
    seed: int = typer.Option(0, min=0, max=2**31 - 1, help="Seed of that split."),
    json_out: Optional[Path] = typer.Option(None, "--json", callback=_out_file("--json file"),
                                            help="Also write the report as JSON here."),
) -> None:
    """Check a labelled set: its format, classes and every problem.

    The layout found, the class list with pixel share and image count per class and split, image
    sizes, and every problem as one line naming the files (seg train refuses a set with errors).
    Exit 1 when there are errors.
    """
    from seg._io import write_json
    from seg.data.check import check_dataset
    from seg.tables import Column, show
    from seg.text import shown

    r = check_dataset(root, year, val_fraction, seed)
    for note in r.notes:
        out_console.print(shown(note), highlight=False, soft_wrap=True)
    splits = list(r.counts)
    totals = {s: max(int(r.counts[s].sum()), 1) for s in splits}
    cols = [Column("label", lambda x: str(x[0]), right=True), Column("class", lambda x: x[1])]
    for s in splits:
        cols += [Column(f"{s} pixels", lambda x, s=s: f"{r.counts[s][x[0]] / totals[s]:.1%}", right=True),
                 Column(f"{s} images", lambda x, s=s: str(int(r.present[s][x[0]])), right=True)]
    show(out_console, cols, list(enumerate(r.classes.names)),
         title=f"{len(r.classes)} classes ({r.classes.source}); images: "
               + ", ".join(f"{n} {s}" for s, n in r.images.items()),
         caption=f"image sizes: {r.size_summary()}")
    for w in r.warnings:
        out_console.print(shown(f"warning: {w}"), highlight=False, soft_wrap=True)
    for e in r.errors:
        out_console.print(shown(f"error: {e}"), highlight=False, soft_wrap=True)
    if json_out is not None:
        write_json(json_out, r.to_dict())
    out_console.print(f"{len(r.errors)} errors, {len(r.warnings)} warnings", highlight=False)
    if r.errors:
        raise typer.Exit(1)
