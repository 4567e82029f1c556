"""One confusion-matrix accumulator for every number seg reports (training and benchmarks).

Accumulated over a whole dataset, never averaged per batch (the seed averaged IoU per batch,
which weights small images like large ones and drops classes absent from a batch). Pixels
labelled ``ignore_index`` (VOC's 255 void) are left out of every metric. numpy-only, so the
ONNX benchmarks use it without torch; torch tensors are accepted and moved to the CPU.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from seg.classes import IGNORE_INDEX, NUM_CLASSES


@dataclass(frozen=True)
class Metrics:
    """Dataset-level scores, all fractions in [0, 1].

    ``miou`` averages IoU over the classes that occur in the ground truth or the prediction
    (a class absent from both has no IoU: ``nan`` in ``iou``); ``mean_class_acc`` averages
    recall over the classes present in the ground truth.
    """

    miou: float
    pixel_acc: float
    mean_class_acc: float
    iou: list[float] = field(repr=False)
    pixels: int = 0

    def as_dict(self, class_names: list[str] | tuple[str, ...] | None = None) -> dict:
        names = class_names or [str(i) for i in range(len(self.iou))]
        return {
            "miou": self.miou, "pixel_acc": self.pixel_acc, "mean_class_acc": self.mean_class_acc,
            "pixels": self.pixels,
            "iou": {n: (None if np.isnan(v) else v) for n, v in zip(names, self.iou)},
        }


def _numpy(a) -> np.ndarray:
    if hasattr(a, "detach"):  # a torch tensor, possibly on a GPU
        a = a.detach().cpu().numpy()
    return np.asarray(a)


class ConfusionMatrix:
    """``mat[t, p]`` counts pixels of true class t predicted as p (void pixels skipped)."""

    def __init__(self, num_classes: int = NUM_CLASSES, ignore_index: int = IGNORE_INDEX):
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.mat = np.zeros((num_classes, num_classes), dtype=np.int64)

    def update(self, pred, target) -> None:
        """Add a batch: integer class maps of equal shape (any leading dims)."""
        pred, target = _numpy(pred), _numpy(target)
        if pred.shape != target.shape:
            raise ValueError(f"prediction shape {pred.shape} != target shape {target.shape}")
        t = target.reshape(-1).astype(np.int64)
        p = pred.reshape(-1).astype(np.int64)
        keep = t != self.ignore_index
        t, p = t[keep], p[keep]
        if t.size and (t.max() >= self.num_classes or t.min() < 0 or p.max() >= self.num_classes or p.min() < 0):
            raise ValueError(f"labels must lie in 0..{self.num_classes - 1} (or {self.ignore_index} in the target)")
        self.mat += np.bincount(t * self.num_classes + p, minlength=self.num_classes**2).reshape(self.num_classes, -1)

    def merge(self, other: "ConfusionMatrix") -> None:
        self.mat += other.mat

    def compute(self) -> Metrics:
        mat = self.mat.astype(np.float64)
        tp = np.diag(mat)
        gt = mat.sum(1)
        pred = mat.sum(0)
        union = gt + pred - tp
        with np.errstate(invalid="ignore", divide="ignore"):
            iou = np.where(union > 0, tp / union, np.nan)
            recall = np.where(gt > 0, tp / gt, np.nan)
        total = mat.sum()
        return Metrics(
            miou=float(np.nanmean(iou)) if (union > 0).any() else 0.0,
            pixel_acc=float(tp.sum() / total) if total else 0.0,
            mean_class_acc=float(np.nanmean(recall)) if (gt > 0).any() else 0.0,
            iou=[float(v) for v in iou],
            pixels=int(total),
        )
