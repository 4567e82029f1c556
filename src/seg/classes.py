"""PASCAL VOC class names, colour palette and normalisation constants (torch-free)."""

from __future__ import annotations

import numpy as np

VOC_CLASSES: tuple[str, ...] = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat",
    "chair", "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant",
    "sheep", "sofa", "train", "tvmonitor",
)
NUM_CLASSES = len(VOC_CLASSES)

# VOC marks object borders and difficult regions with 255; they are ignored by the loss and
# by every metric (the seed write-up mapped them to background, which biases both).
IGNORE_INDEX = 255

# ImageNet statistics: torchvision's ResNet-50 weights expect them, and the other models
# are trained with the same ones so that one preprocessing serves all four.
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)


def voc_palette(n: int = 256) -> np.ndarray:
    """The standard VOC colour map as uint8 [n, 3] (index 255 is the cream void colour).

    Built with the bit-interleaving rule of the VOC devkit's ``VOClabelcolormap.m``.
    """
    pal = np.zeros((n, 3), dtype=np.uint8)
    for i in range(n):
        c, r, g, b = i, 0, 0, 0
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        pal[i] = (r, g, b)
    return pal
