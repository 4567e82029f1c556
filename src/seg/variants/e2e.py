"""End-to-end graphs: camera frames in, class labels out.

``wrap_e2e`` puts the per-pixel work around an exported model (fp32, fp16 or int8 alike):

    frames uint8 [N,H,W,3] BGR -> Cast -> Transpose to NCHW -> Gather(BGR -> RGB)
        -> Mul/Add ((x/255 - mean)/std folded into one scale and shift) -> model
        -> ArgMax over classes -> Cast -> labels uint8 [N,H,W]

so the host only resizes frames and blends the overlay: no float conversion, normalisation,
layout change or 21-plane argmax in Python. The pieces are plain ONNX ops added to the model's
own graph (no second export), so the core stays bit-identical to the model it wraps.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from seg.infer.preprocess import scale_shift
from seg.metadata import E2E_INPUT_LAYOUT, E2E_INPUT_NAME, E2E_OUTPUT_LAYOUT, E2E_OUTPUT_NAME, INPUT_NAME, OUTPUT_NAME


def _dims(value_info: onnx.ValueInfoProto) -> list:
    return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]


def wrap_e2e(core: onnx.ModelProto, mean: Sequence[float], std: Sequence[float]) -> onnx.ModelProto:
    """A copy of ``core`` (input ``image`` float32 [N,3,H,W], output ``logits`` [N,C,H,W]) that
    takes ``frames`` uint8 [N,H,W,3] BGR and returns ``labels`` uint8 [N,H,W]."""
    model = onnx.ModelProto()
    model.CopyFrom(core)
    g = model.graph
    image = next((i for i in g.input if i.name == INPUT_NAME), None)
    logits = next((o for o in g.output if o.name == OUTPUT_NAME), None)
    if image is None or logits is None:
        raise ValueError(f"wrap_e2e needs a graph with input {INPUT_NAME!r} and output {OUTPUT_NAME!r}")
    n, _, h, w = _dims(image)
    scale, shift = scale_shift(mean, std)  # the runtime's own normalisation, as one multiply-add
    g.initializer.extend([
        numpy_helper.from_array(np.array([2, 1, 0], np.int64), "e2e_bgr_to_rgb"),
        numpy_helper.from_array(scale.reshape(1, 3, 1, 1), "e2e_scale"),
        numpy_helper.from_array(shift.reshape(1, 3, 1, 1), "e2e_shift"),
    ])
    pre = [
        helper.make_node("Cast", [E2E_INPUT_NAME], ["e2e_float"], to=TensorProto.FLOAT, name="e2e_cast_in"),
        helper.make_node("Transpose", ["e2e_float"], ["e2e_nchw_bgr"], perm=[0, 3, 1, 2], name="e2e_nhwc_to_nchw"),
        helper.make_node("Gather", ["e2e_nchw_bgr", "e2e_bgr_to_rgb"], ["e2e_nchw"], axis=1, name="e2e_bgr_to_rgb"),
        helper.make_node("Mul", ["e2e_nchw", "e2e_scale"], ["e2e_scaled"], name="e2e_scale"),
        helper.make_node("Add", ["e2e_scaled", "e2e_shift"], [INPUT_NAME], name="e2e_normalise"),
    ]
    post = [
        helper.make_node("ArgMax", [OUTPUT_NAME], ["e2e_argmax"], axis=1, keepdims=0, name="e2e_argmax"),
        helper.make_node("Cast", ["e2e_argmax"], [E2E_OUTPUT_NAME], to=TensorProto.UINT8, name="e2e_cast_out"),
    ]
    nodes = pre + list(g.node) + post
    del g.node[:]
    g.node.extend(nodes)
    # The old input becomes an internal tensor; the graph's interface is frames -> labels.
    g.input.remove(image)
    g.input.insert(0, helper.make_tensor_value_info(E2E_INPUT_NAME, TensorProto.UINT8, [n, h, w, 3]))
    g.output.remove(logits)
    g.output.insert(0, helper.make_tensor_value_info(E2E_OUTPUT_NAME, TensorProto.UINT8, [n, h, w]))
    doc = f"seg end-to-end graph: {E2E_INPUT_LAYOUT} -> {E2E_OUTPUT_LAYOUT}"
    g.doc_string = doc
    return model
