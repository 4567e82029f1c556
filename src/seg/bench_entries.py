"""What ``seg bench`` measures: each model's files and PyTorch model, made where missing.

Separate from the timing (:mod:`seg.bench`, which takes entries and returns rows): this module
finds a model's fp32 export and variants under the runs folder, or builds them (from its
checkpoint with :mod:`seg.export` where torch is installed; from the .onnx file with
:mod:`seg.variants` where it is not), and says in ``skipped`` why a variant has no row.

Torch is optional: without it (``pip install seg-onnx``, an edge box) the models are the exported
.onnx files (by model name under the runs folder, or given as paths), missing variants are built
from them with :mod:`seg.variants`, and the PyTorch rows are reported as skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from seg.errors import NoCalibrationData, SegError
from seg.layout import parse_variant, random_init_path, variant_name, variant_path
from seg.machine import have_torch
from seg.metadata import file_source, is_e2e, is_fresh, read_meta, require_seg_model

# ONNX variants (see seg.variants): CPUs get int8, GPUs fp16; e2e takes uint8 frames.
CPU_VARIANTS = ("fp32", "int8", "e2e", "e2e.int8")
GPU_VARIANTS = ("fp32", "fp16", "e2e", "e2e.fp16")


@dataclass
class Entry:
    """One model's files and the engines built from them."""

    model: str
    onnx_path: Path  # the fp32 export the variants derive from
    weights: str  # "checkpoint", "random-init", or what the file's metadata says
    torch_model: Any = None  # the PyTorch model, when torch and its checkpoint are here
    variants: dict[str, Path] = field(default_factory=dict)  # variant name -> .onnx
    checkpoint: bool = False  # seg bench's own: a checkpoint's export or untrained weights, variants under --runs-dir

    @property
    def from_checkpoint(self) -> bool:
        """Its variants are exported from the checkpoint (seg.export); else built from ``onnx_path``."""
        return self.checkpoint and self.weights == "checkpoint"


def _entry_from_file(path: Path) -> Entry:
    """An entry for an .onnx file given on the command line: a plain fp32 export (its variants are
    looked for beside it), or a variant, benched as it is."""
    meta = require_seg_model(read_meta(path), path)
    precision = "auto" if meta.get("auto") else meta.get("precision", "fp32")
    variant = (f"e2e.{precision}" if precision != "fp32" else "e2e") if is_e2e(meta) else precision
    return Entry(meta["model"], path, meta.get("weights", "?"), variants={variant: path})


def resolve_entries(models: list[str], runs: Path, random_init: bool, log: Callable[[str], None],
                    torch_ok: bool | None = None) -> tuple[list[Entry], list[dict]]:
    """(entries, skipped) for ``models``: names or .onnx paths.

    With torch, a name means its checkpoint ``<runs>/<name>/best.pt`` (exported when the fp32 file
    is missing or older) and its PyTorch model; untrained weights only with ``random_init``.
    Without torch, a name means its exported ``<runs>/<name>/<name>.onnx``."""
    torch_ok = have_torch() if torch_ok is None else torch_ok
    entries, skipped = [], []
    # The same model named twice (or one file by two paths) is benched once: two identical rows
    # could not be told apart.
    models = list({str(Path(m).resolve()) if Path(m).is_file() else m: m for m in models}.values())
    for name in models:
        if Path(name).is_dir():
            raise SegError(f"--models {name} is a folder; pass .onnx files or model names")
        if name.endswith(".onnx") or Path(name).is_file():
            if not Path(name).is_file():
                raise SegError(f"model file {name} does not exist")
            entries.append(_entry_from_file(Path(name)))
        elif torch_ok:
            entry = _torch_entry(name, runs, random_init, log)
            if entry is not None:
                entries.append(entry)
        elif variant_path(runs, name).is_file():
            e = _entry_from_file(variant_path(runs, name))
            entries.append(Entry(name, e.onnx_path, e.weights, variants=e.variants))
        else:
            skipped.append({"model": name, "variant": "fp32", "reason": f"no exported model at {variant_path(runs, name)} "
                            "(export it where the training extra is installed: seg export --model NAME)"})
    if not entries:
        where = "best.pt" if torch_ok else "<model>.onnx"
        raise SegError(f"no models to bench under {runs}/<model>/{where} for {', '.join(models)}: train them "
                       "(`seg train --model NAME --data DIR`, or `seg demo`), pass .onnx files with --models, "
                       "or --random-init to bench untrained weights")
    return entries, skipped


