"""The metadata an exported ONNX model carries (``metadata_props``), torch-free.

``seg export`` writes these keys; ``seg run`` (``seg.infer``) needs nothing else to use the
model. Values are strings (ONNX's rule); lists and dicts are JSON.

| key | meaning |
|---|---|
| ``seg.format`` | ``seg-onnx/1``: marks a seg model and the version of this schema |
| ``seg.model`` | registry name of the architecture, e.g. ``resnet_fcn`` |
| ``seg.num_classes`` | number of output channels / classes |
| ``seg.class_names`` | JSON list of class names, index = label |
| ``seg.palette`` | JSON list of ``[r, g, b]`` per class (the VOC colour map) |
| ``seg.mean``, ``seg.std`` | JSON lists: per-channel normalisation of RGB values in [0, 1] |
| ``seg.input`` | layout of the input: ``image float32 [N,3,H,W] RGB, (x/255 - mean)/std`` |
| ``seg.output`` | layout of the output: ``logits float32 [N,C,H,W]`` |
| ``seg.weights`` | ``checkpoint``, ``pretrained`` (torchvision's published weights), ``file`` (a local state dict) or ``random-init`` (untrained: flagged everywhere) |
| ``seg.pretrained`` | JSON, ``pretrained``: torchvision's source, weights name, URL, dataset and published metrics; ``file``: the file, its size and mtime |
| ``seg.preprocess`` | JSON, torchvision's models: the preset's resize, e.g. ``{"resize": "shorter", "size": 520, "interpolation": "bilinear", "antialias": true}``; ``seg run`` resizes frames so unless ``--imgsz`` is given |
| ``seg.checkpoint`` | the checkpoint file exported, with its epoch (for people; ``seg.source`` is the identity) |
| ``seg.source`` | JSON: the identity of the weights exported, ``{"checkpoint"|"file": resolved path, "bytes", "mtime_ns"}`` or ``{"weights": "coco-voc", "url"}`` or ``{"weights": "random-init", "seed"}``; an export is fresh while it equals the weights' identity now |
| ``seg.imgsz`` | median long side of the training images: ``seg run``'s default input size for this model |
| ``seg.val_metrics`` | JSON: the checkpoint's best val metrics (miou, pixel_acc, ...) |
| ``seg.version``, ``seg.torch``, ``seg.opset`` | versions that produced the file |
| ``seg.params`` | parameters of the PyTorch model (before batch norms were folded into convs) |
| ``seg.flops_per_pixel`` | FLOPs of one forward pass at 512x512 divided by 512*512 (a multiply-add = 2) |
| ``seg.simplified`` | JSON ``true`` when the onnxslim-simplified graph passed verification and was kept |
| ``seg.verification`` | JSON summary of the parity check at export time |
| ``seg.precision`` | ``fp32``, ``fp16`` (float32 in/out, float16 inside) or ``int8`` (static quantisation) |
| ``seg.quantization`` | int8 only, JSON: format, activation/weight types, calibration images and method, sub-pixel rewrites |
| ``seg.guardrail`` | int8/fp16, JSON: fp32 and this model's mIoU on the held-out split, the drop in points, label agreement |
| ``seg.e2e`` | JSON ``true`` for an end-to-end graph: ``frames`` uint8 [N,H,W,3] BGR in, ``labels`` uint8 [N,H,W] out |
| ``seg.e2e_resize`` | e2e only, JSON: the size rule the graph applies itself, ``{"resize": "shorter" or "longer", "size", "antialias"}``; absent in older e2e graphs, which take frames at the model's size |
| ``seg.e2e_check`` | e2e only, JSON: label agreement with the plain model at export time |
| ``seg.auto`` | ``--precision auto`` only, JSON: every candidate's ms per frame on the machine that chose, and why |
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from seg.errors import SegError

FORMAT = "seg-onnx/1"
INPUT_NAME = "image"
OUTPUT_NAME = "logits"
INPUT_LAYOUT = "image float32 [N,3,H,W] RGB, (x/255 - mean)/std"
OUTPUT_LAYOUT = "logits float32 [N,C,H,W]"
# The end-to-end variant (`seg export --e2e`): what a camera gives in, what a user wants out.
E2E_INPUT_NAME = "frames"
E2E_OUTPUT_NAME = "labels"
E2E_INPUT_LAYOUT = "frames uint8 [N,H,W,3] BGR"
E2E_OUTPUT_LAYOUT = "labels uint8 [N,H,W]"
# Graphs that size frames themselves (seg.e2e_resize) also return the labels at the model's size,
# and name the resized frames (TensorRT's profile names the tensor its part of the graph starts at).
E2E_MODEL_OUTPUT_NAME = "labels_model"
E2E_RESIZED_NAME = "frames_resized"
# ... and take the size their rule sizes frames to as an input with a default (int64 [1]): seg run
# --imgsz feeds another, seg bench and seg eval a frame's own longer side
E2E_SIZE_NAME = "size"


def e2e_layout(resizes: bool) -> str:
    """The e2e interface in words, for the metadata and ``seg info``."""
    if resizes:
        return (f"{E2E_INPUT_LAYOUT} of any size -> {E2E_OUTPUT_LAYOUT} at the frame's size, "
                f"{E2E_MODEL_OUTPUT_NAME} at the model's")
    return f"{E2E_INPUT_LAYOUT} -> {E2E_OUTPUT_LAYOUT}"
# Input sizes the runtime accepts (longer side, pixels). 32 is the largest output stride; beyond
# 4096 a frame needs GBs of activations (the U-Net at 4096x4096 holds ~16 GB) and no model trained
# at VOC scale (500 px) gains anything.
MIN_SIZE, MAX_SIZE = 32, 4096
JSON_KEYS = ("class_names", "palette", "mean", "std", "val_metrics", "verification", "quantization", "guardrail",
             "e2e_check", "auto", "pretrained", "preprocess", "source", "e2e", "simplified", "e2e_resize")


BOOL_KEYS = ("e2e", "simplified")


def to_props(meta: dict[str, Any]) -> dict[str, str]:
    """``{"model": "unet", "mean": [...]}`` -> ``{"seg.model": "unet", "seg.mean": "[...]"}``."""
    return {f"seg.{k}": json.dumps(v) if k in JSON_KEYS else str(v) for k, v in meta.items() if v is not None}


def is_e2e(meta: dict[str, Any]) -> bool:
    """Whether ``meta`` (read back by :func:`from_props`, or built in memory) is an end-to-end graph's."""
    return meta.get("e2e") is True


