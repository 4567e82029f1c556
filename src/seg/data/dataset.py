"""``SegDataset``: pairs of an image file and a mask file, with the data's own class list (torch-free).

Every layout seg reads (VOC and the labelling tools' VOC-like exports, ``images/`` + ``masks/``,
COCO JSON rasterised to masks) ends here, so training, evaluation, calibration and the bench see
one kind of dataset: ``ds[i]`` is ``(image RGB uint8 [H,W,3], mask uint8 [H,W])`` (255 = void),
or what ``transforms`` makes of that pair; it works with ``torch.utils.data.DataLoader`` as it is.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from seg.classes import IGNORE_INDEX, ClassList
from seg.errors import SegError
from seg.images import read_rgb
from seg.data.voc import read_mask

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
MASK_SUFFIXES = (".png", ".npy")


class SegDataset:
    """One split of a labelled set: ``images[i]`` and ``masks[i]`` are files, ``classes`` its class
    list, ``layout`` the format it was read as, ``notes`` what was decided on the user's behalf
    (a split drawn with --val-fraction, a class file found), for the caller to print."""

    def __init__(self, root: str | os.PathLike, images: Sequence[Path], masks: Sequence[Path], classes: ClassList,
                 split: str, layout: str, transforms: Callable | None = None, notes: Sequence[str] = (),
                 problems: Sequence[tuple[str, str, str]] = ()):
        self.root = self.voc_dir = Path(root)  # voc_dir: what reports name as the data
        self.images, self.masks = list(images), list(masks)
        self.ids = [p.stem for p in self.images]
        self.classes, self.split, self.layout = classes, split, layout
        self.transforms = transforms
        self.notes = list(notes)
        # (severity, what, file) met while listing the samples: an image without a mask and such.
        # seg data check reports them all; open_dataset raises the first error unless told not to.
        self.problems = list(problems)
        if not self.images and not any(p[0] == "error" for p in self.problems):  # else: those say why
            raise SegError(f"the {split} split of {self.root} is empty")

    def raise_problems(self) -> "SegDataset":
        """The first error met while listing the samples, as one line (``seg data check`` lists all)."""
        errors = [p for p in self.problems if p[0] == "error"]
        if errors:
            more = f" (and {len(errors) - 1} more: seg data check {self.root})" if len(errors) > 1 else ""
            raise SegError(f"{errors[0][1]}: {errors[0][2]}{more}")
        return self

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __len__(self) -> int:
        return len(self.images)

    def read_mask(self, index: int) -> np.ndarray:
        return read_mask(self.masks[index], self.num_classes, self.classes.colors)

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """The raw pair, without transforms."""
        image, mask = read_rgb(self.images[index]), self.read_mask(index)
        if image.shape[:2] != mask.shape:
            raise SegError(f"mask {self.masks[index]} is {mask.shape[1]}x{mask.shape[0]} but its image is "
                           f"{image.shape[1]}x{image.shape[0]}")
        return image, mask

    def __getitem__(self, index: int):
        image, mask = self.load(index)
        return self.transforms(image, mask) if self.transforms is not None else (image, mask)

    def label_counts(self, num_classes: int | None = None, indices: Sequence[int] | None = None) -> np.ndarray:
        """Pixel count per class over the split (void excluded), for class weighting."""
        n = num_classes or self.num_classes
        counts = np.zeros(n, dtype=np.int64)
        for i in range(len(self)) if indices is None else indices:
            m = read_mask(self.masks[i], n, self.classes.colors)
            counts += np.bincount(m[m != IGNORE_INDEX], minlength=n)[:n]
        return counts


def seeded_split(ids: Sequence[str], split: str, val_fraction: float, seed: int) -> list[str]:
    """The ``train`` or ``val`` part of ``ids`` for a layout with no splits of its own: a seeded
    shuffle, ``val_fraction`` of it (at least one item, when there are two) held out for val."""
    if split not in ("train", "val", "trainval", "all"):
        raise SegError(f"this set has no splits of its own: choose train or val (drawn with --val-fraction), not {split!r}")
    ordered = sorted(ids)
    if split in ("trainval", "all"):
        return ordered
    shuffled = ordered[:]
    random.Random(seed).shuffle(shuffled)
    n_val = min(len(shuffled) - 1, max(1, round(len(shuffled) * val_fraction))) if len(shuffled) > 1 else 0
    val = set(shuffled[:n_val])
    return [i for i in ordered if (i in val) == (split == "val")]


def split_note(total: int, val_fraction: float, seed: int, root: Path) -> str:
    return (f"{root} has no train/val splits of its own: {val_fraction:.0%} of its {total} images held out for "
            f"val (seed {seed}; --val-fraction, --seed)")


def find_image(folder: Path, stem: str) -> Path | None:
    """``folder/stem.<any image suffix>`` (JPEGImages holds .jpg; exports may hold .png)."""
    for suffix in IMAGE_SUFFIXES + tuple(s.upper() for s in IMAGE_SUFFIXES):
        p = folder / f"{stem}{suffix}"
        if p.is_file():
            return p
    return None
