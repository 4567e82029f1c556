"""PyTorch -> ONNX (training side, needs torch): one self-contained file with dynamic
batch/height/width, self-describing metadata and verified parity. The int8/fp16/e2e variants
of an exported file are built by :mod:`seg.variants`, which needs no torch."""

from seg.export.onnx import DEFAULT_SHAPES, export_checkpoint, to_onnx, verify

__all__ = ["to_onnx", "verify", "export_checkpoint", "DEFAULT_SHAPES"]
