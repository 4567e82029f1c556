"""``seg bench``: latency, FPS and mIoU per model x engine x provider, PyTorch alongside.

Times and scores; nothing else (as nanoGPT's ``bench.py``): ``bench(entries) -> rows``. Which
files and models there are, and making the missing ones, is :mod:`seg.bench_entries`; writing
the rows out (JSON, CSV, Markdown, PNG) is :mod:`seg.reporting`.

Engines are timed *interleaved* (one run of each in turn, repeated), so a noisy machine slows
them alike and the ratios hold. Accuracy goes through the very engine being timed, with the one
``seg.metrics`` implementation, on the val split at each image's own size. Where torch is not
installed, the PyTorch rows are reported as skipped.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from seg.bench_entries import Entry, Prepared
from seg.errors import SegError
from seg.layout import parse_variant
from seg.machine import have_torch
from seg.metadata import read_meta
from seg.metrics import ConfusionMatrix

ENGINES = ("onnxruntime", "torch")
NO_TORCH = 'torch is not installed (PyTorch rows need the training extra: pip install "seg-onnx[train]")'


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


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def _ort_runners(entry: Entry, providers: list[str], frames=None, batch: int = 1) -> list[Runner]:
    from seg.infer.preprocess import labels_of, model_input, own_size_inputs, takes_size
    from seg.infer.session import ShapeRange, create_session
    from seg.metadata import from_props, read_meta

    runners = []
    for v, path in entry.variants.items():
        precision, e2e = parse_variant(v)
        # TensorRT's profile by the one rule: what this model is fed for the timing and scoring sizes
        # (a preset model meets 520x520 for --size 512 512, and 520x693 for a VOC photo)
        shapes = ShapeRange.for_frames(read_meta(path), frames or [], batch=batch, own_size=True) if frames else None
        for p in providers:
            # not spinning: fair to the next engine
            sess, used = create_session(path, p, spinning=False, shapes=shapes, fp16=precision == "fp16")
            meta = from_props(sess.get_modelmeta().custom_metadata_map)
            in_name, out_name = sess.get_inputs()[0].name, sess.get_outputs()[0].name
            sized = takes_size(sess)
            runners.append(Runner(
                "onnxruntime", used, meta.get("precision", precision), e2e,
                # a graph that sizes frames itself is fed each frame's own longer side, as the plain rows see it
                lambda a, s=sess, i=in_name, o=out_name, m=meta, k=sized: s.run(
                    [o], {i: a, **(own_size_inputs(m, a) if k else {})})[0],
                lambda f, m=meta: np.concatenate([model_input(im, m) for im in f]),  # BGR frames for e2e graphs
                lambda o, m=meta: labels_of(o, m), path, v))
    return runners


def _torch_runners(entry: Entry, torch_mod, meta: dict[str, Any], bf16: bool, device: str = "cpu") -> list[Runner]:
    """PyTorch eager fp32 and (``bf16``) its fast path, on ``device``: the ONNX rows' device, so a
    GPU provider is compared with PyTorch on the GPU. Timed like ONNX Runtime's run(): the input
    goes to the device and the output comes back inside the timed call."""
    import copy

    from seg.infer.preprocess import model_input

    def feed(f: np.ndarray):  # as the fp32 .onnx is fed: normalised, at the preset size where there is one
        return torch_mod.from_numpy(np.concatenate([model_input(im, meta) for im in f]))

    net = entry.torch_model.eval().to(device)

    def eager(x, net=net) -> np.ndarray:
        with torch_mod.inference_mode():
            return net(x.to(device)).cpu().numpy()

    runners = [Runner("torch", device, "fp32", False, eager, feed, lambda o: o.argmax(1))]
    if bf16:
        # PyTorch's fast path: bf16 autocast (AMX/AVX-512 BF16, or a GPU's) with channels_last activations.
        net_cl = copy.deepcopy(net).to(memory_format=torch_mod.channels_last)

        def fast(x, net=net_cl) -> np.ndarray:
            with torch_mod.inference_mode(), torch_mod.autocast(device, dtype=torch_mod.bfloat16):
                return net(x.to(device).contiguous(memory_format=torch_mod.channels_last)).float().cpu().numpy()

        runners.append(Runner("torch", device, "bf16", False, fast, feed, lambda o: o.argmax(1),
                              variant="bf16+channels_last"))
    return runners


def _torch_device(torch_mod, providers: list[str]) -> str:
    """Where the PyTorch rows run: the GPU when the ONNX Runtime rows use one and torch sees it."""
    return "cuda" if set(providers) & {"cuda", "tensorrt"} and torch_mod.cuda.is_available() else "cpu"


def _native_bf16(torch_mod, device: str) -> bool:
    """bf16 in hardware on ``device`` (emulated bf16 on a V100/T4, or an AVX2 CPU, is slower than fp32)."""
    from seg.machine import cpu_has_bf16, cuda_native_bf16  # the probes training uses to turn bf16 autocast on

    return cuda_native_bf16() if device == "cuda" else cpu_has_bf16()


def _frames(size: tuple[int, int], dataset) -> list[tuple[int, int]]:
    """The frames a model meets in the bench: the timing size first (the profile's optimum), then
    every scored image's own size (headers only)."""
    from seg.images import shown_size

    return [tuple(size)] + [s for s in map(shown_size, getattr(dataset, "images", []) or []) if s]


def evaluate_engine(runner: Runner, dataset, num_classes: int, class_names: list[str] | None = None) -> dict:
    """mIoU and pixel accuracy of one engine over a labelled split, at each image's own size (a model
    with a preset is fed its preset size, as ``seg run`` feeds it, and scored at the mask's, as ``seg eval``)."""
    from seg.classes import check_same_classes
    from seg.infer.preprocess import resize_labels

    if class_names and getattr(dataset, "classes", None) is not None:
        check_same_classes(dataset.classes, class_names, runner.variant or "the model")
    cm = ConfusionMatrix(num_classes)
    for i in range(len(dataset)):
        image, mask = dataset.load(i)
        cm.update(resize_labels(runner.labels(runner.run(runner.feed(image[None]))), mask.shape)[0], mask)
    m = cm.compute()
    return {"miou": m.miou, "pixel_acc": m.pixel_acc}


def check_engines(engines: tuple[str, ...]) -> tuple[str, ...]:
    """``engines`` if each is known, else a one-line SegError naming the choices."""
    for e in engines:
        if e not in ENGINES:
            raise SegError(f"unknown engine {e!r}; choose from: {', '.join(ENGINES)}")
    return engines


def bench(
    prepared: Prepared,
    data: Path | None = None,
    year: str = "2007",
    size: tuple[int, int] = (256, 256),
    batch: int = 1,
    engines: tuple[str, ...] = ENGINES,
    n_runs: int = 20,
    warmup: int = 3,
    torch_bf16: bool | None = None,
    on_progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Time and score every engine of the prepared entries (:func:`seg.bench_entries.prepare`)
    on its providers; return ``{"header": {...}, "rows": [...]}``. Ctrl-C returns what was measured
    so far with ``header["interrupted"] = True``. ``torch_bf16``: add PyTorch bf16 autocast +
    channels_last rows (default: where the device has native bf16)."""
    check_engines(engines)
    providers = prepared.providers
    torch_mod = None
    skipped = list(prepared.skipped)
    if "torch" in engines:
        if have_torch():
            import torch as torch_mod
        else:  # an edge install: the ONNX rows still run, the PyTorch ones are listed with the reason
            engines = tuple(e for e in engines if e != "torch")
            skipped.append({"model": "all models", "variant": "torch", "reason": NO_TORCH})
    dataset = None
    if data is not None:
        from seg.data import open_dataset

        dataset = open_dataset(data, "val", year)  # any layout; each model is scored with its own classes
    device = _torch_device(torch_mod, providers) if torch_mod is not None else "cpu"
    if torch_mod is not None and torch_bf16 is None:
        torch_bf16 = _native_bf16(torch_mod, device)
    bf16 = torch_mod is not None and bool(torch_bf16)

    header = _header(size, batch, n_runs, warmup, data, engines, providers)
    header.update(variants=list(prepared.variants), torch_bf16=bf16, skipped=skipped, torch_device=device,
                  provider_verdict=prepared.provider_verdict)
    shapes = _frames(size, dataset)  # each model's TensorRT profile follows from its own input rule
    if "cpu" in providers or (torch_mod is not None and device == "cpu"):
        from seg.roofline import measure_peaks

        if on_progress:
            on_progress("measuring this CPU's peak")
        header["peaks"] = measure_peaks()  # the roofline each CPU row is held against
    rows: list[dict[str, Any]] = []
    frames = np.random.default_rng(0).integers(0, 256, (batch, *size, 3), dtype=np.uint8)
    for entry in prepared.entries:
        model_rows, interrupted = _bench_model(entry, engines, providers, torch_mod, bf16, frames, size, batch, n_runs,
                                               warmup, dataset, on_progress, shapes, device)
        _add_roofline(model_rows, header.get("peaks"))
        rows += model_rows
        if interrupted:
            header["interrupted"] = True
            break
    return {"header": header, "rows": rows}


def _bench_model(entry: Entry, engines, providers, torch_mod, bf16: bool, frames: np.ndarray, size, batch: int,
                 n_runs: int, warmup: int, dataset, on_progress, shapes=None,
                 device: str = "cpu") -> tuple[list[dict[str, Any]], bool]:
    """Time (interleaved) and score every runner of one model: (rows, interrupted). After Ctrl-C
    the runners timed at least once still get rows (``runs`` says how many), unscored."""

    interrupted = False
    runners: list[Runner] = []
    times: list[list[float]] = []
    try:
        meta = read_meta(entry.onnx_path)
        if "onnxruntime" in engines:
            runners += _ort_runners(entry, providers, shapes, batch)
        if "torch" in engines and entry.torch_model is not None:
            runners += _torch_runners(entry, torch_mod, meta, bf16, device)
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
    params, gflops = _size_of(entry, size)
    rows = []
    for r, ts in zip(runners, times):
        if not ts:
            continue
        acc: dict[str, float] = {}
        if dataset is not None and not interrupted:
            if on_progress:
                on_progress(f"{entry.model} {r.engine} {r.variant} mIoU")
            try:
                acc = evaluate_engine(r, dataset, int(meta.get("num_classes", 21)), meta.get("class_names"))
            except KeyboardInterrupt:
                interrupted = True
        p50 = statistics.median(ts)
        rows.append({
            "model": entry.model, "engine": r.engine, "provider": r.provider, "precision": r.precision,
            "e2e": r.e2e, "variant": r.variant, "weights": entry.weights, "size": list(size), "batch": batch,
            "params": params, "gflops": gflops, "file_mb": r.file.stat().st_size / 1e6 if r.file else None,
            "file": r.file.name if r.file else None,
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


def _add_roofline(rows: list[dict[str, Any]], peaks: dict[str, Any] | None) -> None:
    """Achieved GOP/s (the model's operations x images per second) and % of this CPU's peak for the
    row's arithmetic (int8, bf16 or fp32)."""
    from seg.roofline import peak_for

    for r in rows:
        r["gops"] = r["gflops"] * r["fps"] if r.get("gflops") else None
        peak = peak_for(r, peaks)
        r["pct_peak"] = 100 * r["gops"] / peak if r["gops"] and peak else None


def _size_of(entry: Entry, size: tuple[int, int]) -> tuple[int | None, float | None]:
    """(parameters, GFLOPs at ``size``): counted on the PyTorch model where it is here, else from
    what the export recorded (``seg.params``, ``seg.flops_per_pixel``), else unknown."""
    if entry.torch_model is not None:
        from seg.models import count_parameters, model_flops

        return count_parameters(entry.torch_model), model_flops(entry.model, *size) / 1e9
    meta = read_meta(entry.onnx_path)
    fpp = meta.get("flops_per_pixel")
    return (int(meta["params"]) if meta.get("params") else None,
            float(fpp) * size[0] * size[1] / 1e9 if fpp else None)


def _header(size, batch, n_runs, warmup, data, engines, providers) -> dict[str, Any]:
    from seg import __version__
    from seg.machine import machine_info

    return {
        **machine_info(), "seg": __version__, "size": list(size), "batch": batch, "runs": n_runs, "warmup": warmup,
        "data": str(data) if data else None, "engines": list(engines), "providers": list(providers), "interrupted": False,
    }
