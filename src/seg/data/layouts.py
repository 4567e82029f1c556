"""Which labelled-data layout a folder is, and the dataset over it (torch-free).

The layouts users arrive with, each read with its own class file and splits:

- **VOC** (``VOCdevkit/VOC<year>``, or a folder holding ``JPEGImages`` + ``SegmentationClass``):
  palette masks, ``ImageSets/Segmentation/<split>.txt``; VOC's 21 classes unless a class file says
  otherwise. The labelling tools' VOC-like exports are read the same way:
  **CVAT** "Segmentation mask 1.1" (``labelmap.txt``: ``name:r,g,b:parts:actions``, RGB colour
  masks, often a ``default.txt`` split) and **labelme**'s ``labelme2voc.py`` (``class_names.txt``,
  ``__ignore__`` -> 255, ``_background_`` -> 0; masks in ``SegmentationClassPNG`` or ``.npy``).
- **images/ + masks/**: index PNGs with the images' stems, a ``classes.txt`` (one name a line) or
  ``dataset.yaml`` (``names:``) beside them; splits as ``images/train``, ``images/val`` sub-folders.
- **COCO** JSON (``annotations/instances_<split>.json`` + ``<split>/``, or Roboflow's
  ``<split>/_annotations.coco.json``): polygons and RLE rasterised to masks by :mod:`seg.data.coco`.

A layout without splits of its own gets a seeded ``val_fraction`` split, said in ``notes``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from seg.classes import ClassList
from seg.data.dataset import IMAGE_SUFFIXES, SegDataset, find_image, seeded_split, split_note
from seg.data.voc import SPLITS, find_voc_dir, voc_years
from seg.errors import SegError

VAL_FRACTION = 0.1  # held out for val where the data has no val split of its own
LAYOUTS = ("voc", "cvat", "labelme", "images-masks", "coco")


# ---- class files -----------------------------------------------------------------------------------

def read_labelmap(path: Path) -> ClassList:
    """CVAT's ``labelmap.txt``: ``# label:color_rgb:parts:actions`` then ``name:r,g,b::`` per class."""
    names, colors = [], []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split(":")
        try:
            rgb = [int(v) for v in parts[1].split(",")]
            if len(rgb) != 3 or not all(0 <= v <= 255 for v in rgb):
                raise ValueError
        except (IndexError, ValueError):
            raise SegError(f"{path} line {n}: expected name:r,g,b::, got {line.strip()!r}") from None
        names.append(parts[0].strip())
        colors.append(rgb)
    if not names:
        raise SegError(f"{path} names no class")
    return ClassList(names, colors, path.name)


def read_class_names(path: Path) -> ClassList:
    """labelme's ``class_names.txt`` (``__ignore__`` first, -> 255, then ``_background_`` -> 0, ...),
    or a plain ``classes.txt``: one name a line, the line order being the label value."""
    names = [ln.strip() for ln in path.read_text().splitlines() if ln.strip()]
    names = [n for n in names if n != "__ignore__"]
    names = ["background" if n == "_background_" else n for n in names]
    if not names:
        raise SegError(f"{path} names no class")
    return ClassList(names, None, path.name)


def read_dataset_yaml(path: Path) -> ClassList:
    """``names:`` of an Ultralytics-style ``dataset.yaml``: a list, or a mapping index -> name."""
    import yaml

    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise SegError(f"{path} is not valid YAML: {str(e).splitlines()[0]}") from None
    names = doc.get("names") if isinstance(doc, dict) else None
    if isinstance(names, dict):
        keys = sorted(names)
        if keys != list(range(len(keys))):
            raise SegError(f"{path}: names must be numbered 0..N-1, it has {keys}")
        names = [names[k] for k in keys]
    if not isinstance(names, list) or not names:
        raise SegError(f"{path} has no names: list")
    return ClassList([str(n) for n in names], None, path.name)


def class_file(*folders: Path) -> ClassList | None:
    """The class list of the first class file found in ``folders`` (labelmap.txt, class_names.txt,
    classes.txt, dataset.yaml)."""
    readers = (("labelmap.txt", read_labelmap), ("class_names.txt", read_class_names),
               ("classes.txt", read_class_names), ("dataset.yaml", read_dataset_yaml), ("data.yaml", read_dataset_yaml))
    for folder in folders:
        for name, read in readers:
            if (folder / name).is_file():
                return read(folder / name)
    return None


# ---- the VOC family ------------------------------------------------------------------------------