def from_props(props: dict[str, str], source: str = "the model") -> dict[str, Any]:
    """The inverse of :func:`to_props` for the ``seg.*`` keys; other keys are dropped. A value
    that is not what seg writes is a one-line SegError naming ``source`` and the key."""
    meta: dict[str, Any] = {}
    for key, value in props.items():
        if not key.startswith("seg."):
            continue
        k = key[4:]
        if k in BOOL_KEYS and value in ("True", "False"):  # how files exported before JSON booleans say it
            meta[k] = value == "True"
        elif k in JSON_KEYS:
            try:
                meta[k] = json.loads(value)
            except json.JSONDecodeError as e:
                raise SegError(f"{source}: metadata {key} is not valid JSON ({e.msg} at character {e.pos})") from None
        else:
            meta[k] = value
    if "num_classes" in meta:
        try:
            meta["num_classes"] = int(meta["num_classes"])
        except ValueError:
            raise SegError(f"{source}: metadata seg.num_classes is {meta['num_classes']!r}, not a number") from None
    return meta


def write_props(proto, meta: dict[str, Any], replace: bool = True) -> None:
    """Write ``meta`` as ``seg.*`` metadata_props into an onnx ModelProto: every writer's one loop.
    ``replace``: drop what the graph carried before (the exporter's or the fp32 file's)."""
    if replace:
        del proto.metadata_props[:]
    for k, v in to_props(meta).items():
        proto.metadata_props.add(key=k, value=v)


def opset_of(proto) -> int | None:
    """The default-domain (ai.onnx) opset an onnx ModelProto imports, or None."""
    return next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)


def not_seg_model(path: str | os.PathLike, why: str) -> SegError:
    """The one wording of "this file is not a seg model", with why (metadata or interface)."""
    return SegError(f"{path} is not a seg model: {why}")


def require_seg_model(meta: dict[str, Any], path: str | os.PathLike, more: str = "") -> dict[str, Any]:
    """``meta`` when it is a seg export's (its ``seg.format``), else the one line saying it is not
    (``more``: what the file has instead); then :func:`check`."""
    if meta.get("format") != FORMAT:
        raise not_seg_model(path, f"no '{FORMAT}' metadata{more} (export it with `seg export`)")
    return check(meta, str(path))


