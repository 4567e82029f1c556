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


class ClassList:
    """A dataset's classes: names (index = label value, 0 usually background) and one RGB colour
    each, and where they came from (``source``: the class file, or "VOC's 21 classes"). The list
    lives with the data (a labelling tool's class file) and travels with the model (checkpoint,
    ONNX metadata), never in the code: VOC's names are the default only for a VOC set without one."""

    def __init__(self, names: list[str] | tuple[str, ...], colors: np.ndarray | list | None = None,
                 source: str = ""):
        self.names = tuple(str(n) for n in names)
        if not self.names:
            raise ValueError("a class list needs at least one class")
        if colors is None:
            colors = voc_palette()[: len(self.names)] if len(self.names) <= 255 else distinct_colors(len(self.names))
        self.colors = np.asarray(colors, dtype=np.uint8).reshape(-1, 3)[: len(self.names)]
        self.source = source

    def __len__(self) -> int:
        return len(self.names)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ClassList) and self.names == other.names

    def __repr__(self) -> str:
        return f"ClassList({list(self.names)!r}, source={self.source!r})"

    @property
    def palette(self) -> list[list[int]]:
        """The colours as JSON-able [[r, g, b], ...] (the checkpoint's and the ONNX file's seg.palette)."""
        return self.colors.astype(int).tolist()

    @classmethod
    def voc(cls) -> "ClassList":
        return cls(VOC_CLASSES, voc_palette()[:NUM_CLASSES], "VOC's 21 classes")


def distinct_colors(n: int) -> np.ndarray:
    """``n`` colours for a set without its own: VOC's colour map (black background, then distinct
    hues) as far as it goes."""
    pal = voc_palette(max(n, 1) if n <= 256 else 256)
    return np.concatenate([pal, pal[1:]] * (n // 255 + 1))[:n] if n > 256 else pal[:n]


def check_same_classes(data: ClassList, model_names: list[str] | tuple[str, ...], model: str) -> str | None:
    """A model scored on a dataset must predict the data's classes: a different count is one
    SegError; the same count under other names is returned as a warning (labels are compared by
    index)."""
    from seg.errors import SegError

    model_names = list(model_names)
    if not model_names or list(data.names) == model_names:
        return None
    if len(model_names) != len(data):
        raise SegError(f"{model} predicts {len(model_names)} classes ({', '.join(model_names[:5])}"
                       f"{', ...' if len(model_names) > 5 else ''}) but the data has {len(data)} "
                       f"({', '.join(data.names[:5])}{', ...' if len(data) > 5 else ''}, from {data.source})")
    return (f"the data names its classes {', '.join(data.names[:5])}{', ...' if len(data) > 5 else ''} and "
            f"{model} names them {', '.join(model_names[:5])}{', ...' if len(model_names) > 5 else ''}: "
            "compared by label value")