def _voc_dir(root: Path, year: str) -> Path | None:
    for cand in (root / "VOCdevkit" / f"VOC{year}", root / f"VOC{year}", root):
        if (cand / "JPEGImages").is_dir():
            return cand
    years = voc_years(root)
    if years:  # another year than asked: find_voc_dir's one-line hint
        find_voc_dir(root, year)
    return None


def voc_family(root: Path, split: str, year: str = "2007", val_fraction: float = VAL_FRACTION, seed: int = 0,
               transforms: Callable | None = None) -> SegDataset | None:
    """VOC, CVAT's or labelme's VOC-like export under ``root``; None if ``root`` is none of them."""
    voc = _voc_dir(root, year)
    if voc is None:
        return None
    classes = class_file(voc, root)
    layout = "voc" if classes is None else {"labelmap.txt": "cvat", "class_names.txt": "labelme"}.get(classes.source, "voc")
    notes = [f"{layout} layout in {voc}" + (f", classes from {classes.source}" if classes else ", VOC's 21 classes")]
    classes = classes or ClassList.voc()
    mask_dir = next((voc / d for d in ("SegmentationClassPNG", "SegmentationClass") if (voc / d).is_dir()), None)
    if mask_dir is None:
        raise SegError(f"{voc} has no masks: missing {voc / 'SegmentationClass'}")
    sets = voc / "ImageSets" / "Segmentation"
    list_file = sets / f"{split}.txt"
    if list_file.is_file():
        ids = [ln.strip() for ln in list_file.read_text().splitlines() if ln.strip()]
        if not ids:
            raise SegError(f"the {split} split is empty: {list_file}")
    else:
        present = sorted(p.stem for p in sets.glob("*.txt")) if sets.is_dir() else []
        if split not in ("train", "val") or any(s in present for s in ("train", "val")):
            raise SegError(f"no {split} split in {voc}: missing {list_file}"
                           + (f" (it has {', '.join(present)})" if present else ""))
        # CVAT's default.txt, a lone trainval.txt, or no lists (labelme): every labelled image, split here
        source = next((sets / f"{s}.txt" for s in ("trainval", "default") if (sets / f"{s}.txt").is_file()), None)
        pool = ([ln.strip() for ln in source.read_text().splitlines() if ln.strip()] if source else
                sorted({p.stem for p in mask_dir.iterdir() if p.suffix.lower() in (".png", ".npy")}))
        ids = seeded_split(pool, split, val_fraction, seed)
        notes.append(split_note(len(pool), val_fraction, seed, voc))
    images, masks, problems = [], [], []
    for i in ids:
        image = find_image(voc / "JPEGImages", i)
        mask = next((p for p in (mask_dir / f"{i}.png", mask_dir / f"{i}.npy") if p.is_file()), None)
        if image is None:
            problems.append(("error", f"{split} lists samples without an image", str(voc / "JPEGImages" / f"{i}.jpg")))
        elif mask is None:
            problems.append(("error", "images without a mask", f"{image} (no {mask_dir.name}/{i}.png)"))
        else:
            images.append(image)
            masks.append(mask)
    problems += _duplicate_stems(voc / "JPEGImages", set(ids))
    return SegDataset(voc, images, masks, classes, split, layout, transforms, notes, problems)


def _duplicate_stems(folder: Path, wanted: set[str] | None = None) -> list[tuple[str, str, str]]:
    """Two images with one stem (x.jpg and x.png): which one a mask belongs to is a guess."""
    seen: dict[str, Path] = {}
    out = []
    for p in sorted(folder.iterdir()) if folder.is_dir() else []:
        if p.suffix.lower() in IMAGE_SUFFIXES and (wanted is None or p.stem in wanted):
            if p.stem in seen:
                out.append(("error", "images sharing one stem", f"{seen[p.stem].name} and {p.name} in {folder}"))
            seen[p.stem] = p
    return out


class VOCSegmentation(SegDataset):
    """A VOC-family split by root, year and split name (the reader the rest of seg has always
    called): ``VOCSegmentation(root, "2007", "train")``."""

    def __init__(self, root: str | os.PathLike, year: str = "2007", split: str = "train",
                 transforms: Callable | None = None, val_fraction: float = VAL_FRACTION, seed: int = 0):
        if split not in SPLITS:
            raise SegError(f"unknown split {split!r}; choose one of: {', '.join(SPLITS)}")
        root = Path(root)
        if not root.exists():
            raise SegError(f"data root {root} does not exist")
        ds = voc_family(root, split, year, val_fraction, seed, transforms)
        if ds is None:
            find_voc_dir(root, year)  # the one-line error, with its hint
        self.__dict__.update(ds.raise_problems().__dict__)


