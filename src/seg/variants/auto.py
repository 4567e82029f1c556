"""``--precision auto``: the fastest variant that passes its accuracy guardrail, chosen on this
machine, as TensorRT's builder picks tactics on the target.

int8 does not pay everywhere: on a 2-core AVX2 CPU (no VNNI) baseline_fcn's int8 graph ran no
faster than fp32, while on AVX-512 VNNI it ran 2x faster. So the candidates (fp32; int8; int8 with
the merge ops Add/Concat/Resize left in float, which keeps some models' accuracy) are built in the
requested form (plain, or end-to-end with ``--e2e``), the int8 ones guarded as usual, and each
timed per frame the way ``seg run`` runs it (resize, preprocessing, the model, labels back) on the
CPU provider. The fastest that passed is written; every candidate's time, and why a slower or
refused one was not chosen, go into its metadata (``seg.auto``) and the export report.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import statistics
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import onnx

from seg._io import atomic_path, scratch_dir
from seg.errors import SegError
from seg.infer.preprocess import size_rule
from seg.metadata import read_meta, write_props
from seg.text import plural
from seg.variants.build import make_variant
from seg.variants.quantize import Int8Config

MERGE_OPS = ("Add", "Concat", "Resize")  # skip connections and upsampling: what float keeps accurate


TIE = 0.03  # candidates within 3% of the fastest are a tie (timing noise): the simplest one is kept


def gpu_runs_models() -> bool:
    """Whether ``seg run --provider auto`` would run models on an NVIDIA GPU here: a driver, and ONNX
    Runtime's CUDA provider in this build with its libraries loading. Then --precision auto builds no
    int8 candidate (QOperator files run on the CPU only: seg.infer.session)."""
    import onnxruntime as ort

    from seg.infer.providers import has_nvidia_gpu, library_problem

    return (has_nvidia_gpu() and "CUDAExecutionProvider" in ort.get_available_providers()
            and library_problem("cuda") is None)


def time_candidate(path: str | os.PathLike, imgsz: int | None, runs: int = 10,
                   frame_hw: tuple[int, int] | None = None) -> float:
    """Median milliseconds per frame of ``seg run``'s work (Segmenter.predict) on a frame of
    ``frame_hw`` (the calibration source's: what the camera sends), else a 4:3 frame of longer side
    ``imgsz`` (None: 640x480), fed to the model at ``imgsz`` or its own input size."""
    from seg.infer import Segmenter

    seg = Segmenter(path, provider="cpu", imgsz=imgsz)
    h, w = frame_hw or ((imgsz * 3 // 4, imgsz) if imgsz else (480, 640))
    frame = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
    seg.predict(frame)  # warm-up
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        seg.predict(frame)
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def auto_variant(
    fp32_path: str | os.PathLike,
    out: str | os.PathLike,
    *,
    e2e: bool = False,
    runs: int = 10,
    imgsz: int | None = None,
    log: Callable[[str], None] = lambda m: None,
    timer: Callable[[Path, int, int], float] | None = None,
    **build: Any,
) -> dict[str, Any]:
    """Build the candidates of ``fp32_path``, time the ones that pass, write the fastest to ``out``;
    return the report (``auto``: every candidate, ``chosen``). ``build``: what each candidate is
    built with, as :func:`~seg.variants.build.make_variant` takes it (``calib``, ``heldout``,
    ``int8``, ``max_drop``, ``min_agreement``). Frames are timed at ``imgsz`` (default: the
    model's own ``seg.imgsz``, what ``seg run`` feeds it). Without calibration data only fp32
    competes (int8 is recorded as not built, with the reason)."""
    int8 = build.pop("int8", None) or Int8Config()
    meta = read_meta(fp32_path)
    # torchvision's models are timed at their preset (shorter side 520) as seg run feeds them
    imgsz = imgsz or (None if meta.get("preprocess") else size_rule(meta).size)
    # Frames the size the calibration source's (a clip from the camera): seg run's resize from that
    # size is part of the cost (47 ms timed on 640x480 was 71 ms in seg run on the 768x432 clip).
    source = build.get("calib") or build.get("heldout")
    frame_hw = tuple(source.load(0)[0].shape[:2]) if source is not None and len(source) else None
    timer = timer or functools.partial(time_candidate, frame_hw=frame_hw)
    out = Path(out)
    candidates: list[dict[str, Any]] = []
    with scratch_dir() as d:
        files: dict[str, Path] = {}
        specs = [("fp32", None), ("int8", int8), ("int8, merge ops in float",
                                                   dataclasses.replace(int8, exclude_ops=MERGE_OPS))]
        gpu = gpu_runs_models()
        for name, config in specs:
            if config is not None and gpu:  # seg run would put the fp32 file on the GPU and an int8 one on the CPU
                candidates.append({"name": name, "passed": False, "why": "not built: this machine runs models on "
                                   "its GPU, where int8 (QOperator) files cannot run; fp32 (or an fp16 export) is what "
                                   "runs there"})
                continue
            path = Path(d) / f"candidate{len(files)}.onnx"
            try:
                if config is None and not e2e:
                    path = Path(fp32_path)  # the plain fp32 file is its own candidate
                else:
                    log(f"auto: building the {name}{' e2e' if e2e else ''} candidate")
                    make_variant(fp32_path, path, precision="fp32" if config is None else "int8", e2e=e2e,
                                 int8=config or int8, log=log, shared=Path(d), **build)
            except SegError as e:  # refused by its guardrail, or no calibration data
                candidates.append({"name": name, "passed": False, "why": str(e)})
                continue
            files[name] = path
            guard = read_meta(path).get("guardrail") or {}
            candidates.append({"name": name, "passed": True, "guardrail": guard.get("label_agreement")})
        fed = f"longer side {imgsz} px" if imgsz else "the model's preset size"
        size = (f"{frame_hw[1]}x{frame_hw[0]} frames of the calibration data" if frame_hw else
                f"{'a 4:3 frame' if imgsz else 'a 640x480 frame'}") + f", fed at {fed}"
        log(f"auto: timing {plural(len(files), 'candidate')} on this CPU ({plural(runs, 'frame')} each, {size})")
        times = {name: [] for name in files}
        for _ in range(3):  # interleaved rounds: a noisy machine slows them alike
            for name, path in files.items():
                times[name].append(timer(path, imgsz, max(1, runs // 3)))
        for c in candidates:
            if c["name"] in times:
                c["ms"] = statistics.median(times[c["name"]])
        timed = [c for c in candidates if "ms" in c]  # in the order fp32, int8, int8 with float merges
        fastest = min(timed, key=lambda c: c["ms"])
        chosen = next(c for c in timed if c["ms"] <= fastest["ms"] * (1 + TIE))  # a tie goes to the simpler
        for c in candidates:
            if c is chosen:
                c["why"] = "fastest that passed" if c is fastest else \
                    f"within {TIE:.0%} of the fastest ({fastest['ms']:.1f} ms): a tie, and the simpler candidate"
            elif "ms" in c and c["ms"] > chosen["ms"]:
                c["why"] = f"slower: {c['ms']:.1f} ms vs {chosen['ms']:.1f} ms per frame"
            elif "ms" in c:  # the fastest, when the simpler one chosen tied with it
                c["why"] = (f"the fastest, but within {TIE:.0%} of the simpler {chosen['name']} "
                            f"({chosen['ms']:.1f} ms): a tie")
        from seg.machine import cpu_info

        m = cpu_info()
        record = {"chosen": chosen["name"], "candidates": candidates, "imgsz": imgsz, "cpu": m["cpu"],
                  "cpu_class": m["cpu_class"], "timed": "seg run's per-frame work, CPU provider, median",
                  "frame": list(frame_hw) if frame_hw else None}
        model = onnx.load(str(files[chosen["name"]]))
        write_props(model, {"auto": record}, replace=False)
        with atomic_path(out) as tmp:
            onnx.save(model, str(tmp), save_as_external_data=False)
    log(f"auto: chose {chosen['name']} ({chosen['ms']:.1f} ms per frame)")
    final = read_meta(out)
    return {"model": final.get("model"), "path": str(out), "precision": final.get("precision", "fp32"), "e2e": e2e,
            "auto": record, "guardrail": final.get("guardrail"), "bytes": out.stat().st_size}

