"""The VOCdevkit reader, checked on 13 real VOC2012 pairs from ../shared/real-media."""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest
from PIL import Image

from seg.classes import voc_palette
from seg.data import VOCSegmentation, read_mask, write_mask
from seg.errors import SegError

# From ../shared/real-media/SOURCES.md: the classes each mask holds (besides background).
EXPECTED_CLASSES = {
    "2007_000032": {1, 15}, "2007_000033": {1}, "2007_000039": {20}, "2007_000042": {19},
    "2007_000063": {9, 12}, "2007_000129": {2, 15}, "2007_000663": {6, 7}, "2007_000762": {5, 11, 15},
    "2007_000799": {13, 15}, "2007_004712": {5, 9, 11, 15, 16}, "2007_005331": {7, 13, 15},
    "2007_005626": {19}, "2007_009251": {13, 15},
}


@pytest.fixture(scope="module")
def voc(real_voc):
    return VOCSegmentation(real_voc, year="2012", split="val")


def test_real_tree_reads_all_pairs(voc):
    assert len(voc) == 13 and set(voc.ids) == set(EXPECTED_CLASSES)
    for i, name in enumerate(voc.ids):
        image, mask = voc[i]
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
        assert mask.dtype == np.uint8 and mask.shape == image.shape[:2]
        values = set(np.unique(mask).tolist())
        assert 255 in values, "the void border must be kept, not mapped to background"
        assert values - {0, 255} == EXPECTED_CLASSES[name]


def test_mask_indices_agree_with_an_independent_colour_decoding(voc):
    """OpenCV expands the palette to colours; mapping them back must give our indices."""
    pal = voc_palette()
    for path in voc.masks[:4]:
        rgb = cv2.imread(str(path), cv2.IMREAD_COLOR)[..., ::-1]
        decoded = np.full(rgb.shape[:2], -1, np.int32)
        for idx in list(range(21)) + [255]:
            decoded[(rgb == pal[idx]).all(-1)] = idx
        np.testing.assert_array_equal(decoded, read_mask(path))


def test_images_are_rgb_not_bgr(voc):
    image, _ = voc[0]
    bgr = cv2.imread(str(voc.images[0]))
    assert np.abs(image.astype(int) - bgr[..., ::-1].astype(int)).mean() < 1.0


def test_rgb_masks_are_mapped_back_through_the_palette(voc, tmp_path):
    mask = read_mask(voc.masks[0])
    Image.fromarray(voc_palette()[mask]).save(tmp_path / "rgb.png")
    np.testing.assert_array_equal(read_mask(tmp_path / "rgb.png"), mask)


def test_write_mask_round_trip(tmp_path):
    m = np.random.default_rng(0).choice([0, 3, 20, 255], size=(37, 53)).astype(np.uint8)
    write_mask(tmp_path / "m.png", m)
    assert Image.open(tmp_path / "m.png").mode == "P"
    np.testing.assert_array_equal(read_mask(tmp_path / "m.png"), m)


def test_label_counts_exclude_void(voc):
    counts = voc.label_counts()
    masks = [read_mask(p) for p in voc.masks]
    assert counts.sum() == sum(int((m != 255).sum()) for m in masks)
    assert counts[15] == sum(int((m == 15).sum()) for m in masks)


@pytest.fixture
def voc_copy(real_voc, tmp_path):
    dst = tmp_path / "VOCdevkit" / "VOC2012"
    shutil.copytree(real_voc / "VOCdevkit" / "VOC2012", dst)
    return tmp_path, dst


def test_missing_root_and_layout_name_the_path(tmp_path):
    with pytest.raises(SegError, match="does not exist"):
        VOCSegmentation(tmp_path / "nope")
    with pytest.raises(SegError, match=r"missing .*VOCdevkit/VOC2007/JPEGImages"):
        VOCSegmentation(tmp_path)


def test_wrong_year_says_what_was_found(voc_copy):
    root, _ = voc_copy
    with pytest.raises(SegError, match="found VOC2012"):
        VOCSegmentation(root, year="2007")


def test_missing_split_names_the_list_file(voc_copy):
    root, _ = voc_copy
    with pytest.raises(SegError, match=r"no train split .*train\.txt"):
        VOCSegmentation(root, year="2012", split="train")


def test_corrupt_image_names_the_file(voc_copy):
    root, d = voc_copy
    (d / "JPEGImages" / "2007_000033.jpg").write_bytes(b"\xff\xd8garbage")
    ds = VOCSegmentation(root, year="2012", split="val")
    with pytest.raises(SegError, match="2007_000033.jpg"):
        ds[ds.ids.index("2007_000033")]


def test_out_of_range_label_names_the_mask(voc_copy):
    root, d = voc_copy
    m = read_mask(d / "SegmentationClass" / "2007_000039.png")
    m[0, 0] = 42
    write_mask(d / "SegmentationClass" / "2007_000039.png", m)
    ds = VOCSegmentation(root, year="2012", split="val")
    with pytest.raises(SegError, match=r"2007_000039.png holds label 42"):
        ds[ds.ids.index("2007_000039")]


def test_mask_of_another_size_is_rejected(voc_copy):
    root, d = voc_copy
    write_mask(d / "SegmentationClass" / "2007_000042.png", np.zeros((10, 10), np.uint8))
    ds = VOCSegmentation(root, year="2012", split="val")
    with pytest.raises(SegError, match="2007_000042.png is 10x10 but its image is"):
        ds[ds.ids.index("2007_000042")]


def test_listed_but_missing_file(voc_copy):
    root, d = voc_copy
    (d / "SegmentationClass" / "2007_000063.png").unlink()
    with pytest.raises(SegError, match="2007_000063.png"):
        VOCSegmentation(root, year="2012", split="val")