# ---- images/ + masks/ ------------------------------------------------------------------------------

def images_masks(root: Path, split: str, val_fraction: float = VAL_FRACTION, seed: int = 0,
                 transforms: Callable | None = None) -> SegDataset | None:
    """``images/`` + ``masks/`` (same stems), optionally with ``train``/``val`` sub-folders in both."""
    if not ((root / "images").is_dir() and (root / "masks").is_dir()):
        return None
    classes = class_file(root)
    if classes is None:
        raise SegError(f"{root} has images/ and masks/ but no class list: add a classes.txt (one name a line, "
                       "the line order is the label value) or a dataset.yaml with names:")
    notes = [f"images-masks layout in {root}, classes from {classes.source}"]
    if (root / "images" / split).is_dir():
        img_dir, mask_dir = root / "images" / split, root / "masks" / split
        stems = sorted(p.stem for p in img_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    elif any((root / "images" / s).is_dir() for s in ("train", "val")):
        raise SegError(f"no {split} split in {root}: missing {root / 'images' / split}")
    else:
        img_dir, mask_dir = root / "images", root / "masks"
        pool = sorted(p.stem for p in img_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        stems = seeded_split(pool, split, val_fraction, seed)
        notes.append(split_note(len(pool), val_fraction, seed, root))
    images, masks, problems = [], [], []
    for s in dict.fromkeys(stems):
        mask = next((p for p in (mask_dir / f"{s}.png", mask_dir / f"{s}.npy") if p.is_file()), None)
        if mask is None:
            problems.append(("error", "images without a mask", f"{find_image(img_dir, s)} (no {mask_dir.name}/{s}.png)"))
            continue
        images.append(find_image(img_dir, s))
        masks.append(mask)
    have = {p.stem for p in img_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}
    problems += [("warning", "masks without an image", str(p)) for p in sorted(mask_dir.iterdir())
                 if p.suffix.lower() in (".png", ".npy") and p.stem not in have] if mask_dir.is_dir() else []
    problems += _duplicate_stems(img_dir)
    return SegDataset(root, images, masks, classes, split, "images-masks", transforms, notes, problems)


# ---- one entry point ------------------------------------------------------------------------------

def open_dataset(root: str | os.PathLike, split: str = "train", year: str = "2007", val_fraction: float = VAL_FRACTION,
                 seed: int = 0, transforms: Callable | None = None, lenient: bool = False) -> SegDataset:
    """The ``split`` of the labelled set at ``root``, whatever its layout (see the module's doc);
    one SegError naming what was looked for when it is none of them. A sample with a missing file
    is an error (the first one raised) unless ``lenient`` (``seg data check`` and ``seg train``,
    which report every problem)."""
    root = Path(root)
    if not root.exists():
        raise SegError(f"data root {root} does not exist")
    if not root.is_dir():
        raise SegError(f"data root {root} is a file, not a folder")
    if not 0 < val_fraction < 1:
        raise SegError(f"--val-fraction {val_fraction:g} must lie between 0 and 1")
    from seg.data.coco import coco_dataset

    for reader in (lambda: voc_family(root, split, year, val_fraction, seed, transforms),
                   lambda: images_masks(root, split, val_fraction, seed, transforms),
                   lambda: coco_dataset(root, split, val_fraction, seed, transforms)):
        ds = reader()
        if ds is not None:
            return ds if lenient else ds.raise_problems()
    raise SegError(f"{root} is in no layout seg reads: looked for VOCdevkit/VOC{year}/ or JPEGImages/ + "
                   "SegmentationClass/ (VOC, CVAT, labelme), images/ + masks/ (with classes.txt or dataset.yaml), "
                   "and COCO JSON (annotations/instances_*.json, */_annotations.coco.json); see docs/datasets.md")


def dataset_classes(root: str | os.PathLike, year: str = "2007") -> ClassList:
    """The class list of the set at ``root`` (its train split's, or val's), for callers that
    need the classes before the data (a model's head)."""
    try:
        return open_dataset(root, "train", year).classes
    except SegError:
        return open_dataset(root, "val", year).classes


__all__ = ["LAYOUTS", "VAL_FRACTION", "SegDataset", "VOCSegmentation", "open_dataset", "dataset_classes",
           "read_labelmap", "read_class_names", "read_dataset_yaml", "class_file"]
