"""COCO JSON instance annotations as semantic masks (torch-free), rasterised by ``pycocotools``.

The files CVAT, Label Studio, labelme2coco and Roboflow export: ``annotations/instances_<split>.json``
with the images in ``<split>/`` (or ``images/<split>/``, or beside the JSON), or Roboflow's
``<split>/_annotations.coco.json`` (``valid/`` is its val).

The rule, as torchvision's reference ``coco_utils.ConvertCocoPolysToMask`` and extended for crowds:

- categories become labels 1..N **in the file's order** of ``categories``, 0 is background;
- every instance (polygons or RLE) is painted with its category's label; where instances of
  **different** categories overlap, the pixel is void (255): neither label is known to be right;
- ``iscrowd`` regions are void (255) wherever no single instance claims the pixel.

Masks are written once into ``.seg-masks/<json stem>-<sha1 of the JSON>/`` beside the JSON (in
the seg cache if that folder is read-only), atomically, and rebuilt when the JSON changes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, Callable

import numpy as np

from seg.classes import IGNORE_INDEX, ClassList
from seg.data.dataset import SegDataset, seeded_split, split_note
from seg.errors import SegError

SPLIT_NAMES = {"train": ("train", "train2017", "train2014"), "val": ("val", "valid", "val2017", "val2014"),
               "test": ("test", "test2017")}


def find_coco_json(root: Path, split: str) -> tuple[Path, bool] | None:
    """(the JSON of ``split``, whether it is that split's own) or (the one JSON of the set, False)."""
    names = SPLIT_NAMES.get(split, (split,))
    for n in names:
        for cand in (root / "annotations" / f"instances_{n}.json", root / "annotations" / f"{n}.json",
                     root / n / "_annotations.coco.json"):
            if cand.is_file():
                return cand, True
    found = sorted([*(root / "annotations").glob("*.json"), *root.glob("*/_annotations.coco.json"),
                    *root.glob("*.json")]) if root.is_dir() else []
    found = [p for p in found if _is_coco(p)]
    if len(found) == 1:
        return found[0], False
    if found:
        raise SegError(f"no {split} annotations in {root}: found {', '.join(p.name for p in found)}, none named for "
                       f"{split} (instances_{split}.json)")
    return None


def _is_coco(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(1 << 16)
        return b'"images"' in head or b'"categories"' in head or b'"annotations"' in head
    except OSError:
        return False


def load_coco(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise SegError(f"cannot read COCO file {path}: {e}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("images"), list) or not isinstance(doc.get("categories"), list):
        raise SegError(f"{path} is not COCO instance annotations: it needs images and categories lists")
    return doc


def coco_classes(doc: dict[str, Any], path: Path) -> tuple[ClassList, dict[int, int]]:
    """(background + the categories in the file's order, category id -> label)."""
    cats = doc["categories"]
    label = {int(c["id"]): i + 1 for i, c in enumerate(cats)}
    return ClassList(["background"] + [str(c["name"]) for c in cats], None, path.name), label


def rasterise(doc: dict[str, Any], image: dict[str, Any], anns: list[dict[str, Any]], label: dict[int, int],
              path: Path) -> np.ndarray:
    """One image's semantic mask, uint8 [H,W], by the rule in this module's docstring."""
    from pycocotools import mask as mask_utils

    h, w = int(image["height"]), int(image["width"])
    out = np.zeros((h, w), np.uint8)
    claimed = np.zeros((h, w), np.int16)  # the label that claims a pixel; -1 where two disagree
    crowd = np.zeros((h, w), bool)
    for a in anns:
        cat = int(a["category_id"])
        if cat not in label:
            raise SegError(f"{path}: annotation {a.get('id')} has category_id {cat}, which is not in categories "
                           f"({', '.join(str(k) for k in label)})")
        seg = a.get("segmentation")
        if not seg:
            continue
        if isinstance(seg, list):  # polygons
            rles = mask_utils.frPyObjects([p for p in seg if len(p) >= 6], h, w)
            rle = mask_utils.merge(rles) if rles else None
        elif isinstance(seg.get("counts"), list):  # uncompressed RLE
            rle = mask_utils.frPyObjects(seg, h, w)
        else:
            rle = dict(seg, counts=seg["counts"].encode() if isinstance(seg["counts"], str) else seg["counts"])
        if rle is None:
            continue
        m = mask_utils.decode(rle).astype(bool)
        if a.get("iscrowd"):
            crowd |= m
            continue
        lab = label[cat]
        free = m & (claimed == 0)
        clash = m & (claimed > 0) & (claimed != lab)
        claimed[free] = lab
        claimed[clash] = -1
    out[claimed > 0] = claimed[claimed > 0]
    out[(claimed == -1) | (crowd & (claimed == 0))] = IGNORE_INDEX
    return out


def _cache_dir(json_path: Path, digest: str) -> Path:
    beside = json_path.parent / ".seg-masks" / f"{json_path.stem}-{digest}"
    try:
        beside.parent.mkdir(parents=True, exist_ok=True)
        if os.access(beside.parent, os.W_OK):
            return beside
    except OSError:
        pass
    from seg.layout import user_cache_dir

    return user_cache_dir() / "coco-masks" / f"{json_path.stem}-{digest}"


def masks_for(json_path: Path, doc: dict[str, Any], label: dict[int, int]) -> dict[int, Path]:
    """image id -> its mask PNG, rasterised once into the cache (atomically: a folder built aside,
    then renamed into place) and rebuilt when the JSON's content changes."""
    from PIL import Image

    digest = hashlib.sha1(json_path.read_bytes()).hexdigest()[:12]
    folder = _cache_dir(json_path, digest)
    names = {int(im["id"]): folder / f"{int(im['id'])}.png" for im in doc["images"]}
    if folder.is_dir():
        return names
    by_image: dict[int, list[dict[str, Any]]] = {}
    for a in doc.get("annotations", []):
        by_image.setdefault(int(a["image_id"]), []).append(a)
    tmp = folder.with_name(f".{folder.name}.tmp-{os.getpid()}")
    try:
        tmp.mkdir(parents=True, exist_ok=True)
        for im in doc["images"]:
            m = rasterise(doc, im, by_image.get(int(im["id"]), []), label, json_path)
            Image.fromarray(m, mode="L").save(tmp / f"{int(im['id'])}.png")
        os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for stale in folder.parent.glob(f"{json_path.stem}-*"):  # masks of an older version of the JSON
        if stale != folder and stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
    return names


def _image_folder(root: Path, json_path: Path, split_name: str | None) -> list[Path]:
    cands = [json_path.parent]
    if split_name:
        cands = [root / split_name, root / "images" / split_name, *cands]
    return [*cands, root / "images", root]


def coco_dataset(root: Path, split: str, val_fraction: float, seed: int,
                 transforms: Callable | None = None) -> SegDataset | None:
    """The ``split`` of a COCO-annotated set at ``root``; None when there is no COCO JSON."""
    found = find_coco_json(root, split)
    if found is None:
        return None
    json_path, own = found
    doc = load_coco(json_path)
    classes, label = coco_classes(doc, json_path)
    known = {int(im["id"]) for im in doc["images"]}
    stray = next((a for a in doc.get("annotations", []) if int(a["image_id"]) not in known), None)
    if stray is not None:
        raise SegError(f"{json_path}: annotation {stray.get('id')} is of image_id {stray['image_id']}, which is not in images")
    masks = masks_for(json_path, doc, label)
    split_name = json_path.parent.name if json_path.name == "_annotations.coco.json" else \
        json_path.stem.removeprefix("instances_")
    folders = _image_folder(root, json_path, split_name if own else None)
    notes = [f"coco layout: {json_path} ({len(doc['images'])} images, {len(classes) - 1} categories)"]
    chosen = doc["images"]
    if not own:  # drawn by file stem, as the other layouts draw theirs: one set, one split in every layout
        keep = set(seeded_split([Path(im["file_name"]).stem for im in doc["images"]], split, val_fraction, seed))
        chosen = [im for im in doc["images"] if Path(im["file_name"]).stem in keep]
        notes.append(split_note(len(doc["images"]), val_fraction, seed, json_path))
    images, mask_paths, problems = [], [], []
    for im in chosen:
        name = im["file_name"]
        path = next((f / name for f in folders if (f / name).is_file()), None) or \
            next((f / Path(name).name for f in folders if (f / Path(name).name).is_file()), None)
        if path is None:
            problems.append(("error", f"images of {json_path.name} not found (looked in {folders[0]})", name))
            continue
        images.append(path)
        mask_paths.append(masks[int(im["id"])])
    return SegDataset(root, images, mask_paths, classes, split, "coco", transforms, notes, problems)