def _torch_entry(name: str, runs: Path, random_init: bool, log: Callable[[str], None]) -> Entry | None:
    import torch

    from seg.export import export_checkpoint
    from seg.layout import checkpoint_path
    from seg.models import check_model_name, get_model, load_checkpoint

    check_model_name(name)
    ckpt = checkpoint_path(runs, name)
    onnx_path = variant_path(runs, name)
    if ckpt.is_file():
        if not is_fresh(onnx_path, file_source("checkpoint", ckpt)):
            log(f"exporting {ckpt} -> {onnx_path}")
            export_checkpoint(name, ckpt, onnx_path)
        model, _ = load_checkpoint(ckpt)
        return Entry(name, onnx_path, "checkpoint", model, {"fp32": onnx_path}, checkpoint=True)
    if onnx_path.is_file():  # torchvision's weights exported without a checkpoint (seg export --weights)
        meta = read_meta(onnx_path)
        pretrained = meta.get("pretrained") or {}
        if meta.get("weights") in ("pretrained", "file"):
            from seg.models.pretrained import WEIGHTS_TAG

            model = get_model(name, weights=pretrained.get("file") or WEIGHTS_TAG).eval()
            return Entry(name, onnx_path, meta["weights"], model, {"fp32": onnx_path})
    if random_init:
        onnx_path = random_init_path(runs, name)
        if not onnx_path.is_file():
            log(f"exporting untrained {name} -> {onnx_path}")
            export_checkpoint(name, out=onnx_path, runs=runs, random_init=True)
        torch.manual_seed(0)  # the same weights export_checkpoint(random_init=True) exported
        return Entry(name, onnx_path, "random-init", get_model(name).eval(), {"fp32": onnx_path}, checkpoint=True)
    return None


def _variant_file(entry: Entry, runs: Path, variant: str) -> Path:
    precision, e2e = parse_variant(variant)
    if entry.from_checkpoint:
        return variant_path(runs, entry.model, precision, e2e)
    if entry.checkpoint:  # random-init
        return random_init_path(runs, entry.model, variant)
    return entry.onnx_path.with_name(variant_name(entry.onnx_path.name.removesuffix(".onnx"), precision, e2e))


def _make_variant(entry: Entry, variant: str, runs: Path, out: Path, data: Path | None,
                  log: Callable[[str], None]) -> str | None:
    """Make one missing (or stale) variant; None, or why it cannot be made.

    From a checkpoint: exported by seg.export, int8 calibrated on the checkpoint's training data or,
    where that is not here, on ``--data``. From an .onnx file (no torch), or from untrained weights
    (whose fp32 file is already exported: the same seed gives the same weights): built from that
    file by seg.variants, calibrated and guarded on ``--data`` (a VOC root or a folder of plain
    images)."""
    precision, e2e = parse_variant(variant)
    if not entry.from_checkpoint and data is None and precision == "int8":  # said before anything is made
        return str(NoCalibrationData("no --data to calibrate on", option="--data DIR"))
    log(f"making {entry.model} {variant} -> {out}")
    try:
        if entry.from_checkpoint:
            from seg.export import export_checkpoint

            try:
                export_checkpoint(entry.model, out=out, runs=runs, precision=precision, e2e=e2e)
            except NoCalibrationData as e:
                if data is None:
                    raise NoCalibrationData(e.why, option="--data DIR") from None
                export_checkpoint(entry.model, out=out, runs=runs, precision=precision, e2e=e2e, calib_data=data)
        else:
            from seg.variants import Int8Config, build_variant, variant_data

            calib, heldout = variant_data(precision, data, calib_n=Int8Config().calib_n, log=log)
            build_variant(entry.onnx_path, out, precision=precision, e2e=e2e, calib=calib, heldout=heldout, log=log)
    except SegError as e:
        return str(e)  # reported once, with the results
    return None


