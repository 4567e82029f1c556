"""The runtime contract of a seg model: what goes in, what comes out (torch-free).

Everything that feeds an exported model or reads its output uses these functions: the
Segmenter (``seg run``), ``seg eval`` of an .onnx file, the bench, the int8 calibration reader,
the accuracy guardrail and the end-to-end graph builder. One formula each, so that the numbers
of every path agree with training's (torchvision's ``ToDtype(scale=True)`` + ``Normalize``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
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


def shorter_side(h: int, w: int, size: int) -> tuple[int, int]:
    """(H, W) with the shorter side ``size``, aspect kept, no rounding: torchvision's rule
    (transforms.functional._compute_resized_output_size), the longer side capped at MAX_SIZE
    like every other path."""
    short, long = min(h, w), max(h, w)
    new_short, new_long = size, int(size * long / short)
    if new_long > MAX_SIZE:
        new_short, new_long = max(1, int(MAX_SIZE * new_short / new_long)), MAX_SIZE
    return (new_short, new_long) if h <= w else (new_long, new_short)


@dataclass(frozen=True)
class SizeRule:
    """How a frame is sized for a model, as data: ``shorter`` side ``size`` (torchvision's preset
    of the pretrained models), or ``longer`` side ``size`` rounded to multiples of 32 (seg's own;
    0: the frame's own size); ``antialias``: Pillow's antialiased bilinear, else OpenCV's
    INTER_AREA. The host applies it (:func:`resize_for_model`), and an end-to-end graph carries it
    as ONNX ops (:mod:`seg.variants.e2e`): one rule, written once."""

    resize: str
    size: int
    antialias: bool = False

    def of(self, h: int, w: int) -> tuple[int, int]:
        """(H, W) the model is fed for an H x W frame."""
        return shorter_side(h, w, self.size) if self.resize == "shorter" else model_size(h, w, self.size)

    def describe(self) -> str:
        """In words, for the run's header line."""
        if self.resize == "shorter":
            return f"shorter side {self.size} px ({'antialiased, ' if self.antialias else ''}torchvision's preset)"
        return f"{self.size} px" if self.size else "native"

    @property
    def sizable(self) -> bool:
        """Its size can be fed another value (a longer side > 0): in an e2e graph, the ``size`` input."""
        return self.resize == "longer" and self.size > 0

    def sizes_like(self, other: "SizeRule") -> bool:
        """The same sizes for every frame (the interpolation aside)."""
        return (self.resize, self.size) == (other.resize, other.size)

    def as_meta(self) -> dict[str, Any]:
        return {"resize": self.resize, "size": self.size, "antialias": self.antialias}


def size_rule(meta: dict[str, Any], imgsz: int | None = None) -> SizeRule:
    """The rule for a model with metadata ``meta``: ``imgsz`` when given (longer side); else the
    model's recorded preset (``seg.preprocess``: torchvision's pretrained models resize the shorter
    side to 520, antialiased); else its training images' size (``seg.imgsz``), else 512."""
    pre = meta.get("preprocess") or {}
    antialias = bool(pre.get("antialias"))
    if imgsz is None and pre.get("resize") == "shorter":
        return SizeRule("shorter", int(pre["size"]), antialias)
    return SizeRule("longer", int(imgsz if imgsz is not None else meta.get("imgsz") or DEFAULT_IMGSZ), antialias)


def graph_rule(meta: dict[str, Any], imgsz: int | None = None) -> SizeRule | None:
    """The rule an end-to-end graph applies itself (``seg.e2e_resize``), or None: the host sizes
    frames for it (plain models, and e2e graphs exported before the rule moved into the graph).
    ``imgsz``: a longer side fed in its ``size`` input instead of the recorded one (a longer-side
    rule only; see :func:`graph_inputs`)."""
    r = meta.get("e2e_resize")
    if not (is_e2e(meta) and r):
        return None
    rule = SizeRule(r["resize"], int(r["size"]), bool(r.get("antialias")))
    return replace(rule, size=imgsz) if imgsz and rule.sizable else rule


def graph_inputs(meta: dict[str, Any], imgsz: int | None) -> dict[str, np.ndarray]:
    """What a graph that sizes frames itself is fed besides the frames for a longer side ``imgsz``
    (its ``size`` input; nothing where it keeps its own). For a plain model, nothing."""
    from seg.metadata import E2E_SIZE_NAME

    rule = graph_rule(meta)
    if rule is None or not imgsz or not rule.sizable or imgsz == rule.size:
        return {}
    return {E2E_SIZE_NAME: np.array([imgsz], np.int64)}


def takes_size(session) -> bool:
    """Whether an ONNX Runtime session's graph has the ``size`` input :func:`graph_inputs` feeds (an
    overridable initializer; e2e graphs of an earlier form have none)."""
    from seg.metadata import E2E_SIZE_NAME

    return any(i.name == E2E_SIZE_NAME for i in session.get_overridable_initializers())


def own_size_inputs(meta: dict[str, Any], frames: np.ndarray) -> dict[str, np.ndarray]:
    """For scoring (``seg bench``, ``seg eval``): a graph that sizes frames itself fed so that it
    sees each image near its own size, as the plain model is fed (the longer side as its size,
    rounded to 32 by the rule); a preset model keeps its preset (a shorter-side rule takes no size
    input), as the plain one does."""
    return graph_inputs(meta, max(frames.shape[1:3]))


def input_size(h: int, w: int, meta: dict[str, Any], imgsz: int | None = None) -> tuple[int, int]:
    """(H, W) the host feeds the model with metadata ``meta`` for an H x W frame: by
    :func:`size_rule`, or the frame as it is for a graph that sizes frames itself."""
    return (h, w) if graph_rule(meta) else size_rule(meta, imgsz).of(h, w)


def resize_antialias(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """uint8 [H,W,3] -> uint8 [h,w,3], bilinear with antialiasing as torchvision's preset does it.

    Pillow's resize is the algorithm torchvision's ``antialias=True`` reproduces (its uint8 kernel
    differs from Pillow by 1 level on ~0.1% of values, measured); OpenCV has no such mode (its
    INTER_AREA and INTER_LINEAR differ from it by more than rounding).
    """
    from PIL import Image

    return np.asarray(Image.fromarray(np.ascontiguousarray(image)).resize((size[1], size[0]), Image.BILINEAR))


def resize_for_model(image: np.ndarray, size: tuple[int, int], meta: dict[str, Any]) -> np.ndarray:
    """A frame resized to ``size`` (H, W) as the model's preprocessing wants it: antialiased
    bilinear where the metadata records torchvision's preset, else OpenCV's INTER_AREA."""
    if tuple(image.shape[:2]) == tuple(size):
        return image
    if size_rule(meta).antialias:
        return resize_antialias(image, size)
    import cv2

    return cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_AREA)


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
    """What a model with metadata ``meta`` takes for one RGB image: a normalised float batch, or
    for an end-to-end graph the BGR uint8 frame as a camera gives it. At the image's own size,
    except for a model with a preset (``seg.preprocess``), which gets the size ``seg run`` feeds
    it: calibration, guardrails and ``seg eval`` then see what the camera path sees."""
    if meta.get("preprocess") and not graph_rule(meta):
        image_rgb = resize_for_model(image_rgb, input_size(*image_rgb.shape[:2], meta), meta)
    if is_e2e(meta):
        return np.ascontiguousarray(image_rgb[None, ..., ::-1])
    return normalise(image_rgb, meta["mean"], meta["std"])


def labels_of(output: np.ndarray, meta: dict[str, Any], size: tuple[int, int] | None = None) -> np.ndarray:
    """Label maps [N,H,W] from a model's output (logits, or labels already for e2e graphs);
    with ``size`` (H, W), brought to that size by nearest neighbour (a mask's, for scoring)."""
    labels = output if is_e2e(meta) else output.argmax(1)
    return labels if size is None else resize_labels(labels, size)


def resize_labels(labels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Label maps [N,h,w] brought to ``size`` (H, W) by nearest neighbour: a prediction made at a
    model's preset size, scored against the mask at the photo's own size."""
    if tuple(labels.shape[1:]) == tuple(size):
        return labels
    import cv2

    return np.stack([cv2.resize(lab.astype(np.uint8), (size[1], size[0]), interpolation=cv2.INTER_NEAREST)
                     for lab in labels])
