"""int8 and fp16 variants of a verified fp32 export, and the accuracy guardrail that gates them.

Everything here works on ONNX files (no torch): the fp32 file has already been proven equal to
PyTorch, so a variant only has to be compared with it.

- **int8**: onnxruntime's static post-training quantisation, per-channel int8 weights, activations
  calibrated on real training images. ``Int8Config``'s defaults were chosen by measurement on the
  trained models (``benchmarks/quant_formats.py``, results in ``benchmarks/results/``).
- **fp16**: float16 weights and compute with float32 inputs and outputs, for GPUs (ORT's CPU
  provider has few fp16 kernels and runs such a graph slower than fp32).
- **guardrail**: both models over a held-out split with :class:`seg.metrics.ConfusionMatrix`;
  the variant passes when its mIoU is at most ``max_drop`` points below the fp32 model's.
"""

from __future__ import annotations

import inspect
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import onnx

from seg._io import scratch_dir
from seg.errors import SegError
from seg.infer.preprocess import graph_rule, input_size, labels_of, model_input, resize_antialias, resize_for_model
from seg.metrics import ConfusionMatrix

MAX_DROP_POINTS = 1.0  # with masks: at most 1.0 mIoU point below fp32
# Without masks (a plain image folder): the variant must give the fp32 model's label on at least
# this share of the pixels. Measured here: trained models whose int8 files pass the 1-point mIoU
# guardrail agree with fp32 on 95.4-99.7% of the pixels (synthetic val and real VOC photos).
MIN_AGREEMENT = 0.95


@dataclass(frozen=True)
class Int8Config:
    """How to quantise. Defaults measured on this project's trained models (2-core AVX-512 VNNI
    CPU): see ``benchmarks/results/*/quant_formats.json`` and docs/export.md."""

    format: str = "qoperator"  # QLinearConv kernels; the QDQ format ran slower on this CPU
    activation: str = "u8"  # uint8 activations x int8 weights: the x86 VNNI fast path (U8S8)
    weight: str = "s8"
    per_channel: bool = True  # one scale per output channel: BN-folded weights vary a lot across channels
    method: str = "minmax"  # calibration: minmax | percentile | entropy
    exclude_ops: tuple[str, ...] = ()  # op types left in float, e.g. ("Resize",)
    subpixel: bool = True  # ConvTranspose -> Conv + DepthToSpace, so decoders quantise (seg.variants.subpixel)
    # 7-bit weights: on x86 without VNNI, MLAS multiplies u8 x s8 with vpmaddubsw, whose 16-bit sums
    # saturate with full 8-bit weights (ONNX Runtime's quantization docs); None: decided by this CPU's class.
    reduce_range: bool | None = None
    calib_n: int = 64  # calibration images from the training split

    def __post_init__(self) -> None:
        choices = {"format": ("qoperator", "qdq"), "activation": ("u8", "s8"), "weight": ("u8", "s8"),
                   "method": ("minmax", "percentile", "entropy")}
        for key, allowed in choices.items():
            if getattr(self, key) not in allowed:
                raise SegError(f"int8 {key} {getattr(self, key)!r}: choose one of {', '.join(allowed)}")
        if self.calib_n < 1:
            raise SegError("--calib-n must be at least 1")


def cpu_session(path: str | os.PathLike, threads: int | None = None):
    """A quiet CPU session that does not busy-wait between runs."""
    from seg.infer.session import create_session

    return create_session(path, "cpu", threads, spinning=False)[0]


class _Reader:
    """onnxruntime's CalibrationDataReader protocol over RGB images, one at a time, each fed at the
    size ``seg run`` feeds the model (the recorded ``seg.imgsz`` or preset): calibration then sees
    what the camera path sees, and its peak memory depends neither on the photos' sizes nor on
    their number (a 2000x1500 photo at its own size took 3.9 GB and 28 s)."""

    def __init__(self, images: Sequence[np.ndarray], meta: dict[str, Any], input_name: str):
        self._images, self._meta, self._name = iter(images), meta, input_name

    def get_next(self) -> dict[str, np.ndarray] | None:
        image = next(self._images, None)
        if image is None:
            return None
        image = resize_for_model(image, input_size(*image.shape[:2], self._meta), self._meta)
        return {self._name: model_input(image, self._meta)}

    def rewind(self) -> None:  # ORT calls it between calibration passes of some methods
        pass


