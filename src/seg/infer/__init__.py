"""ONNX Runtime inference for exported seg models: providers, the Segmenter, frame sources,
overlays and the pipelined loop behind ``seg run``.

Nothing here imports torch: an edge box needs only onnxruntime, OpenCV and numpy.
"""

import os

# FFmpeg inside OpenCV prints its own complaints about broken files; seg reports them in one line.
# Set before any module here imports cv2.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

from seg.infer.segmenter import Segmenter  # noqa: E402
from seg.infer.session import PROVIDERS, create_session  # noqa: E402

__all__ = ["Segmenter", "create_session", "PROVIDERS"]
