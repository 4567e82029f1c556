"""`seg models`, `seg info` and `seg doctor`: what the architectures, an .onnx file and this machine are."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from seg.cli._common import _IN_FILE, TRAINING, _require, out_console
from seg.metadata import MAX_SIZE, MIN_SIZE
from seg.tables import Column, fmt, show


def models(
    names: Optional[list[str]] = typer.Argument(None, metavar="NAME", help="Models to show (default: all)."),
    size: int = typer.Option(512, min=MIN_SIZE, max=MAX_SIZE, help="Square input size at which GFLOPs are counted."),
) -> None:
    """List the architectures and where their weights come from.

    The seed write-up's four are trained with seg train; torchvision's pretrained models come
    with published weights (--weights coco-voc) and their published metrics."""
    _require("models", *TRAINING)
    import torch

    from seg.models import (
        MODELS,
        check_model_name,
        count_parameters,
        get_model,
        model_flops,
    )
    from seg.models.pretrained import PRETRAINED, published

    def weights(n: str) -> str:
        if n not in PRETRAINED:
            return "seed: seg train"
        m = published(n)["metrics"]
        return f"coco-voc: mIoU {m['miou']:.1%}, pixel acc {m['pixel_acc']:.1%}"

    names = [check_model_name(n) for n in names] if names else list(MODELS)

    def params(n: str) -> int:
        with torch.device("meta"):  # shapes only: initialising the ResNet-50s took seconds each
            return count_parameters(get_model(n))

    rows = [{"model": n, "params": params(n), "gflops": model_flops(n, size, size) / 1e9,
             "weights": weights(n), "doc": (MODELS[n].__doc__ or "").strip().splitlines()[0]} for n in names]
    columns = [Column("model", lambda r: r["model"]), Column("params", lambda r: f"{r['params']:,}", right=True),
               Column("GFLOPs", lambda r: f"{r['gflops']:.1f}", right=True), Column("weights", lambda r: r["weights"]),
               Column("description", lambda r: r["doc"], drop=1)]
    show(out_console, columns, rows, title=f"seg models (GFLOPs at 1x3x{size}x{size}; a multiply-add = 2 FLOPs; "
         "published metrics: COCO val2017, VOC labels)")


def info(
    model: Path = typer.Argument(..., **_IN_FILE, metavar="MODEL.onnx", help="An .onnx file."),
    json_flag: bool = typer.Option(False, "--json", help="Print everything as JSON instead of a table."),
) -> None:
    """Show what an .onnx model is: classes, interface, precision.

    Also its normalisation, guardrail and verification results, weights provenance and the
    versions that made it. Needs no torch.
    """
    import json

    from seg.metadata import is_e2e, model_info, require_seg_model

    i = model_info(model)
    if json_flag:
        out_console.print_json(json.dumps(i))
        return
    if not i["seg_model"]:  # the one wording, with what the file has instead
        require_seg_model({}, model, f" (it has inputs {', '.join(t['name'] for t in i['inputs'])}; "
                                     "`seg info --json` shows what there is)")
    m = i["meta"]

    def tensors(ts: list[dict]) -> str:
        return ", ".join(f"{t['name']} {t['type']} [{','.join(map(str, t['dims']))}]" for t in ts)

    def checked(key: str) -> str:
        g = m.get(key)
        if not g:
            return "-"
        if "skipped" in g:
            return f"skipped ({g['skipped']})"
        if g.get("kind") == "agreement" or (key != "guardrail" and "label_agreement" in g):
            return f"label agreement {g['label_agreement']:.2%}" + (f" on {g['images']} images" if "images" in g else "")
        if key == "verification":
            return f"{'passed' if g['passed'] else 'FAILED'} on {', '.join(g['providers'])}, max |diff| {g['max_abs_diff']:.2g}"
        return (f"{'passed' if g['passed'] else 'FAILED'}: mIoU {g['miou']:.4f} vs fp32 {g['fp32_miou']:.4f} on "
                f"{g['images']} images of {g['data']} ({g['split']})")

    names = m.get("class_names", [])
    rows = [
        ("file", f"{i['file']} ({i['bytes'] / 1e6:.1f} MB)"),
        ("architecture", str(m.get("model", "?"))),
        ("precision", f"{m.get('precision', 'fp32')}{', end-to-end (frames in, labels out)' if is_e2e(m) else ''}"),
        ("classes", f"{m.get('num_classes')}: {', '.join(names[:6])}{', ...' if len(names) > 6 else ''}"),
        ("input", tensors(i["inputs"])), ("output", tensors(i["outputs"])),
        ("input layout", str(m.get("input", "-"))),
        ("normalisation", f"mean {m.get('mean')}, std {m.get('std')}"),
        ("default input size", _default_size(m)),
        ("weights", f"{m.get('weights', '?')}{', ' + m['checkpoint'] if m.get('checkpoint') else ''}"),
        ("pretrained", _pretrained(m.get("pretrained"))),
        ("val metrics", ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                                  for k, v in (m.get("val_metrics") or {}).items()) or "-"),
        ("verification", checked("verification")), ("guardrail", checked("guardrail")),
        ("e2e check", checked("e2e_check")),
        ("quantization", ", ".join(f"{k} {v}" for k, v in (m.get("quantization") or {}).items()
                                   if k in ("format", "activation", "weight", "calib_images", "calib_data")) or "-"),
        ("made by", f"seg {m.get('version', '?')}, torch {m.get('torch', '?')}, opset {i['opset']}, {i['producer']}"),
    ]
    show(out_console, [Column("field", lambda r: r[0]), Column("value", lambda r: r[1])], rows, title=f"seg info: {model.name}")


def _default_size(m: dict) -> str:
    """What seg run feeds the model, in the size rule's own words."""
    from seg.infer.preprocess import graph_rule, size_rule

    rule = graph_rule(m)
    if rule:
        how = "seg run --imgsz feeds another" if rule.sizable else "fixed"
        return f"{rule.describe()}, applied in the graph to frames of any size ({how})"
    recorded = m.get("imgsz") or m.get("preprocess")
    note = "" if recorded else " (none recorded: seg run's default)"
    return f"{size_rule(m).describe()}{note}; seg run --imgsz overrides"