def quantize_int8(fp32_path: str | os.PathLike, out_path: str | os.PathLike, images: Sequence[np.ndarray],
                  meta: dict[str, Any], config: Int8Config = Int8Config(), shared: Path | None = None) -> dict[str, Any]:
    """Static int8 quantisation of ``fp32_path`` to ``out_path``; returns what was done (for metadata).

    ``shared``: a folder that quantisations of the same fp32 file from the same ``images`` share
    (``--precision auto``'s two int8 candidates, which differ only in the ops left in float): the
    prepared graph and the calibrated ranges are made by the first and reused by the next."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    if not images:
        raise SegError("int8 calibration needs at least one image")
    types = {"u8": QuantType.QUInt8, "s8": QuantType.QInt8}
    reduce_range = needs_reduce_range() if config.reduce_range is None else config.reduce_range
    with scratch_dir() as d:
        pre, n_subpixel = _prepared(fp32_path, Path(shared or d), config.subpixel)
        # The ranges depend on the graph and the images only, not on what is left in float: kept in
        # ORT's calibration cache where this ORT has one (older ones calibrate every time).
        cache = {}
        if shared is not None and "calibration_cache_path" in inspect.signature(quantize_static).parameters:
            name = f"ranges.sp{int(config.subpixel)}.{config.method}.n{len(images)}.json"
            cache = {"calibration_cache_path": Path(shared) / name}
        graph = onnx.load(str(pre)).graph
        exclude = [n.name for n in graph.node if n.op_type in config.exclude_ops]
        input_name = graph.input[0].name
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)  # the quantiser warns through the root logger about every int64 shape tensor
        try:
            quantize_static(
                str(pre), str(out_path), _Reader(images, meta, input_name),
                quant_format=QuantFormat.QOperator if config.format == "qoperator" else QuantFormat.QDQ,
                per_channel=config.per_channel, activation_type=types[config.activation], weight_type=types[config.weight],
                calibrate_method={"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
                                  "entropy": CalibrationMethod.Entropy}[config.method],
                nodes_to_exclude=exclude or None,
                calibration_providers=["CPUExecutionProvider"],
                reduce_range=reduce_range,
                **cache,
            )
        except SegError:
            raise
        except Exception as e:
            raise SegError(f"int8 quantisation failed: {type(e).__name__}: {str(e).strip().splitlines()[0]}") from None
        finally:
            root.setLevel(level)
    return {**asdict(config), "reduce_range": reduce_range, "exclude_ops": list(config.exclude_ops),
            "calib_images": len(images), "excluded_nodes": len(exclude), "subpixel_deconvs": n_subpixel}


def _prepared(fp32_path: str | os.PathLike, folder: Path, subpixel: bool) -> tuple[Path, int]:
    """The graph quantize_static is given, in ``folder`` (made there unless it already is): the
    sub-pixel rewrite if asked for, then ORT's pre-processing. Returns it and the deconvolutions
    rewritten."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    pre, count = folder / f"pre.sp{int(subpixel)}.onnx", folder / f"pre.sp{int(subpixel)}.deconvs"
    if not (pre.is_file() and count.is_file()):
        src, n = Path(fp32_path), 0
        if subpixel:
            src = folder / "subpixel.onnx"
            n = _subpixel(fp32_path, src)
        # Symbolic shape inference fails on dynamic H/W graphs; ONNX shape inference is enough here.
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        count.write_text(str(n))
    return pre, int(count.read_text())


def needs_reduce_range() -> bool:
    """7-bit weights on x86 CPUs without VNNI (AVX2 and older, AVX-512 without VNNI), where full-range
    u8 x s8 products can saturate; VNNI, AMX and ARM multiply without that risk."""
    from seg.machine import cpu_info

    return cpu_info()["cpu_class"] in ("avx2", "avx512", "baseline")


def _subpixel(fp32_path: str | os.PathLike, out: Path) -> int:
    """Write the sub-pixel rewrite of ``fp32_path`` to ``out`` after checking it computes the same."""
    from seg.variants.subpixel import rewrite

    model, n = rewrite(onnx.load(str(fp32_path)))
    onnx.save(model, str(out))
    if n:
        a, b = cpu_session(fp32_path), cpu_session(out)
        name = a.get_inputs()[0].name
        for shape in ((1, 3, 64, 96), (2, 3, 97, 131)):
            x = np.random.default_rng(0).standard_normal(shape, dtype=np.float32)
            ref, got = a.run(None, {name: x})[0], b.run(None, {name: x})[0]
            if got.shape != ref.shape or np.abs(got - ref).max() > 1e-4 + 1e-4 * np.abs(ref).max():
                raise SegError("the sub-pixel rewrite of the transposed convolutions changed the model's output; "
                               "quantise without it (Int8Config(subpixel=False))")
    return n


