"""seg.metrics against an independent, set-based computation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays

from seg.metrics import ConfusionMatrix

from conftest import examples


def reference(preds, targets, num_classes, ignore=255):
    """IoU per class from set sizes, over all batches pooled; mIoU over classes seen anywhere."""
    p = np.concatenate([a.ravel() for a in preds])
    t = np.concatenate([a.ravel() for a in targets])
    valid = t != ignore
    ious = []
    for c in range(num_classes):
        inter = np.sum((p == c) & (t == c) & valid)
        union = np.sum(((p == c) | (t == c)) & valid)
        ious.append(inter / union if union else math.nan)
    recalls = [np.sum((p == c) & (t == c)) / np.sum(t == c) for c in range(num_classes) if np.sum(t == c)]
    present = [v for v in ious if not math.isnan(v)]
    return {
        "iou": ious,
        "miou": sum(present) / len(present) if present else 0.0,
        "pixel_acc": np.sum((p == t) & valid) / np.sum(valid) if np.sum(valid) else 0.0,
        "mean_class_acc": sum(recalls) / len(recalls) if recalls else 0.0,
    }


@settings(max_examples=examples(60), deadline=None)
@given(
    data=st.data(),
    num_classes=st.integers(2, 8),
    batches=st.integers(1, 4),
)
def test_matches_independent_computation(data, num_classes, batches):
    preds, targets = [], []
    for _ in range(batches):
        shape = data.draw(st.tuples(st.integers(1, 3), st.integers(1, 9), st.integers(1, 9)))
        p = data.draw(arrays(np.int64, shape, elements=st.integers(0, num_classes - 1)))
        t = data.draw(arrays(np.int64, shape, elements=st.sampled_from(list(range(num_classes)) + [255])))
        preds.append(p)
        targets.append(t)
    cm = ConfusionMatrix(num_classes)
    for p, t in zip(preds, targets):
        cm.update(p, t)
    got, ref = cm.compute(), reference(preds, targets, num_classes)
    assert got.miou == pytest.approx(ref["miou"])
    assert got.pixel_acc == pytest.approx(ref["pixel_acc"])
    assert got.mean_class_acc == pytest.approx(ref["mean_class_acc"])
    np.testing.assert_allclose(got.iou, ref["iou"])  # nan where a class is absent from both


def test_hand_computed_example_with_void_and_absent_class():
    target = np.array([[0, 0, 1, 1], [0, 255, 1, 2]])
    pred = np.array([[0, 1, 1, 1], [0, 2, 2, 2]])  # the pixel under 255 must not count
    cm = ConfusionMatrix(4)
    cm.update(pred, target)
    m = cm.compute()
    # class 0: inter 2, union 3; class 1: inter 2, union 4; class 2: inter 1, union 2; class 3 absent
    assert m.iou[:3] == pytest.approx([2 / 3, 2 / 4, 1 / 2]) and math.isnan(m.iou[3])
    assert m.miou == pytest.approx((2 / 3 + 1 / 2 + 1 / 2) / 3)
    assert m.pixel_acc == pytest.approx(5 / 7)
    assert m.mean_class_acc == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)
    assert m.pixels == 7


def test_dataset_level_not_per_batch_average():
    """A per-batch mean (the seed's way) differs; pooling counts is the standard way."""
    cm = ConfusionMatrix(2)
    cm.update(np.array([1]), np.array([1]))  # batch IoU(1) = 1
    cm.update(np.ones(9, int), np.zeros(9, int))  # batch IoU(1) = 0
    assert cm.compute().iou[1] == pytest.approx(1 / 10)


def test_torch_tensors_and_merge():
    a, b = ConfusionMatrix(3), ConfusionMatrix(3)
    a.update(torch.tensor([0, 1, 2]), torch.tensor([0, 1, 1]))
    b.update(np.array([2]), np.array([2]))
    a.merge(b)
    assert a.mat.tolist() == [[1, 0, 0], [0, 1, 1], [0, 0, 1]]


def test_bad_inputs_raise():
    cm = ConfusionMatrix(3)
    with pytest.raises(ValueError, match="shape"):
        cm.update(np.zeros((2, 2), int), np.zeros((2, 3), int))
    with pytest.raises(ValueError, match="0..2"):
        cm.update(np.array([5]), np.array([0]))


def test_all_void_gives_zeros_not_nan():
    cm = ConfusionMatrix(3)
    cm.update(np.zeros(4, int), np.full(4, 255))
    m = cm.compute()
    assert (m.miou, m.pixel_acc, m.pixels) == (0.0, 0.0, 0)
