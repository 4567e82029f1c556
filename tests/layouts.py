"""One small labelled set with classes that are not VOC's, written four ways: as CVAT's "Segmentation
mask 1.1" export (labelmap.txt, RGB colour masks, default.txt), as labelme2voc's output
(class_names.txt, palette PNGs in SegmentationClassPNG, no split lists), as images/ + masks/ with a
classes.txt, and as COCO JSON (RLE and polygon instances, a crowd region for the void pixels).
The runtime tests use it too (tests/runtime_models.py), so it needs no torch."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

CLASSES = ["background", "road", "crack", "kelp"]
COLOURS = [(0, 0, 0), (250, 50, 83), (61, 245, 61), (36, 179, 83)]
LAYOUT_NAMES = ("cvat", "labelme", "images-masks", "coco")


def make_labels(n: int = 12, h: int = 48, w: int = 64, seed: int = 0) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(stem, RGB image, mask) triples: rectangles of classes 1..3 on background, a void band in
    some masks, and images whose colours follow the labels (so a model can learn them)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        mask = np.zeros((h, w), np.uint8)
        for cls in (1, 2, 3):
            y, x = int(rng.integers(0, h - 12)), int(rng.integers(0, w - 16))
            mask[y:y + int(rng.integers(8, 20)), x:x + int(rng.integers(10, 30))] = cls
        if i % 3 == 0:
            mask[:, w // 2: w // 2 + 2] = 255  # a void band (VOC's borders, a crowd in COCO)
        image = np.zeros((h, w, 3), np.uint8)
        for cls, colour in enumerate(COLOURS):
            image[mask == cls] = colour
        image[mask == 255] = (128, 128, 128)
        image = np.clip(image.astype(int) + rng.integers(-20, 20, image.shape), 0, 255).astype(np.uint8)
        out.append((f"img_{i:03d}", image, mask))
    return out


def _save_rgb(path: Path, rgb: np.ndarray) -> None:
    Image.fromarray(rgb).save(path)  # PNG: lossless, so every layout holds the same pixels


def write_cvat(root: Path, samples) -> Path:
    voc = root
    for d in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (voc / d).mkdir(parents=True, exist_ok=True)
    lines = ["# label:color_rgb:parts:actions"] + [f"{n}:{r},{g},{b}::" for n, (r, g, b) in zip(CLASSES, COLOURS)]
    (voc / "labelmap.txt").write_text("\n".join(lines) + "\n")
    for stem, image, mask in samples:
        _save_rgb(voc / "JPEGImages" / f"{stem}.png", image)
        rgb = np.zeros((*mask.shape, 3), np.uint8)
        for cls, colour in enumerate(COLOURS):
            rgb[mask == cls] = colour
        rgb[mask == 255] = (224, 224, 192)  # VOC's void colour, which CVAT keeps for ignored pixels
        Image.fromarray(rgb).save(voc / "SegmentationClass" / f"{stem}.png")
    (voc / "ImageSets" / "Segmentation" / "default.txt").write_text("\n".join(s for s, _, _ in samples) + "\n")
    return root


def write_labelme(root: Path, samples) -> Path:
    for d in ("JPEGImages", "SegmentationClassPNG"):
        (root / d).mkdir(parents=True, exist_ok=True)
    (root / "class_names.txt").write_text("\n".join(["__ignore__", "_background_", *CLASSES[1:]]) + "\n")
    for stem, image, mask in samples:
        _save_rgb(root / "JPEGImages" / f"{stem}.png", image)
        im = Image.fromarray(mask, mode="P")
        im.putpalette([c for rgb in COLOURS for c in rgb] + [0] * (768 - 3 * len(COLOURS)))
        im.save(root / "SegmentationClassPNG" / f"{stem}.png")
    return root


def write_images_masks(root: Path, samples) -> Path:
    for d in ("images", "masks"):
        (root / d).mkdir(parents=True, exist_ok=True)
    (root / "classes.txt").write_text("\n".join(CLASSES) + "\n")
    for stem, image, mask in samples:
        _save_rgb(root / "images" / f"{stem}.png", image)
        Image.fromarray(mask, mode="L").save(root / "masks" / f"{stem}.png")
    return root


def write_coco(root: Path, samples, polygons: bool = False) -> Path:
    """COCO instances: one RLE per class region (or, with ``polygons``, rectangles as polygons),
    the void band as an iscrowd RLE."""
    from pycocotools import mask as mask_utils

    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    doc = {"images": [], "annotations": [], "categories": [{"id": 10 + i, "name": n} for i, n in enumerate(CLASSES[1:])]}
    for k, (stem, image, mask) in enumerate(samples):
        _save_rgb(root / "images" / f"{stem}.png", image)
        h, w = mask.shape
        doc["images"].append({"id": k + 1, "file_name": f"{stem}.png", "height": h, "width": w})
        for cls in (1, 2, 3, 255):
            region = mask == cls
            if not region.any():
                continue
            ann = {"id": len(doc["annotations"]) + 1, "image_id": k + 1, "iscrowd": int(cls == 255),
                   "category_id": 10 if cls == 255 else 10 + cls - 1}
            if polygons and cls != 255:
                contours, _ = cv2.findContours(region.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
                ann["segmentation"] = [c.reshape(-1).astype(float).tolist() for c in contours if len(c) >= 3]
            else:
                rle = mask_utils.encode(np.asfortranarray(region.astype(np.uint8)))
                ann["segmentation"] = {"size": rle["size"], "counts": rle["counts"].decode()}
            doc["annotations"].append(ann)
    (root / "annotations" / "instances_default.json").write_text(json.dumps(doc))
    return root


WRITERS = {"cvat": write_cvat, "labelme": write_labelme, "images-masks": write_images_masks, "coco": write_coco}


def write_all(root: Path, samples=None) -> dict[str, Path]:
    """The same labels in the four layouts, under ``root/<layout>``."""
    samples = samples if samples is not None else make_labels()
    return {name: WRITERS[name](root / name, samples) for name in LAYOUT_NAMES}