def convert_fp16(fp32_path: str | os.PathLike, out_path: str | os.PathLike) -> dict[str, Any]:
    """float16 weights and activations inside, float32 ``image`` in and ``logits`` out."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(onnx.load(str(fp32_path)), keep_io_types=True)
    _toposort(model.graph)  # the converter appends its input/output casts at the end
    onnx.save(model, str(out_path))
    return {"keep_io_types": True}


def _toposort(graph: onnx.GraphProto) -> None:
    """Order ``graph.node`` so every node comes after the producers of its inputs (ONNX's rule)."""
    ready = {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        rest = [n for n in pending if not all(i in ready for i in n.input)]
        done = [n for n in pending if all(i in ready for i in n.input)]
        if not done:
            raise SegError("the fp16 graph has a cycle or a missing input")
        ordered += done
        ready.update(o for n in done for o in n.output)
        pending = rest
    del graph.node[:]
    graph.node.extend(ordered)


def guardrail(reference: str | os.PathLike, candidate: str | os.PathLike, dataset, meta: dict[str, Any],
              max_drop: float = MAX_DROP_POINTS, min_agreement: float = MIN_AGREEMENT, limit: int | None = None,
              session=cpu_session) -> dict[str, Any]:
    """Run ``reference`` (fp32) and ``candidate`` on every image of ``dataset`` (held-out images)
    at the image's own size, and judge the candidate:

    - images with masks (a VOC split): ``passed`` when its mIoU is at most ``max_drop`` points
      below the fp32 model's (``kind: "miou"``);
    - plain images (``load`` gives no mask): ``passed`` when it predicts the fp32 model's label on
      at least ``min_agreement`` of the pixels (``kind: "agreement"``).

    The fraction of pixels with the same label is reported either way."""
    sessions = [session(reference), session(candidate)]
    num_classes = int(meta.get("num_classes", 21))
    cms = [ConfusionMatrix(num_classes), ConfusionMatrix(num_classes)]
    same = total = masks = 0
    n = len(dataset) if limit is None else min(limit, len(dataset))
    for i in range(n):
        image, mask = dataset.load(i)
        preds = []
        for sess, cm in zip(sessions, cms):
            pred = labels_of(sess.run(None, {sess.get_inputs()[0].name: model_input(image, meta)})[0], meta,
                             image.shape[:2])[0]
            if mask is not None:
                cm.update(pred, mask)
            preds.append(pred)
        masks += mask is not None
        same += int((preds[0] == preds[1]).sum())
        total += preds[0].size
    agreement = same / max(total, 1)
    report: dict[str, Any] = {"split": getattr(dataset, "split", None), "data": str(getattr(dataset, "voc_dir", "")),
                              "images": n, "held_out": bool(getattr(dataset, "held_out", True)),
                              "label_agreement": agreement}
    if masks == n:
        ref, cand = cms[0].compute(), cms[1].compute()
        drop = (ref.miou - cand.miou) * 100
        return {**report, "kind": "miou", "fp32_miou": ref.miou, "miou": cand.miou, "fp32_pixel_acc": ref.pixel_acc,
                "pixel_acc": cand.pixel_acc, "drop_points": drop, "max_drop_points": max_drop, "passed": drop <= max_drop}
    return {**report, "kind": "agreement", "min_agreement": min_agreement, "passed": agreement >= min_agreement}


def label_agreement(a: str | os.PathLike, b: str | os.PathLike, images: Sequence[np.ndarray],
                    meta_a: dict[str, Any], meta_b: dict[str, Any], session=cpu_session) -> float:
    """Fraction of pixels where two models (either may be end-to-end) predict the same label. Where
    one is a graph that sizes frames itself, the other is fed the photo sized by the same rule on
    the host (Pillow's antialiased resize, which the graph's Resize follows) and its labels are
    brought back to the photo's size: the graph's ops are checked against the Python they replace."""
    rule = graph_rule(meta_a) or graph_rule(meta_b)

    def labels(sess, im: np.ndarray, meta: dict[str, Any]) -> np.ndarray:
        x = im if rule is None or graph_rule(meta) else resize_antialias(im, rule.of(*im.shape[:2]))
        out = sess.run(None, {sess.get_inputs()[0].name: model_input(x, meta)})[0]
        return labels_of(out, meta, size=im.shape[:2])

    sa, sb = session(a), session(b)
    same = total = 0
    for im in images:
        la, lb = labels(sa, im, meta_a), labels(sb, im, meta_b)
        same += int((la == lb).sum())
        total += la.size
    return same / max(total, 1)
