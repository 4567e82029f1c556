"""``seg bench``: latency, FPS and mIoU per model x engine x provider, PyTorch alongside.

Engines are timed *interleaved* (one run of each in turn, repeated), so a noisy machine slows
them alike and the ratios hold. Accuracy goes through the very engine being timed, with the one
``seg.metrics`` implementation, on the val split at each image's own size.
"""

from __future__ import annotations

import csv
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from seg._io import atomic_path, write_json
from seg.errors import NoCalibrationData, SegError
from seg.metadata import parse_variant as _parse_variant
from seg.metrics import ConfusionMatrix
from seg.tables import Column, fmt, markdown

ENGINES = ("onnxruntime", "torch")
# ONNX variants (see seg.export.variants): CPUs get int8, GPUs fp16; e2e takes uint8 frames.
CPU_VARIANTS = ("fp32", "int8", "e2e", "e2e.int8")
GPU_VARIANTS = ("fp32", "fp16", "e2e", "e2e.fp16")


def parse_variant(v: str) -> tuple[str, bool]:
    """``"e2e.int8"`` -> ``("int8", True)``; ``"fp32"`` -> ``("fp32", False)``."""
    try:
        return _parse_variant(v)
    except ValueError as e:
        raise SegError(str(e)) from None


@dataclass
class Entry:
    """One model's files and the engines built from them."""

    model: str
    onnx_path: Path  # the fp32 export
    weights: str  # "checkpoint" or "random-init"
    torch_model: Any = None
    variants: dict[str, Path] = field(default_factory=dict)  # variant name -> .onnx


@dataclass
class Runner:
    """One engine/precision of one model: ``feed`` turns RGB uint8 frames [N,H,W,3] into its
    input (untimed), ``run`` is what is timed, ``labels`` turns its output into [N,H,W] labels."""

    engine: str
    provider: str
    precision: str
    e2e: bool
    run: Callable[[np.ndarray], np.ndarray]
    feed: Callable[[np.ndarray], np.ndarray]
    labels: Callable[[np.ndarray], np.ndarray]
    file: Path | None = None
    variant: str = "fp32"


def _export_variant(name: str, variant: str, runs: Path, out: Path, random_init: bool, data: Path | None,
                    log: Callable[[str], None]) -> tuple[Path | None, str | None]:
    """Export one variant for the bench; (path, None), or (None, why) when it cannot be made.

    int8 calibrates on the checkpoint's training data; where that is not here, on ``--data``."""
    from seg.export import export_checkpoint

    precision, e2e = parse_variant(variant)
    log(f"exporting {name} {variant} -> {out}")
    calib = data if random_init else None
    try:
        try:
            export_checkpoint(name, out=out, runs=runs, random_init=random_init, precision=precision, e2e=e2e,
                              calib_data=calib)
        except NoCalibrationData as e:
            if data is None or calib is not None:
                raise NoCalibrationData(e.why, option="--data DIR") from None
            export_checkpoint(name, out=out, runs=runs, precision=precision, e2e=e2e, calib_data=data)
    except SegError as e:
        return None, str(e)  # reported once, with the results
    return out, None


def resolve_entries(models: list[str], runs: Path, random_init: bool, log: Callable[[str], None]) -> list[Entry]:
    """The fp32 ONNX file (exported from the checkpoint when missing or older) and the PyTorch
    model of each model; untrained weights only with ``random_init`` (flagged in every row)."""
    import torch

    from seg.export import export_checkpoint
    from seg.models import check_model_name, get_model, load_checkpoint

    entries = []
    for name in models:
        check_model_name(name)
        ckpt = runs / name / "best.pt"
        onnx_path = runs / name / f"{name}.onnx"
        if ckpt.is_file():
            if not onnx_path.is_file() or onnx_path.stat().st_mtime < ckpt.stat().st_mtime:
                log(f"exporting {ckpt} -> {onnx_path}")
                export_checkpoint(name, ckpt, onnx_path)
            model, _ = load_checkpoint(ckpt)
            entries.append(Entry(name, onnx_path, "checkpoint", model, {"fp32": onnx_path}))
        elif random_init:
            onnx_path = runs / "bench" / f"{name}.random.onnx"
            if not onnx_path.is_file():
                log(f"exporting untrained {name} -> {onnx_path}")
                export_checkpoint(name, out=onnx_path, runs=runs, random_init=True)
            torch.manual_seed(0)  # the same weights export_checkpoint(random_init=True) exported
            entries.append(Entry(name, onnx_path, "random-init", get_model(name).eval(), {"fp32": onnx_path}))
    if not entries:
        raise SegError(f"no trained models under {runs}/<model>/best.pt for {', '.join(models)}: train them "
                       "(`seg train --model NAME --data DIR`, or `seg demo`), or pass --random-init to bench untrained weights")
    return entries


