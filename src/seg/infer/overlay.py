"""Drawing label maps over frames with OpenCV."""

from __future__ import annotations

import cv2
import numpy as np


def blend(frame_bgr: np.ndarray, labels: np.ndarray, palette_bgr: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """``alpha`` of the class colour over every non-background pixel (label 0 stays untouched).

    All in OpenCV (a colour lookup table, a weighted sum, a masked copy): at 1280x720 with objects
    everywhere it takes 6 ms where numpy's boolean indexing took 71 (amx class), which had made
    the overlay the slowest stage of `seg run` on HD video."""
    lut = np.zeros((256, 1, 3), np.uint8)
    lut[: min(256, len(palette_bgr)), 0] = palette_bgr[:256]
    labels = np.ascontiguousarray(labels, dtype=np.uint8)
    colour = cv2.LUT(cv2.merge([labels, labels, labels]), lut)
    out = frame_bgr.copy()
    cv2.copyTo(cv2.addWeighted(frame_bgr, 1 - alpha, colour, alpha, 0.0), (labels > 0).view(np.uint8), out)
    return out


def draw_legend(img: np.ndarray, labels: np.ndarray, names: list[str], palette_bgr: np.ndarray) -> np.ndarray:
    """A swatch and the name of each class present (background excluded), top-left."""
    present = [int(c) for c in np.unique(labels) if c > 0]
    scale = max(0.4, img.shape[0] / 900)
    row = int(22 * scale / 0.5)
    for i, c in enumerate(present):
        y = 6 + i * row
        cv2.rectangle(img, (6, y), (6 + row - 4, y + row - 4), tuple(int(v) for v in palette_bgr[c]), -1)
        cv2.putText(img, names[c], (10 + row, y + row - 8), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 2, cv2.LINE_AA)
        cv2.putText(img, names[c], (10 + row, y + row - 8), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)
    return img
