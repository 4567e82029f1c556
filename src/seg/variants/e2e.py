"""End-to-end graphs: camera frames of any size in, class labels at the same size out.

``wrap_e2e`` puts the frame's whole journey around an exported model (fp32, fp16 or int8 alike):

    frames uint8 [N,H,W,3] BGR -> Shape -> the model's input size (h, w) by the size rule
        -> Resize (bilinear, antialiased: Pillow's algorithm) -> Cast -> Transpose to NCHW
        -> Gather(BGR -> RGB) -> Mul/Add ((x/255 - mean)/std as one scale and shift) -> model
        -> ArgMax over classes -> Cast -> labels_model uint8 [N,h,w]
        -> Resize (nearest, OpenCV's INTER_NEAREST) -> labels uint8 [N,H,W]

so the host only decodes and blends the overlay. The size rule is
:class:`seg.infer.preprocess.SizeRule` written as ONNX ops on the frame's shape, in the same
float64/int64 steps as the Python (same rounding, same truncation), and recorded in the metadata
(``seg.e2e_resize``). The pieces are plain ONNX ops added to the model's own graph (no second
export), so the core stays bit-identical to the model it wraps. Graphs written before the resize
moved in (no ``seg.e2e_resize``) take frames at the model's size and still run: the host sizes
frames for them.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from seg.infer.preprocess import STRIDE, SizeRule, scale_shift
from seg.metadata import (E2E_INPUT_NAME, E2E_MODEL_OUTPUT_NAME, E2E_OUTPUT_NAME, E2E_RESIZED_NAME, E2E_SIZE_NAME, INPUT_NAME,
                          MAX_SIZE, OUTPUT_NAME, e2e_layout)


def _dims(value_info: onnx.ValueInfoProto) -> list:
    return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]


class _Ops:
    """Appends nodes and constants to a list; each op returns its output's name."""

    def __init__(self, prefix: str):
        self.prefix, self.nodes, self.consts, self._n = prefix, [], [], 0

    def const(self, value, dtype) -> str:
        name = f"{self.prefix}_c{len(self.consts)}"
        self.consts.append(numpy_helper.from_array(np.array(value, dtype).reshape(-1), name))
        return name

    def __call__(self, op: str, *inputs: str, out: str | None = None, **attrs) -> str:
        self._n += 1
        out = out or f"{self.prefix}_{op.lower()}{self._n}"
        self.nodes.append(helper.make_node(op, list(inputs), [out], name=f"{self.prefix}_{op.lower()}{self._n}", **attrs))
        return out


def _model_hw(o: _Ops, hw: str, rule: SizeRule, size: str | None = None) -> str:
    """int64 [2]: the (h, w) ``rule.of(H, W)`` gives, as ONNX ops on ``hw`` (int64 [H, W]); the same
    float64 operations in the same order as the Python, so rounding and truncation agree exactly.
    ``size``: an int64 [1] tensor holding ``rule.size`` (default: a constant), so a caller can feed
    another (``seg run --imgsz``)."""
    D, I = TensorProto.DOUBLE, TensorProto.INT64
    size = size or o.const(rule.size, np.int64)
    if rule.resize == "shorter":
        short, long = o("ReduceMin", hw, keepdims=1), o("ReduceMax", hw, keepdims=1)
        # int(size * long / short): an int product, a float64 quotient, truncated (all positive)
        new_long = o("Cast", o("Floor", o("Div", o("Cast", o("Mul", size, long), to=D), o("Cast", short, to=D))), to=I)
        over = o("Greater", new_long, o.const(MAX_SIZE, np.int64))
        # the longer side capped at MAX_SIZE: the shorter one max(1, int(MAX_SIZE * size / new_long))
        capped = o("Max", o("Cast", o("Floor", o("Div", o("Cast", o("Mul", o.const(MAX_SIZE, np.int64), size), to=D),
                                                          o("Cast", new_long, to=D))), to=I), o.const(1, np.int64))
        new_short = o("Where", over, capped, size)
        new_long = o("Where", over, o.const(MAX_SIZE, np.int64), new_long)
        h, w = (o("Slice", hw, o.const(a, np.int64), o.const(a + 1, np.int64)) for a in (0, 1))
        landscape = o("LessOrEqual", h, w)
        return o("Concat", o("Where", landscape, new_short, new_long), o("Where", landscape, new_long, new_short), axis=0)
    hw_d = o("Cast", hw, to=D)
    long = o("ReduceMax", hw_d, keepdims=1)
    if rule.size > 0:
        scale = o("Div", o("Cast", size, to=D), long)
    else:  # the frame's own size, at most MAX_SIZE
        scale = o("Min", o.const(1.0, np.float64), o("Div", o.const(float(MAX_SIZE), np.float64), long))
    # max(32, int(round(h * scale / 32)) * 32): ONNX's Round is Python's, half to even
    steps = o("Cast", o("Round", o("Div", o("Mul", hw_d, scale), o.const(float(STRIDE), np.float64))), to=I)
    return o("Max", o("Mul", steps, o.const(STRIDE, np.int64)), o.const(STRIDE, np.int64))