def add_variants(entry: Entry, variants: tuple[str, ...], runs: Path, data: Path | None,
                 log: Callable[[str], None]) -> list[dict]:
    """Find or export each variant of ``entry``; return the ones that could not be made (e.g.
    int8 refused by its guardrail), which get no row."""
    from seg.metadata import variant_path

    skipped = []
    if "fp32" not in variants:
        entry.variants.pop("fp32", None)
    for v in variants:
        if v == "fp32":
            continue
        precision, e2e = parse_variant(v)
        path = (variant_path(runs, entry.model, precision, e2e) if entry.weights == "checkpoint"
                else entry.onnx_path.with_name(f"{entry.model}.random.{v}.onnx"))
        if not path.is_file() or path.stat().st_mtime < entry.onnx_path.stat().st_mtime:
            path, reason = _export_variant(entry.model, v, runs, path, entry.weights == "random-init", data, log)
            if path is None:
                skipped.append({"model": entry.model, "variant": v, "reason": reason})
                continue
        entry.variants[v] = path
    return skipped


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def _ort_runners(entry: Entry, providers: list[str]) -> list[Runner]:
    from seg.export.quantize import labels_of, model_input
    from seg.infer.session import create_session
    from seg.metadata import from_props

    runners = []
    for v, path in entry.variants.items():
        precision, e2e = parse_variant(v)
        for p in providers:
            sess, used = create_session(path, p, spinning=False)  # not spinning: fair to the next engine
            meta = from_props(sess.get_modelmeta().custom_metadata_map)
            in_name, out_name = sess.get_inputs()[0].name, sess.get_outputs()[0].name
            runners.append(Runner(
                "onnxruntime", used, meta.get("precision", precision), e2e,
                lambda a, s=sess, i=in_name, o=out_name: s.run([o], {i: a})[0],
                lambda f, m=meta: np.concatenate([model_input(im, m) for im in f]),  # BGR frames for e2e graphs
                lambda o, m=meta: labels_of(o, m), path, v))
    return runners


def _torch_runners(entry: Entry, torch_mod, meta: dict[str, Any], bf16: bool) -> list[Runner]:
    import copy

    from seg.export.quantize import normalise

    mean, std = meta["mean"], meta["std"]

    def feed(f: np.ndarray):
        return torch_mod.from_numpy(np.concatenate([normalise(im, mean, std) for im in f]))

    net = entry.torch_model.eval()

    def eager(x, net=net) -> np.ndarray:
        with torch_mod.inference_mode():
            return net(x).numpy()

    runners = [Runner("torch", "cpu", "fp32", False, eager, feed, lambda o: o.argmax(1))]
    if bf16:
        # PyTorch's fast CPU path: bf16 autocast (AMX/AVX-512 BF16) with channels_last activations.
        net_cl = copy.deepcopy(net).to(memory_format=torch_mod.channels_last)

        def fast(x, net=net_cl) -> np.ndarray:
            with torch_mod.inference_mode(), torch_mod.autocast("cpu", dtype=torch_mod.bfloat16):
                return net(x.contiguous(memory_format=torch_mod.channels_last)).float().numpy()

        runners.append(Runner("torch", "cpu", "bf16", False, fast, feed, lambda o: o.argmax(1), variant="bf16+channels_last"))
    return runners


