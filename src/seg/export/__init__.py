"""PyTorch -> ONNX (training side, needs torch): one self-contained file with dynamic
batch/height/width, self-describing metadata and verified parity.

``onnx.py`` is the exporter (a model and a path in, a verified file out); ``checkpoint.py``
decides what to export (checkpoint, published weights, random init), where, and whether the
fp32 file is still fresh. The int8/fp16/e2e variants of an exported file are built by
:mod:`seg.variants`, which needs no torch."""

from seg.export.onnx import DEFAULT_SHAPES, to_onnx, verify
from seg.export.checkpoint import export_checkpoint  # noqa: E402  (it uses the exporter above)

__all__ = ["to_onnx", "verify", "export_checkpoint", "DEFAULT_SHAPES"]