def wrap_e2e(core: onnx.ModelProto, mean: Sequence[float], std: Sequence[float],
             rule: SizeRule | None = None) -> onnx.ModelProto:
    """A copy of ``core`` (input ``image`` float32 [N,3,H,W], output ``logits`` [N,C,H,W]) that
    takes ``frames`` uint8 [N,H,W,3] BGR and returns ``labels`` uint8 [N,H,W]. With ``rule``, at
    any frame size: the graph sizes frames by it and returns ``labels`` at the frame's size and
    ``labels_model`` at the model's; without, frames come at the model's size (the older form)."""
    model = onnx.ModelProto()
    model.CopyFrom(core)
    g = model.graph
    image = next((i for i in g.input if i.name == INPUT_NAME), None)
    logits = next((o for o in g.output if o.name == OUTPUT_NAME), None)
    if image is None or logits is None:
        raise ValueError(f"wrap_e2e needs a graph with input {INPUT_NAME!r} and output {OUTPUT_NAME!r}")
    nb, _, h, w = _dims(image)
    scale, shift = scale_shift(mean, std)  # the runtime's own normalisation, as one multiply-add
    g.initializer.extend([
        numpy_helper.from_array(np.array([2, 1, 0], np.int64), "e2e_bgr_to_rgb"),
        numpy_helper.from_array(scale.reshape(1, 3, 1, 1), "e2e_scale"),
        numpy_helper.from_array(shift.reshape(1, 3, 1, 1), "e2e_shift"),
    ])
    o = _Ops("e2e_size")
    resized = E2E_INPUT_NAME
    if rule is not None:
        shape = o("Shape", E2E_INPUT_NAME)
        n, frame_hw = o("Slice", shape, o.const(0, np.int64), o.const(1, np.int64)), \
            o("Slice", shape, o.const(1, np.int64), o.const(3, np.int64))
        # the rule's size, an input with a default (an overridable initializer): --imgsz feeds another
        override = E2E_SIZE_NAME if rule.sizable else None
        if override:
            g.initializer.append(numpy_helper.from_array(np.array([rule.size], np.int64), override))
        sizes = o("Concat", n, _model_hw(o, frame_hw, rule, override), o.const(3, np.int64), axis=0)
        # Pillow's antialiased bilinear (ORT's CPU kernel follows it within 1-2 levels); TensorRT
        # rejects antialias, so under TensorRT this node runs on CUDA
        resized = o("Resize", E2E_INPUT_NAME, "", "", sizes, out=E2E_RESIZED_NAME, mode="linear", antialias=1,
                    coordinate_transformation_mode="half_pixel")
    pre = [
        helper.make_node("Cast", [resized], ["e2e_float"], to=TensorProto.FLOAT, name="e2e_cast_in"),
        helper.make_node("Transpose", ["e2e_float"], ["e2e_nchw_bgr"], perm=[0, 3, 1, 2], name="e2e_nhwc_to_nchw"),
        helper.make_node("Gather", ["e2e_nchw_bgr", "e2e_bgr_to_rgb"], ["e2e_nchw"], axis=1, name="e2e_bgr_to_rgb"),
        helper.make_node("Mul", ["e2e_nchw", "e2e_scale"], ["e2e_scaled"], name="e2e_scale"),
        helper.make_node("Add", ["e2e_scaled", "e2e_shift"], [INPUT_NAME], name="e2e_normalise"),
    ]
    post = [
        helper.make_node("ArgMax", [OUTPUT_NAME], ["e2e_argmax"], axis=1, keepdims=0, name="e2e_argmax"),
        helper.make_node("Cast", ["e2e_argmax"], [E2E_MODEL_OUTPUT_NAME if rule else E2E_OUTPUT_NAME],
                         to=TensorProto.UINT8, name="e2e_cast_out"),
    ]
    back = _Ops("e2e_back")
    if rule is not None:
        # labels back at the frame's size: asymmetric + floor is OpenCV's INTER_NEAREST exactly
        back("Resize", E2E_MODEL_OUTPUT_NAME, "", "", back("Concat", n, frame_hw, axis=0), out=E2E_OUTPUT_NAME,
             mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    g.initializer.extend(o.consts + back.consts)
    nodes = o.nodes + pre + list(g.node) + post + back.nodes
    del g.node[:]
    g.node.extend(nodes)
    # The old input becomes an internal tensor; the graph's interface is frames -> labels.
    g.input.remove(image)
    if rule is not None:  # any frame size in, the same size out (names of their own: not the core's sizes)
        h, w = "frame_height", "frame_width"
    g.input.insert(0, helper.make_tensor_value_info(E2E_INPUT_NAME, TensorProto.UINT8, [nb, h, w, 3]))
    g.output.remove(logits)
    g.output.insert(0, helper.make_tensor_value_info(E2E_OUTPUT_NAME, TensorProto.UINT8, [nb, h, w]))
    if rule is not None and override:
        g.input.append(helper.make_tensor_value_info(E2E_SIZE_NAME, TensorProto.INT64, [1]))
    if rule is not None:
        g.output.insert(1, helper.make_tensor_value_info(E2E_MODEL_OUTPUT_NAME, TensorProto.UINT8,
                                                         [nb, "model_height", "model_width"]))
    g.doc_string = f"seg end-to-end graph: {e2e_layout(rule is not None)}"
    return model
