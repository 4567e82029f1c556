"""``seg bench``: latency, FPS and mIoU per model x engine x provider, PyTorch alongside.

Engines are timed *interleaved* (one run of each in turn, repeated), so a noisy machine slows
them alike and the ratios hold. Accuracy goes through the very engine being timed, with the one
``seg.metrics`` implementation, on the val split at each image's own size.
"""

from __future__ import annotations

import csv
import os
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from seg._io import atomic_path, write_json
from seg.errors import SegError
from seg.metrics import ConfusionMatrix

ENGINES = ("onnxruntime", "torch")


@dataclass
class Entry:
    """One model's files and the engines built from them."""

    model: str
    onnx_path: Path
    weights: str  # "checkpoint" or "random-init"
    torch_model: Any = None
    sessions: dict[str, Any] = field(default_factory=dict)  # provider -> ORT session


def resolve_entries(models: list[str], runs: Path, random_init: bool, log: Callable[[str], None]) -> list[Entry]:
    """The ONNX file (exported from the checkpoint when missing or older) and the PyTorch model
    of each model; untrained weights only with ``random_init`` (flagged in every row)."""
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
            entries.append(Entry(name, onnx_path, "checkpoint", model))
        elif random_init:
            onnx_path = runs / "bench" / f"{name}.random.onnx"
            if not onnx_path.is_file():
                log(f"exporting untrained {name} -> {onnx_path}")
                export_checkpoint(name, out=onnx_path, runs=runs, random_init=True)
            torch.manual_seed(0)  # the same weights export_checkpoint(random_init=True) exported
            entries.append(Entry(name, onnx_path, "random-init", get_model(name).eval()))
    if not entries:
        raise SegError(f"no trained models under {runs}/<model>/best.pt for {', '.join(models)}: train them "
                       "(`seg train --model NAME --data DIR`, or `seg demo`), or pass --random-init to bench untrained weights")
    return entries


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def _normalise(image_rgb: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    return ((image_rgb.astype(np.float32) / 255.0 - mean) / std).transpose(2, 0, 1)[None].copy()


def evaluate_engine(run: Callable[[np.ndarray], np.ndarray], dataset, mean, std, num_classes: int = 21) -> dict:
    """mIoU and pixel accuracy of one engine over a VOC split, at each image's own size."""
    cm = ConfusionMatrix(num_classes)
    for i in range(len(dataset)):
        image, mask = dataset.load(i)
        cm.update(run(_normalise(image, mean, std))[0].argmax(0), mask)
    m = cm.compute()
    return {"miou": m.miou, "pixel_acc": m.pixel_acc}


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
    log: Callable[[str], None] = print,
    on_progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Benchmark; returns ``{"header": {...}, "rows": [...]}``. Ctrl-C returns what was measured
    so far with ``header["interrupted"] = True``."""
    from seg.infer.session import AUTO_ORDER, create_session

    for e in engines:
        if e not in ENGINES:
            raise SegError(f"unknown engine {e!r}; choose from: {', '.join(ENGINES)}")
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
    for p in providers:
        if p not in AUTO_ORDER:
            raise SegError(f"unknown provider {p!r}; choose from: {', '.join(AUTO_ORDER)}")

    from seg.metadata import from_props
    from seg.models import count_parameters, model_flops

    header = _header(size, batch, n_runs, warmup, data, engines, providers)
    rows: list[dict[str, Any]] = []
    x = np.random.default_rng(0).standard_normal((batch, 3, *size), dtype=np.float32)
    try:
        for entry in entries:
            meta = from_props(create_session(entry.onnx_path, "cpu")[0].get_modelmeta().custom_metadata_map)
            mean, std = np.array(meta["mean"], np.float32), np.array(meta["std"], np.float32)
            runners: dict[tuple[str, str], Callable[[np.ndarray], np.ndarray]] = {}
            if "onnxruntime" in engines:
                for p in providers:
                    sess, used = create_session(entry.onnx_path, p, spinning=False)  # fair to the next engine
                    runners[("onnxruntime", used)] = lambda a, s=sess: s.run(["logits"], {"image": a})[0]
            if "torch" in engines:
                net = entry.torch_model.eval()

                def torch_run(a: np.ndarray, net=net) -> np.ndarray:
                    with torch_mod.inference_mode():
                        return net(torch_mod.from_numpy(a)).numpy()

                runners[("torch", "cpu")] = torch_run
            times: dict[tuple[str, str], list[float]] = {k: [] for k in runners}
            for _ in range(warmup):
                for fn in runners.values():
                    fn(x)
            for i in range(n_runs):
                for key, fn in runners.items():  # interleaved: one of each, in turn
                    t = time.perf_counter()
                    fn(x)
                    times[key].append((time.perf_counter() - t) * 1e3)
                if on_progress:
                    on_progress(f"{entry.model} run {i + 1}/{n_runs}")
            params = count_parameters(entry.torch_model)
            gflops = model_flops(entry.model, *size) / 1e9
            for (engine, provider), ts in times.items():
                acc = evaluate_engine(runners[(engine, provider)], dataset, mean, std) if dataset is not None else {}
                p50 = statistics.median(ts)
                rows.append({
                    "model": entry.model, "engine": engine, "provider": provider, "precision": "fp32",
                    "weights": entry.weights, "size": list(size), "batch": batch, "params": params,
                    "gflops": gflops, "file_mb": entry.onnx_path.stat().st_size / 1e6 if engine == "onnxruntime" else None,
                    "latency_ms_p50": p50, "latency_ms_p90": _percentile(ts, 90), "latency_ms_p99": _percentile(ts, 99),
                    "fps": batch * 1e3 / p50, "miou": acc.get("miou"), "pixel_acc": acc.get("pixel_acc"),
                })
            ref = next((r for r in rows if r["model"] == entry.model and r["engine"] == "torch"), None)
            for r in rows:
                if r["model"] == entry.model:
                    r["speedup_vs_torch"] = r["fps"] / ref["fps"] if ref else None
    except KeyboardInterrupt:
        header["interrupted"] = True
    return {"header": header, "rows": rows}


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

        fig, ax = plt.subplots(figsize=(6.5, 4.2))
        for r in rows:
            y = r["miou"] if r["miou"] is not None else 0.0
            ax.scatter(r["fps"], y, marker="o" if r["engine"] == "onnxruntime" else "s")
            ax.annotate(f"{r['model']}\n{r['engine']}/{r['provider']}", (r["fps"], y), fontsize=7,
                        xytext=(4, 2), textcoords="offset points")
        ax.set(xlabel=f"FPS (batch {result['header']['batch']}, {result['header']['size'][0]}x{result['header']['size'][1]})",
               ylabel="val mIoU", xscale="log", title="seg bench: speed vs accuracy")
        fig.tight_layout()
        with atomic_path(plot_path) as tmp:
            fig.savefig(tmp, dpi=110)
        plt.close(fig)


def markdown_table(result: dict[str, Any]) -> str:
    h = result["header"]
    lines = [
        f"{h['cpu']}, {h['cores']} cores ({'/'.join(h['cpu_flags']) or '-'}), GPU: {h.get('gpu') or 'none'}; "
        f"onnxruntime {h['onnxruntime']}, torch {h.get('torch', '-')} ({h.get('torch_threads', '-')} threads); "
        f"input {h['batch']}x3x{h['size'][0]}x{h['size'][1]}, {h['runs']} timed runs after {h['warmup']} warm-up, "
        f"engines interleaved; mIoU on {h['data'] or '-'} (val, full size)"
        + ("; INTERRUPTED, partial" if h.get("interrupted") else ""),
        "",
        "| model | engine | provider | weights | params | GFLOPs | file MB | p50 ms | p90 ms | p99 ms | FPS | vs torch | mIoU | pixel acc |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result["rows"]:
        def f(v, fmt):
            return "-" if v is None else format(v, fmt)

        lines.append(
            f"| {r['model']} | {r['engine']} | {r['provider']} | {r['weights']} | {r['params'] / 1e6:.1f}M | "
            f"{r['gflops']:.1f} | {f(r['file_mb'], '.1f')} | {r['latency_ms_p50']:.1f} | {r['latency_ms_p90']:.1f} | "
            f"{r['latency_ms_p99']:.1f} | {r['fps']:.1f} | {f(r.get('speedup_vs_torch'), '.2f')}x | "
            f"{f(r['miou'], '.3f')} | {f(r['pixel_acc'], '.3f')} |"
        )
    return "\n".join(lines)