def evaluate_engine(runner: Runner, dataset, num_classes: int = 21) -> dict:
    """mIoU and pixel accuracy of one engine over a VOC split, at each image's own size."""
    cm = ConfusionMatrix(num_classes)
    for i in range(len(dataset)):
        image, mask = dataset.load(i)
        cm.update(runner.labels(runner.run(runner.feed(image[None])))[0], mask)
    m = cm.compute()
    return {"miou": m.miou, "pixel_acc": m.pixel_acc}


def default_variants(providers: list[str]) -> tuple[str, ...]:
    """int8 where the CPU provider runs, fp16 where a GPU one does."""
    out: list[str] = []
    for v in (CPU_VARIANTS if "cpu" in providers else ()) + (GPU_VARIANTS if set(providers) - {"cpu"} else ()):
        if v not in out:
            out.append(v)
    return tuple(out)


def bench(
    models: list[str],
    runs: Path = Path("runs"),
    data: Path | None = None,
    year: str = "2007",
    size: tuple[int, int] = (256, 256),
    batch: int = 1,
    providers: list[str] | None = None,
    engines: tuple[str, ...] = ENGINES,
    n_runs: int = 20,
    warmup: int = 3,
    random_init: bool = False,
    variants: tuple[str, ...] | None = None,
    torch_bf16: bool | None = None,
    log: Callable[[str], None] = print,
    on_progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Benchmark; returns ``{"header": {...}, "rows": [...]}``. Ctrl-C returns what was measured
    so far with ``header["interrupted"] = True``.

    ``variants``: ONNX variants per model (default :func:`default_variants`), exported when
    missing. ``torch_bf16``: add PyTorch bf16 autocast + channels_last rows (default: where the
    CPU has native bf16)."""
    from seg.infer.session import AUTO_ORDER, create_session

    for e in engines:
        if e not in ENGINES:
            raise SegError(f"unknown engine {e!r}; choose from: {', '.join(ENGINES)}")
    for v in variants or ():
        parse_variant(v)
    for p in providers or ():
        if p not in AUTO_ORDER:
            raise SegError(f"unknown provider {p!r}; choose from: {', '.join(AUTO_ORDER)}")
    torch_mod = None
    if "torch" in engines:
        try:
            import torch as torch_mod
        except ImportError:
            engines = tuple(e for e in engines if e != "torch")
    dataset = None
    if data is not None:
        from seg.data import VOCSegmentation

        dataset = VOCSegmentation(data, year, "val")
    entries = resolve_entries(models, runs, random_init, log)
    if providers is None:
        providers = [create_session(entries[0].onnx_path, "auto")[1]]
    if variants is None:
        variants = default_variants(providers)
    skipped: list[dict] = []
    if "onnxruntime" in engines:
        for entry in entries:
            skipped += add_variants(entry, variants, runs, data, log)
    if torch_mod is not None and torch_bf16 is None:
        from seg.train.loop import cpu_has_bf16  # the test training uses to turn bf16 autocast on

        torch_bf16 = cpu_has_bf16()
    bf16 = torch_mod is not None and bool(torch_bf16)

    header = _header(size, batch, n_runs, warmup, data, engines, providers)
    header.update(variants=list(variants), torch_bf16=bf16, skipped=skipped)
    rows: list[dict[str, Any]] = []
    frames = np.random.default_rng(0).integers(0, 256, (batch, *size, 3), dtype=np.uint8)
    for entry in entries:
        model_rows, interrupted = _bench_model(entry, engines, providers, torch_mod, bf16, frames, size, batch, n_runs,
                                               warmup, dataset, on_progress)
        rows += model_rows
        if interrupted:
            header["interrupted"] = True
            break
    return {"header": header, "rows": rows}


def _bench_model(entry: Entry, engines, providers, torch_mod, bf16: bool, frames: np.ndarray, size, batch: int,
                 n_runs: int, warmup: int, dataset, on_progress) -> tuple[list[dict[str, Any]], bool]:
    """Time (interleaved) and score every runner of one model: (rows, interrupted). After Ctrl-C
    the runners timed at least once still get rows (``runs`` says how many), unscored."""
    from seg.export.variants import read_meta
    from seg.models import count_parameters, model_flops

    interrupted = False
    runners: list[Runner] = []
    times: list[list[float]] = []
    try:
        meta = read_meta(entry.onnx_path)
        if "onnxruntime" in engines:
            runners += _ort_runners(entry, providers)
        if "torch" in engines:
            runners += _torch_runners(entry, torch_mod, meta, bf16)
        inputs = [r.feed(frames) for r in runners]
        times = [[] for _ in runners]
        for _ in range(warmup):
            for r, x in zip(runners, inputs):
                r.run(x)
        for i in range(n_runs):
            for k, (r, x) in enumerate(zip(runners, inputs)):  # interleaved: one of each, in turn
                t = time.perf_counter()
                r.run(x)
                times[k].append((time.perf_counter() - t) * 1e3)
            if on_progress:
                on_progress(f"{entry.model} run {i + 1}/{n_runs}")
    except KeyboardInterrupt:
        interrupted = True
    params = count_parameters(entry.torch_model) if entry.torch_model is not None else None
    gflops = model_flops(entry.model, *size) / 1e9
    rows = []
    for r, ts in zip(runners, times):
        if not ts:
            continue
        acc: dict[str, float] = {}
        if dataset is not None and not interrupted:
            if on_progress:
                on_progress(f"{entry.model} {r.engine} {r.variant} mIoU")
            try:
                acc = evaluate_engine(r, dataset)
            except KeyboardInterrupt:
                interrupted = True
        p50 = statistics.median(ts)
        rows.append({
            "model": entry.model, "engine": r.engine, "provider": r.provider, "precision": r.precision,
            "e2e": r.e2e, "variant": r.variant, "weights": entry.weights, "size": list(size), "batch": batch,
            "params": params, "gflops": gflops, "file_mb": r.file.stat().st_size / 1e6 if r.file else None,
            "runs": len(ts), "latency_ms_p50": p50, "latency_ms_p90": _percentile(ts, 90),
            "latency_ms_p99": _percentile(ts, 99), "fps": batch * 1e3 / p50, "miou": acc.get("miou"),
            "pixel_acc": acc.get("pixel_acc"),
        })
    eager = next((r for r in rows if r["engine"] == "torch" and r["precision"] == "fp32"), None)
    best = max((r for r in rows if r["engine"] == "torch"), key=lambda r: r["fps"], default=None)
    for r in rows:
        r["speedup_vs_torch"] = r["fps"] / eager["fps"] if eager else None
        r["speedup_vs_torch_best"] = r["fps"] / best["fps"] if best else None
    return rows, interrupted


def _header(size, batch, n_runs, warmup, data, engines, providers) -> dict[str, Any]:
    from seg import __version__
    from seg.machine import machine_info

    return {
        **machine_info(), "seg": __version__, "size": list(size), "batch": batch, "runs": n_runs, "warmup": warmup,
        "data": str(data) if data else None, "engines": list(engines), "providers": list(providers), "interrupted": False,
    }


def write_outputs(result: dict[str, Any], json_path: Path | None = None, csv_path: Path | None = None,
                  md_path: Path | None = None, plot_path: Path | None = None) -> None:
    """The JSON (header + rows), CSV (rows), Markdown table and FPS-vs-mIoU plot."""
    rows = result["rows"]
    if json_path:
        write_json(json_path, result)
    if csv_path and rows:
        with atomic_path(csv_path) as tmp, open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    if md_path:
        with atomic_path(md_path) as tmp:
            tmp.write_text(markdown_table(result) + "\n")
    if plot_path and rows:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        # Colour = model, marker = engine and precision: 20+ points stay readable without labels.
        fig, ax = plt.subplots(figsize=(9, 5))
        models = list(dict.fromkeys(r["model"] for r in rows))
        kinds = list(dict.fromkeys(f"{r['engine']} {row_label(r)}" for r in rows))
        markers = "os^vDP*Xph<>"
        for r in rows:
            kind = f"{r['engine']} {row_label(r)}"
            ax.scatter(r["fps"], r["miou"] if r["miou"] is not None else 0.0, s=40, color=f"C{models.index(r['model']) % 10}",
                       marker=markers[kinds.index(kind) % len(markers)], alpha=0.85)
        handles = [plt.Line2D([], [], color=f"C{i % 10}", marker="o", ls="", label=m) for i, m in enumerate(models)]
        handles += [plt.Line2D([], [], color="grey", marker=markers[i % len(markers)], ls="", label=k) for i, k in enumerate(kinds)]
        ax.legend(handles=handles, fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
        ax.grid(alpha=0.3)
        ax.set(xlabel=f"FPS (batch {result['header']['batch']}, {result['header']['size'][0]}x{result['header']['size'][1]})",
               ylabel="val mIoU", xscale="log", title="seg bench: speed vs accuracy")
        fig.tight_layout()
        with atomic_path(plot_path) as tmp:
            fig.savefig(tmp, dpi=110)
        plt.close(fig)


def row_label(r: dict[str, Any]) -> str:
    """``int8 e2e``, ``bf16+channels_last``: what ran, in a few characters."""
    return r.get("variant", r["precision"]).replace("e2e.", "").replace("e2e", "fp32") + (" e2e" if r.get("e2e") else "")


# One spec for the terminal table and the Markdown one. ``drop``: which go first when a terminal
# is too narrow (highest first); Markdown and piped output always hold every column.
COLUMNS = [
    Column("model", lambda r: r["model"]),
    Column("engine", lambda r: r["engine"]),
    Column("precision", lambda r: row_label(r)),
    Column("provider", lambda r: r["provider"], drop=5),
    Column("weights", lambda r: r["weights"], drop=6),
    Column("params", lambda r: fmt(r["params"] and r["params"] / 1e6, ".1f", "M"), right=True, drop=10),
    Column("GFLOPs", lambda r: fmt(r["gflops"], ".1f"), right=True, drop=9),
    Column("file MB", lambda r: fmt(r["file_mb"], ".1f"), right=True, drop=8),
    Column("p50 ms", lambda r: f"{r['latency_ms_p50']:.1f}", right=True),
    Column("p90 ms", lambda r: f"{r['latency_ms_p90']:.1f}", right=True, drop=7),
    Column("p99 ms", lambda r: f"{r['latency_ms_p99']:.1f}", right=True, drop=4),
    Column("FPS", lambda r: f"{r['fps']:.1f}", right=True),
    Column("vs torch fp32", lambda r: fmt(r.get("speedup_vs_torch"), ".2f", "x"), right=True, drop=2),
    Column("vs best torch", lambda r: fmt(r.get("speedup_vs_torch_best"), ".2f", "x"), right=True),
    Column("mIoU", lambda r: fmt(r["miou"], ".3f"), right=True),
    Column("pixel acc", lambda r: fmt(r["pixel_acc"], ".3f"), right=True, drop=3),
]


def markdown_table(result: dict[str, Any]) -> str:
    h = result["header"]
    lines = [
        f"{h['cpu']}, {h['cores']} cores ({'/'.join(h['cpu_flags']) or '-'}), GPU: {h.get('gpu') or 'none'}; "
        f"onnxruntime {h['onnxruntime']}, torch {h.get('torch', '-')} ({h.get('torch_threads', '-')} threads); "
        f"input {h['batch']}x3x{h['size'][0]}x{h['size'][1]}, {h['runs']} timed runs after {h['warmup']} warm-up, "
        f"engines interleaved; mIoU on {h['data'] or '-'} (val, full size)"
        + ("; INTERRUPTED, partial" if h.get("interrupted") else ""),
        "",
        markdown(COLUMNS, result["rows"]),
    ]
    for sk in h.get("skipped", []):
        lines.append(f"\n{sk['model']} {sk['variant']}: not benchmarked: {sk.get('reason') or 'could not be exported'}")
    return "\n".join(lines)