def check(meta: dict[str, Any], source: str = "the model") -> dict[str, Any]:
    """Check what the runtime reads from ``meta`` (classes, palette, normalisation) hangs together;
    return ``meta``. Catches hand-edited or foreign metadata before it fails deep in a frame."""
    n = meta.get("num_classes")
    if not isinstance(n, int) or n < 1:
        raise SegError(f"{source}: metadata seg.num_classes is missing or not a positive number")

    def bad(key: str, why: str) -> SegError:
        return SegError(f"{source}: metadata seg.{key} {why}")

    names = meta.get("class_names")
    if not isinstance(names, list) or len(names) != n or not all(isinstance(x, str) for x in names):
        raise bad("class_names", f"should list {n} class names (seg.num_classes), it holds "
                                 f"{len(names) if isinstance(names, list) else type(names).__name__}")
    palette = meta.get("palette")
    if not isinstance(palette, list) or len(palette) < n or not all(
            isinstance(c, list) and len(c) == 3 and all(isinstance(v, int) and 0 <= v <= 255 for v in c) for c in palette):
        raise bad("palette", f"should hold {n} [r, g, b] colours (0..255), one per class; it holds "
                             f"{len(palette) if isinstance(palette, list) else type(palette).__name__}")
    for key in ("mean", "std"):
        v = meta.get(key)
        if not isinstance(v, list) or len(v) != 3 or not all(isinstance(x, (int, float)) for x in v):
            raise bad(key, "should be a list of 3 numbers (R, G, B)")
    if any(x <= 0 for x in meta["std"]):
        raise bad("std", "must be positive")
    r = meta.get("e2e_resize")
    if r is not None and not (isinstance(r, dict) and r.get("resize") in ("shorter", "longer")
                              and isinstance(r.get("size"), int) and not isinstance(r.get("size"), bool)
                              and (r["size"] == 0 and r["resize"] == "longer" or MIN_SIZE <= r["size"] <= MAX_SIZE)):
        raise bad("e2e_resize", f"should be {{\"resize\": \"shorter\"|\"longer\", \"size\": {MIN_SIZE}..{MAX_SIZE}, "
                                f"...}}, it is {r!r}")
    if meta.get("imgsz") is not None and not str(meta["imgsz"]).isdigit():
        raise bad("imgsz", f"is {meta['imgsz']!r}, not a size in pixels")
    pre = meta.get("preprocess")
    if pre is not None and not (isinstance(pre, dict) and pre.get("resize") == "shorter"
                                and isinstance(pre.get("size"), int) and MIN_SIZE <= pre["size"] <= MAX_SIZE):
        raise bad("preprocess", f"should be {{\"resize\": \"shorter\", \"size\": {MIN_SIZE}..{MAX_SIZE}, ...}}, it is {pre!r}")
    return meta


def file_source(kind: str, path: str | os.PathLike) -> dict[str, Any]:
    """The identity of a weights file, as ``seg.source`` records it: ``{kind: resolved path,
    "bytes", "mtime_ns"}``. Retraining rewrites the file, so the identity changes with it."""
    p = Path(path).resolve()
    st = p.stat()
    return {kind: str(p), "bytes": st.st_size, "mtime_ns": st.st_mtime_ns}


def is_fresh(onnx_path: str | os.PathLike, source: dict[str, Any]) -> bool:
    """Whether ``onnx_path`` exists and was exported from the weights whose identity is ``source``:
    the one freshness rule of ``seg export`` and ``seg bench``."""
    p = Path(onnx_path)
    if not p.is_file():
        return False
    try:
        return read_meta(p).get("source") == source
    except SegError:  # an unreadable file is stale: it is re-exported
        return False


def read_meta(path: str | os.PathLike) -> dict[str, Any]:
    """The ``seg.*`` metadata of an .onnx file, without loading its weights or a session."""
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as e:  # protobuf's DecodeError and friends: not an ONNX file
        raise SegError(f"cannot read {path} as an ONNX model: {type(e).__name__}: {str(e).strip()[:200]}") from None
    _check_external_data(model, path)
    return from_props({p.key: p.value for p in model.metadata_props}, str(path))


def _check_external_data(model, path: str | os.PathLike) -> None:
    """Weights kept in side files must lie in the model's folder: onnx and ONNX Runtime refuse
    others too (nothing is read), but with a 60-line traceback; this says it in one line."""
    from onnx.external_data_helper import _get_all_tensors, uses_external_data

    for t in _get_all_tensors(model):
        if uses_external_data(t):
            loc = {e.key: e.value for e in t.external_data}.get("location", "")
            if os.path.isabs(loc) or ".." in Path(loc).parts:
                raise SegError(f"{path} keeps weight {t.name!r} in {loc!r}, outside the model's folder: not read "
                               "(a model's side files must sit beside it)")


def model_info(path: str | os.PathLike) -> dict[str, Any]:
    """What an .onnx file is, for ``seg info``: its interface (names, element types, dims), opset,
    size, and every ``seg.*`` metadata value (architecture, classes, normalisation, precision,
    guardrail, weights provenance, versions)."""
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as e:
        raise SegError(f"cannot read {path} as an ONNX model: {type(e).__name__}: {str(e).strip()[:200]}") from None

    def tensor(vi) -> dict[str, Any]:
        t = vi.type.tensor_type
        return {"name": vi.name, "type": onnx.TensorProto.DataType.Name(t.elem_type).lower(),
                "dims": [d.dim_param or d.dim_value for d in t.shape.dim]}

    meta = from_props({p.key: p.value for p in model.metadata_props}, str(path))
    return {
        "file": str(path), "bytes": os.path.getsize(path), "seg_model": meta.get("format") == FORMAT,
        "inputs": [tensor(i) for i in model.graph.input if i.name not in {x.name for x in model.graph.initializer}],
        "outputs": [tensor(o) for o in model.graph.output],
        "opset": opset_of(model),
        "ir_version": model.ir_version, "producer": f"{model.producer_name} {model.producer_version}".strip(),
        "meta": meta,
    }
