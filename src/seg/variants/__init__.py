"""Deployable variants of a verified fp32 ONNX export, built with onnx and onnxruntime alone
(no torch: they run on the edge box itself): int8 (static quantisation, gated by an accuracy
guardrail), fp16, and end-to-end graphs (uint8 frames in, labels out).

``build_variant(fp32_onnx, out, precision="int8", e2e=True, calib=..., heldout=...)`` builds one
(``precision="auto"``: the fastest that passes here); :func:`seg.variants.data.variant_data` says
where its calibration and held-out sets come from (a VOC root, an image folder, a clip, or the
checkpoint's training data).
"""

from seg.variants.build import build_variant, make_variant
from seg.variants.data import calibration_sets, variant_data
from seg.variants.quantize import MAX_DROP_POINTS, MIN_AGREEMENT, Int8Config, guardrail

__all__ = ["build_variant", "make_variant", "calibration_sets", "variant_data", "guardrail", "Int8Config",
           "MAX_DROP_POINTS", "MIN_AGREEMENT"]
