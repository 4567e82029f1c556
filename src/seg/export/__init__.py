"""ONNX export with dynamic batch/height/width, self-describing metadata and verified parity."""

from seg.export.onnx import DEFAULT_SHAPES, export_checkpoint, to_onnx, verify

__all__ = ["to_onnx", "verify", "export_checkpoint", "DEFAULT_SHAPES"]
