"""Deployable variants of a verified fp32 ONNX export, built with onnx and onnxruntime alone
(no torch: they run on the edge box itself): int8 (static quantisation, gated by an accuracy
guardrail), fp16, and end-to-end graphs (uint8 frames in, labels out).

``make_variant(fp32_onnx, out, precision="int8", e2e=True, calib=..., heldout=...)`` builds one;
:func:`seg.variants.data.calibration_sets` turns a VOC root or a plain image folder into the
calibration and held-out sets it takes.
"""

from seg.variants.build import make_variant
from seg.variants.data import calibration_sets
from seg.variants.quantize import MAX_DROP_POINTS, MIN_AGREEMENT, Int8Config, guardrail

__all__ = ["make_variant", "calibration_sets", "guardrail", "Int8Config", "MAX_DROP_POINTS", "MIN_AGREEMENT"]
