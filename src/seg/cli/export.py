"""`seg export`: a checkpoint or published weights to .onnx, and the variants (int8, fp16, e2e) of an .onnx."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from seg.cli._common import _IN_FILE, TRAINING, _choice, _csv_list, _out_file, _require, err, out_console
from seg.errors import SegError
from seg.tables import Column, show
from seg.text import shown

# The verification table of `seg export`: one row per provider x input shape.
VERIFY_COLUMNS = [
    Column("provider", lambda c: c["provider"].removesuffix("ExecutionProvider")),
    Column("input", lambda c: "x".join(map(str, c["shape"]))),
    Column("output", lambda c: "x".join(map(str, c["output_shape"])), drop=2),
    Column("max |diff|", lambda c: f"{c['max_abs_diff']:.2e}", right=True),
    Column("tolerance", lambda c: f"{c['tolerance']:.2e}", right=True, drop=3),
    Column("argmax agree", lambda c: f"{c['argmax_agreement']:.4%}", right=True),
    Column("ok", lambda c: "yes" if c["passed"] else "NO", right=True),
]


def _calib_path(value: Optional[Path]) -> Optional[Path]:
    """A folder, or a file that is a video (by its suffix): nothing else calibrates."""
    from seg.data.folder import VIDEO_SUFFIXES

    if value is not None and value.is_file() and value.suffix.lower() not in VIDEO_SUFFIXES:
        raise typer.BadParameter(f"{value} is a file but not a video ({', '.join(VIDEO_SUFFIXES)}); "
                                 "give a folder or a video.")
    return value


def export(
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Architecture to export from its checkpoint (or "
                                        "--all); needs the training extra."),
    all_models: bool = typer.Option(False, "--all", help="Export the seed write-up's four models (from their checkpoints)."),
    onnx_in: Optional[Path] = typer.Option(None, "--onnx", **_IN_FILE, help="Or an fp32 .onnx export to build a variant "
                                           "from (--precision, --e2e), on this machine and without torch."),
    checkpoint: Optional[Path] = typer.Option(None, **_IN_FILE, help="Checkpoint [default: <runs>/<model>/best.pt]."),
    out: Optional[Path] = typer.Option(None, callback=_out_file("output file"),
                                       help="Output .onnx [default: <runs>/<model>/<model>.onnx]."),
    runs: Path = typer.Option(Path("runs"), help="Runs folder holding <model>/best.pt."),
    random_init: bool = typer.Option(False, "--random-init", help="Export untrained weights (flagged in the metadata)."),
    weights: Optional[str] = typer.Option(None, help="torchvision's pretrained models, instead of a checkpoint: coco-voc "
                                          "(published weights, downloaded once), none (random init) or a local .pth."),
    classes: Optional[str] = typer.Option(None, help="With --weights PATH: the comma-separated names of the classes "
                                          "those weights predict, in label order (e.g. background,kelp) [default: "
                                          "VOC's for 21-class weights]."),
    opset: Optional[int] = typer.Option(None, min=1, max=99, help="ONNX opset [default: the exporter's own, 20 with torch 2.14]."),
    verify: bool = typer.Option(True, help="Check ONNX Runtime against PyTorch at three shapes (batch 2, odd sizes)."),
    simplify: bool = typer.Option(True, help="Simplify the graph with onnxslim; kept only if parity still holds."),
    report: Optional[Path] = typer.Option(None, callback=_out_file("--report file"),
                                          help="Write the export/verification report as JSON here."),
    precision: str = typer.Option("fp32", callback=_choice("fp32", "int8", "fp16", "auto"),
                                  help="fp32 | int8 (static quantisation, CPUs; accuracy guardrail) | fp16 (GPUs) | "
                                  "auto (the fastest of fp32 and int8 forms on this CPU that passes its guardrail). "
                                  "Variants go next to the fp32 file: <model>[.e2e].int8.onnx."),
    e2e: bool = typer.Option(False, "--e2e", help="End-to-end graph: uint8 BGR frames [N,H,W,3] of any size in, "
                             "uint8 labels [N,H,W] at the same size out (resize, normalisation, argmax and "
                             "the resize back inside; the size rule of seg run)."),
    calib_data: Optional[Path] = typer.Option(None, exists=True, readable=True, callback=_calib_path,
                                              help="int8: a labelled set in any layout seg reads (its train split "
                                              "calibrates, its val split guards by mIoU), a folder of plain images "
                                              "or a video file (frames spread over it calibrate, others guard by "
                                              "label agreement with fp32) [default: the checkpoint's training data]."),
    calib_n: int = typer.Option(64, min=1, max=100_000, help="int8: number of calibration images."),
    float_ops: Optional[str] = typer.Option(None, help="int8: comma-separated op types left in float, e.g. "
                                            "Add,Concat,Resize (slower, sometimes more accurate; see docs/export.md)."),
    max_drop: float = typer.Option(1.0, min=0.0, max=100.0, help="Guardrail with masks: most mIoU points the int8/fp16 "
                                   "model may lose."),
    min_agreement: float = typer.Option(0.95, min=0.0, max=1.0, help="Guardrail on plain images: least share of pixels "
                                        "where the int8/fp16 model must give the fp32 model's label."),
    force: bool = typer.Option(False, help="Write the int8/fp16 model even when it fails the guardrail."),
    fmt: str = typer.Option("onnx", "--format", callback=_choice("onnx", "triton"), help="triton: also write a Triton "
                            "model repository for the file (config.pbtxt from its graph, the model as version 1, "
                            "labels.txt) under --repository."),
    repository: Path = typer.Option(Path("runs/triton"), help="--format triton: the model repository's folder."),
    max_batch: int = typer.Option(8, min=0, max=4096, help="--format triton: max_batch_size (0: no batching, the "
                                  "batch axis in dims), with dynamic batching."),
    instances: int = typer.Option(1, min=1, max=64, help="--format triton: model instances (instance_group count)."),
    kind: str = typer.Option("gpu", callback=_choice("gpu", "cpu"), help="--format triton: instance kind."),
    trt_fp16: bool = typer.Option(False, help="--format triton: TensorRT accelerator in fp16 (GPU instances)."),
) -> None:
    """Export to ONNX (verified), or build int8/fp16/e2e variants.

    One self-contained file, dynamic batch/height/width, metadata, parity with PyTorch checked.

    Variants (int8, fp16, e2e) of an existing export: seg export --onnx FILE.onnx --precision int8 --e2e
    --calib-data DIR (no torch needed: build them on the edge box itself).
    """
    from seg._io import write_json
    from seg.variants import Int8Config

    int8 = Int8Config(calib_n=calib_n, exclude_ops=tuple(_csv_list(float_ops) or ()))
    if onnx_in is not None:
        if model is not None or all_models or checkpoint is not None or random_init or weights is not None:
            raise SegError("--onnx builds a variant of an existing export; it excludes --model, --all, --checkpoint, "
                           "--weights and --random-init")
        if fmt == "triton" and precision == "fp32" and not e2e:  # the file as it is, in a repository
            r = {"path": str(onnx_in)}
        else:
            r = _variant_of_onnx(onnx_in, out, precision, e2e, calib_data, int8, max_drop, min_agreement, force)
            _print_variant(r)
        if fmt == "triton":
            r["triton"] = _triton(r["path"], repository, max_batch, instances, kind, trt_fp16)
        if report is not None:
            write_json(report, r)
        return
    if all_models == (model is not None):
        raise SegError("pass either --model NAME, --all or --onnx FILE.onnx")
    _require("export --model", *TRAINING, "onnxscript")
    from seg.export import DEFAULT_SHAPES, export_checkpoint
    from seg.models import SEED_MODELS

    names = list(SEED_MODELS) if all_models else [model]
    if all_models and (checkpoint is not None or out is not None or weights is not None):
        raise SegError("--checkpoint, --weights and --out name one model's files; with --all use the defaults under --runs")
    reports = []
    for name in names:
        r = export_checkpoint(name, checkpoint, out, runs=runs, random_init=random_init, opset=opset,
                              verify_shapes=DEFAULT_SHAPES if verify else None, simplify=simplify,
                              precision=precision, e2e=e2e, calib_data=calib_data, int8=int8, max_drop=max_drop,
                              min_agreement=min_agreement, force=force, weights=weights, classes=_csv_list(classes),
                              log=lambda m: err.print(m, highlight=False, soft_wrap=True))
        reports.append(r)
        if fmt == "triton":
            r["triton"] = _triton(r["path"], repository, max_batch, instances, kind, trt_fp16)
        if precision != "fp32" or e2e:
            _print_variant(r)
            continue
        title = (f"{name} -> {r['path']} ({r['bytes'] / 1e6:.1f} MB, {r['total_s']:.0f} s"
                 f"{', simplified' if r['simplified'] else ''}{', UNTRAINED weights' if random_init or weights == 'none' else ''})")
        if r["verification"] is None:
            out_console.print(f"{name} -> {r['path']} ({r['bytes'] / 1e6:.1f} MB), not verified (--no-verify)", highlight=False, soft_wrap=True)
        else:
            show(out_console, VERIFY_COLUMNS, r["verification"]["checks"], title=title)
    if report is not None:
        write_json(report, reports if all_models else reports[0])


def _triton(path, repository: Path, max_batch: int, instances: int, kind: str, trt_fp16: bool) -> dict:
    """`--format triton`: the repository entry for ``path``, and where it went."""
    from seg.triton import write_repository

    t = write_repository(path, repository, max_batch=max_batch, instances=instances, kind=kind, trt_fp16=trt_fp16)
    out_console.print(shown(f"triton: {t['repository']}/{t['name']}/ (config.pbtxt, 1/model.onnx, labels.txt; "
                            f"max_batch_size {max_batch}, {instances} {kind.upper()} instance"
                            f"{'s' if instances > 1 else ''}{', TensorRT fp16' if trt_fp16 else ''}): "
                            f"tritonserver --model-repository {t['repository']}"), highlight=False, soft_wrap=True)
    return t


def _variant_of_onnx(path: Path, out: Optional[Path], precision: str, e2e: bool, calib_data: Optional[Path], int8,
                     max_drop: float, min_agreement: float, force: bool) -> dict:
    """`seg export --onnx`: a variant of an existing fp32 export, next to it by default (torch-free)."""
    from seg.layout import variant_name
    from seg.variants import build_variant, variant_data

    if precision == "fp32" and not e2e:
        raise SegError("--onnx builds a variant: pass --precision int8|fp16 and/or --e2e")
    if out is None:
        out = path.with_name(variant_name(path.name.removesuffix(".onnx"), precision, e2e))
    log = lambda m: err.print(m, highlight=False, soft_wrap=True)  # noqa: E731
    calib, heldout = variant_data(precision, calib_data, calib_n=int8.calib_n, log=log)
    return build_variant(path, out, precision=precision, e2e=e2e, calib=calib, heldout=heldout, int8=int8,
                         max_drop=max_drop, min_agreement=min_agreement, force=force, log=log)


def _print_variant(r: dict) -> None:
    """One line per check of an int8/fp16/e2e export."""
    what = f"{r['precision']}{' e2e' if r['e2e'] else ''}"
    if r.get("auto"):
        what = f"auto: {r['auto']['chosen']}{' e2e' if r['e2e'] else ''}"
    out_console.print(f"{r['model']} {what} -> {r['path']} ({r['bytes'] / 1e6:.1f} MB)", highlight=False, soft_wrap=True)
    g = r.get("guardrail") or {}
    verdict = "passed" if g.get("passed") else "FAILED (--force)"
    held = "held-out" if g.get("held_out", True) else "(calibration, not held-out)"
    if g.get("kind") == "miou":
        out_console.print(f"  guardrail on {g['images']} {held} images: mIoU {g['miou']:.4f} vs fp32 {g['fp32_miou']:.4f} "
                          f"({-g['drop_points']:+.2f} points, limit -{g['max_drop_points']:.2f}), label agreement "
                          f"{g['label_agreement']:.2%}: {verdict}", highlight=False, soft_wrap=True)
    elif g.get("kind") == "agreement":
        out_console.print(f"  guardrail on {g['images']} {held} images without masks: label agreement with fp32 "
                          f"{g['label_agreement']:.2%} (limit {g['min_agreement']:.0%}): {verdict}", highlight=False, soft_wrap=True)
    elif g:
        out_console.print(f"  guardrail skipped: {g['skipped']}", highlight=False, soft_wrap=True)
    if "e2e_label_agreement" in r:
        out_console.print(f"  e2e graph vs plain model: label agreement {r['e2e_label_agreement']:.4%}", highlight=False, soft_wrap=True)
    for c in (r.get("auto") or {}).get("candidates", []):  # --precision auto: every candidate and why
        ms = f"{c['ms']:.1f} ms/frame" if "ms" in c else "not timed"
        out_console.print(f"  auto: {c['name']}: {ms}: {c['why']}", highlight=False, soft_wrap=True)
