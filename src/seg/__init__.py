"""seg: semantic segmentation from PyTorch training to fast ONNX inference at the edge.

Importing ``seg`` is cheap and torch-free; ``seg.models``, ``seg.data`` and ``seg.train``
import torch, ``seg.infer`` never does (it must run where only onnxruntime, OpenCV and
numpy are installed).
"""

from importlib.metadata import PackageNotFoundError, version

from seg.errors import SegError

try:
    __version__ = version("seg")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0+unknown"

__all__ = ["SegError", "__version__"]
