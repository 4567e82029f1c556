"""A Triton Inference Server model repository for a seg model (torch-free; ``seg export --format triton``).

    <repo>/<name>/config.pbtxt     platform onnxruntime_onnx, inputs/outputs from the graph,
                                   max_batch_size, dynamic_batching, instance_group, TensorRT option
    <repo>/<name>/1/model.onnx     the .onnx file, as it is
    <repo>/<name>/labels.txt       the class names, one a line (label_filename of the first output)

KServe serves the same layout. The config is written from the graph itself, so the commonest
failures of hand-written configs (a model without a dynamic batch axis, ``max_batch_size``
disagreeing with the first dimension, dims written wrong) cannot happen: with ``max_batch_size``
> 0, Triton's dims leave out the batch axis, which the graph must have dynamic.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import onnx

from seg.errors import SegError
from seg.text import shown

# ONNX element types -> Triton's (model_config.proto DataType)
TRITON_TYPES = {onnx.TensorProto.FLOAT: "TYPE_FP32", onnx.TensorProto.FLOAT16: "TYPE_FP16",
                onnx.TensorProto.UINT8: "TYPE_UINT8", onnx.TensorProto.INT8: "TYPE_INT8",
                onnx.TensorProto.INT32: "TYPE_INT32", onnx.TensorProto.INT64: "TYPE_INT64"}


def _interface(model: onnx.ModelProto) -> tuple[list, list]:
    """(inputs, outputs) a client sends and gets: (name, elem_type, dims with None for a dynamic
    one); inputs with a default (overridable initializers, e.g. an e2e graph's ``size``) left out."""
    inits = {i.name for i in model.graph.initializer}

    def dims(v) -> list:
        return [d.dim_value if d.HasField("dim_value") else None for d in v.type.tensor_type.shape.dim]

    ins = [(v.name, v.type.tensor_type.elem_type, dims(v)) for v in model.graph.input if v.name not in inits]
    outs = [(v.name, v.type.tensor_type.elem_type, dims(v)) for v in model.graph.output]
    return ins, outs


def _quoted(s: str) -> str:
    """A protobuf text-format string literal (names come from the file: never trusted to be plain)."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def model_name(path: str | os.PathLike) -> str:
    """A Triton model name from the file's: ``simple_unet.e2e.int8.onnx`` -> ``simple_unet_e2e_int8``."""
    return Path(path).name.removesuffix(".onnx").replace(".", "_")


def config_text(path: str | os.PathLike, name: str, max_batch: int = 8, instances: int = 1, kind: str = "gpu",
                trt_fp16: bool = False, queue_delay_us: int = 2000) -> str:
    """``config.pbtxt`` for the seg model at ``path`` (protobuf text format of Triton's ModelConfig)."""
    from seg.metadata import read_meta, require_seg_model

    model = onnx.load(str(path), load_external_data=False)
    meta = require_seg_model(read_meta(path), path)
    ins, outs = _interface(model)
    for n, t, d in ins + outs:
        if t not in TRITON_TYPES:
            raise SegError(f"{path}: {n} has ONNX type {onnx.TensorProto.DataType.Name(t)}, which Triton's "
                           "config cannot name")
        if max_batch > 0 and (not d or d[0] is not None):
            fixed = "no batch axis" if not d else f"a fixed batch of {d[0]}"
            raise SegError(f"{path}: {n} has {fixed}, so Triton cannot batch it (--max-batch {max_batch}): export "
                           "one with a dynamic batch axis (`seg export` makes one), or pass --max-batch 0")

    def tensors(kind_: str, items: list, labels: bool) -> str:
        blocks = []
        for k, (n, t, d) in enumerate(items):
            shown = d[1:] if max_batch > 0 else d
            extra = '\n    label_filename: "labels.txt"' if labels and k == 0 else ""
            blocks.append(f'  {{\n    name: {_quoted(n)}\n    data_type: {TRITON_TYPES[t]}\n'
                          f'    dims: [ {", ".join(str(-1 if x is None else x) for x in shown)} ]{extra}\n  }}')
        return f"{kind_} [\n" + ",\n".join(blocks) + "\n]\n"

    text = (f'# seg {shown(str(meta.get("model", "?")))} ({shown(str(meta.get("precision", "fp32")))}'
            f'{", end-to-end" if meta.get("e2e") else ""}), written by `seg export --format triton`\n'
            f'name: {_quoted(name)}\nplatform: "onnxruntime_onnx"\nmax_batch_size: {max_batch}\n'
            + tensors("input", ins, False) + tensors("output", outs, True))
    if max_batch > 0:
        text += f"dynamic_batching {{\n  max_queue_delay_microseconds: {queue_delay_us}\n}}\n"
    text += f"instance_group [\n  {{\n    count: {instances}\n    kind: KIND_{kind.upper()}\n  }}\n]\n"
    if trt_fp16:
        text += ('optimization {\n  execution_accelerators {\n    gpu_execution_accelerator: [\n      {\n'
                 '        name: "tensorrt"\n        parameters { key: "precision_mode" value: "FP16" }\n'
                 '        parameters { key: "max_workspace_size_bytes" value: "1073741824" }\n      }\n    ]\n  }\n}\n')
    return text


def write_repository(path: str | os.PathLike, repo: str | os.PathLike, max_batch: int = 8, instances: int = 1,
                     kind: str = "gpu", trt_fp16: bool = False, name: str | None = None) -> dict[str, Any]:
    """``repo/<name>/`` for the seg model at ``path``: config, the model as version 1, the labels.
    Written into a scratch folder and moved into place whole; an older version of it is replaced."""
    from seg._io import writable_dir
    from seg.infer.session import QOPERATOR_ON_GPU, _qoperator
    from seg.metadata import read_meta

    if kind not in ("gpu", "cpu"):
        raise SegError(f"unknown instance kind {kind!r}: gpu or cpu")
    if kind == "gpu" and _qoperator(str(path)):
        raise SegError(f"{path}: {QOPERATOR_ON_GPU}; or pass --kind cpu")
    if trt_fp16 and kind != "gpu":
        raise SegError("--trt-fp16 is TensorRT's, on GPU instances: leave out --kind cpu")
    name = name or model_name(path)
    text = config_text(path, name, max_batch, instances, kind, trt_fp16)
    writable_dir(repo)
    final = Path(repo) / name
    staging = Path(repo) / f".{name}.tmp-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        (staging / "1").mkdir(parents=True)
        (staging / "config.pbtxt").write_text(text)
        shutil.copy2(path, staging / "1" / "model.onnx")
        (staging / "labels.txt").write_text("".join(f"{shown(c)}\n" for c in read_meta(path)["class_names"]))
        from seg.signals import held

        with held():
            shutil.rmtree(final, ignore_errors=True)
            staging.rename(final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return {"repository": str(repo), "name": name, "config": str(final / "config.pbtxt"),
            "model": str(final / "1" / "model.onnx"), "max_batch": max_batch, "kind": kind}