def add_variants(entry: Entry, variants: tuple[str, ...], runs: Path, data: Path | None,
                 log: Callable[[str], None]) -> list[dict]:
    """Find or make each variant of ``entry``; return the ones that could not be made (e.g.
    int8 refused by its guardrail), which get no row."""
    skipped = []
    if set(entry.variants) - {"fp32"}:  # an .onnx variant given as a file: benched as it is
        return skipped
    if "fp32" not in variants:
        entry.variants.pop("fp32", None)
    # The one freshness rule: a variant carries the seg.source of the fp32 file it was built from,
    # and is fresh while that still names the same weights. fp32 files exported before seg.source
    # existed have none; their variants are judged by date, as they were then.
    source = read_meta(entry.onnx_path).get("source")
    for v in variants:
        if v == "fp32":
            continue
        path = _variant_file(entry, runs, v)
        fresh = is_fresh(path, source) if source else \
            path.is_file() and path.stat().st_mtime >= entry.onnx_path.stat().st_mtime
        if not fresh:
            reason = _make_variant(entry, v, runs, path, data, log)
            if reason is not None:
                skipped.append({"model": entry.model, "variant": v, "reason": reason})
                continue
        entry.variants[v] = path
    return skipped


def default_variants(providers: list[str]) -> tuple[str, ...]:
    """int8 where the CPU provider runs, fp16 where a GPU one does."""
    out: list[str] = []
    for v in (CPU_VARIANTS if "cpu" in providers else ()) + (GPU_VARIANTS if set(providers) - {"cpu"} else ()):
        if v not in out:
            out.append(v)
    return tuple(out)


def pick_providers(providers: list[str] | None) -> tuple[list[str], list[str]]:
    """(providers, why the ones before in auto's order were not used): as asked, or auto's
    choice on a tiny model (a TensorRT engine of the real one is built by its runner)."""
    from seg.infer.providers import check_provider, passed_over
    from seg.infer.session import ShapeRange, create_session

    for p in providers or ():
        check_provider(p, auto=False)
    if providers:
        return list(providers), []
    from seg.infer.providers import tiny_model

    attempts: list = []
    chosen = create_session(tiny_model(), "auto", shapes=ShapeRange((64, 64)), attempts=attempts)[1]
    return [chosen], passed_over(attempts)


@dataclass
class Prepared:
    """What one ``seg bench`` measures: the entries, on which providers, which variants, and
    what could not be made (with why)."""

    entries: list[Entry]
    providers: list[str]
    variants: tuple[str, ...]
    skipped: list[dict[str, Any]]
    provider_verdict: list[str]  # why auto did not pick the providers before the chosen one


def prepare(models: list[str], runs: Path, providers: list[str] | None = None, variants: tuple[str, ...] | None = None,
            data: Path | None = None, random_init: bool = False, onnx: bool = True,
            log: Callable[[str], None] = print) -> Prepared:
    """Everything ``seg bench`` needs before timing: the providers (auto's choice by default),
    each model's files, and the missing variants made (``onnx``: only where ONNX Runtime rows are
    wanted). ``variants`` default to :func:`default_variants` of the providers."""
    for v in variants or ():
        parse_variant(v)
    providers, verdict = pick_providers(providers)
    variants = variants or default_variants(providers)
    entries, skipped = resolve_entries(models, Path(runs), random_init, log)
    if onnx:
        for entry in entries:
            skipped += add_variants(entry, variants, Path(runs), data, log)
    return Prepared(entries, providers, variants, skipped, verdict)
