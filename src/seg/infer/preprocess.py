"""The runtime contract of a seg model: what goes in, what comes out (torch-free).

Everything that feeds an exported model or reads its output uses these functions: the
Segmenter (``seg run``), ``seg eval`` of an .onnx file, the bench, the int8 calibration reader,
the accuracy guardrail and the end-to-end graph builder. One formula each, so that the numbers
of every path agree with training's (torchvision's ``ToDtype(scale=True)`` + ``Normalize``).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from seg.metadata import MAX_SIZE, is_e2e

DEFAULT_IMGSZ = 512  # longer side fed to the model when its metadata has no seg.imgsz: VOC's image size
STRIDE = 32  # the largest output stride of the models: inputs are sized in multiples of it


def model_size(h: int, w: int, imgsz: int) -> tuple[int, int]:
    """(H, W) for the model: longer side ``imgsz`` (0: the frame's own size, at most MAX_SIZE),
    aspect kept, each side rounded to a multiple of 32 (the largest output stride) and at least 32."""
    scale = min(1.0, MAX_SIZE / max(h, w)) if imgsz <= 0 else imgsz / max(h, w)
    return (max(STRIDE, int(round(h * scale / STRIDE)) * STRIDE), max(STRIDE, int(round(w * scale / STRIDE)) * STRIDE))


def scale_shift(mean: Sequence[float], std: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """(scale, shift), float32 per RGB channel, such that ``x_uint8 * scale + shift`` is
    ``(x / 255 - mean) / std``: the normalisation as one multiply-add."""
    mean, std = np.asarray(mean, np.float32), np.asarray(std, np.float32)
    return (1.0 / (255.0 * std)).astype(np.float32), (-mean / std).astype(np.float32)


def normalise(image_rgb: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """RGB uint8 [H,W,3] -> the fp32 model's input float32 [1,3,H,W]."""
    scale, shift = scale_shift(mean, std)
    return (image_rgb.astype(np.float32) * scale + shift).transpose(2, 0, 1)[None].copy()


def model_input(image_rgb: np.ndarray, meta: dict[str, Any]) -> np.ndarray:
    """What a model with metadata ``meta`` takes for one RGB image at its own size: a normalised
    float batch, or for an end-to-end graph the BGR uint8 frame as a camera gives it."""
    if is_e2e(meta):
        return np.ascontiguousarray(image_rgb[None, ..., ::-1])
    return normalise(image_rgb, meta["mean"], meta["std"])


def labels_of(output: np.ndarray, meta: dict[str, Any]) -> np.ndarray:
    """Label maps [N,H,W] from a model's output (logits, or labels already for e2e graphs)."""
    return output if is_e2e(meta) else output.argmax(1)
