"""ONNX Runtime inference for exported seg models: providers, the Segmenter, frame sources,
overlays and the pipelined loop behind ``seg run``.

Nothing here imports torch: an edge box needs only onnxruntime, OpenCV and numpy.
"""

from seg.infer.segmenter import Segmenter
from seg.infer.session import PROVIDERS, create_session

__all__ = ["Segmenter", "create_session", "PROVIDERS"]