def _pretrained(p: dict | None) -> str:
    """Where published or local weights came from, with torchvision's published metrics."""
    if not p:
        return "-"
    if "file" in p:
        return f"local file {p['file']} ({p['bytes'] / 1e6:.1f} MB)"
    metrics = ", ".join(f"{k} {v:.1%}" for k, v in p.get("metrics", {}).items())
    return f"{p.get('source')}; published on {p.get('dataset')}: {metrics}"


def doctor(
    json_flag: bool = typer.Option(False, "--json", help="Print everything as JSON instead of tables."),
    runs: Path = typer.Option(Path("runs"), help="Runs folder (its trt_cache/ is where TensorRT is tried)."),
) -> None:
    """Check what this machine can run: CPU class, GPUs, providers.

    Versions, the CPU class and its measured peaks, the GPUs found.

    Each ONNX Runtime provider (TensorRT, CUDA, CPU) is tried on a tiny model through the same
    session factory as seg run: it works (node placement and time) or the one-line reason why not.
    """
    import json

    from seg.doctor import doctor as run_doctor
    from seg.layout import trt_cache_dir

    d = run_doctor(str(trt_cache_dir(runs)))
    if json_flag:
        out_console.print_json(json.dumps(d))
        return
    v, m = d["versions"], d["machine"]
    t = v["torch"]
    rows = [
        ("seg", v["seg"]), ("Python", f"{v['python']} ({v['platform']})"),
        ("ONNX Runtime", f"{v['onnxruntime']}, {v['onnxruntime_build']}; providers listed: "
                         f"{', '.join(p.removesuffix('ExecutionProvider') for p in v['onnxruntime_providers'])}"),
        ("OpenCV", f"{v['opencv']}, GUI {v['opencv_gui']}; display: {v['display']}"),
        ("numpy", v["numpy"]),
        ("torch", "not installed (the runtime alone)" if t is None else
         f"{t['version']}, CUDA {t['cuda'] or '-'}{', GPU visible' if t['cuda_available'] else ', no GPU visible'}"),
        ("TensorRT library", v["tensorrt_library"]),
        ("CPU", f"{m['cpu']}, {m['cores']} cores, class {m['cpu_class']} ({'/'.join(m['cpu_flags']) or '-'})"),
        ("CPU peak (GEMM)", ", ".join(f"{k} {m['peaks'][k]:.0f} GOP/s" for k in ("fp32", "int8", "bf16")
                                      if m["peaks"].get(k)) + " (seg bench holds every row against these)"),
        ("GPUs", "; ".join(m["gpus"]) or "none found (no nvidia-smi)"),
    ]
    show(out_console, [Column("what", lambda r: r[0]), Column("found", lambda r: r[1])], rows, title="seg doctor")
    show(out_console, [Column("provider", lambda r: r["provider"]), Column("works", lambda r: "yes" if r["works"] else "no"),
                       Column("ms (64x64)", lambda r: fmt(r["ms"], ".2f"), right=True),
                       Column("detail", lambda r: r["detail"])],
         d["providers"], title="ONNX Runtime providers, each tried on a tiny model")
