"""ONNX export with dynamic batch/height/width, self-describing metadata and verified parity;
int8/fp16/end-to-end variants gated by an accuracy guardrail."""

from seg.export.onnx import DEFAULT_SHAPES, export_checkpoint, to_onnx, verify
from seg.export.quantize import Int8Config, guardrail
from seg.export.variants import make_variant
from seg.metadata import variant_path

__all__ = ["to_onnx", "verify", "export_checkpoint", "DEFAULT_SHAPES", "make_variant", "variant_path", "Int8Config",
           "guardrail"]
