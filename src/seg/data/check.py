"""``seg data check``: what a labelled set holds and every problem in it, before any training (torch-free).

The same rules gate ``seg train`` (errors refuse the set before the first step; warnings are
printed and training goes on):

- errors: a mask value that is no class and not 255; a mask of another size than its image; an
  image without a mask; an unreadable image or mask; two images with one stem;
- warnings: a mask without an image; a class with no pixels in the train or the val split.

Each problem is one line naming up to three files, then how many more.
"""

from __future__ import annotations

import os
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from seg.classes import IGNORE_INDEX, ClassList
from seg.data.dataset import SegDataset
from seg.data.voc import read_mask
from seg.errors import SegError
from seg.images import shown_size

NAMED = 3  # files named per problem line; the rest are counted


@dataclass
class Report:
    """What ``seg data check`` found: per split the images, per class the pixels and images,
    the image sizes, and the problems (``errors`` refuse training, ``warnings`` do not)."""

    root: Path
    layout: str
    classes: ClassList
    notes: list[str] = field(default_factory=list)
    images: dict[str, int] = field(default_factory=dict)
    counts: dict[str, np.ndarray] = field(default_factory=dict)  # split -> pixels per class
    present: dict[str, np.ndarray] = field(default_factory=dict)  # split -> images per class
    sizes: list[tuple[int, int]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def size_summary(self) -> str:
        if not self.sizes:
            return "-"
        hs, ws = [h for h, _ in self.sizes], [w for _, w in self.sizes]
        return (f"width {min(ws)}/{int(statistics.median(ws))}/{max(ws)}, height {min(hs)}/{int(statistics.median(hs))}/"
                f"{max(hs)} (min/median/max)")

    def to_dict(self) -> dict:
        return {"root": str(self.root), "layout": self.layout, "classes": list(self.classes.names),
                "class_source": self.classes.source, "notes": self.notes, "images": self.images,
                "pixels": {k: v.tolist() for k, v in self.counts.items()},
                "images_per_class": {k: v.tolist() for k, v in self.present.items()},
                "sizes": self.size_summary(), "errors": self.errors, "warnings": self.warnings}


def _lines(found: dict[str, list[str]]) -> list[str]:
    """One line per problem: its description, the first NAMED files, then a count."""
    out = []
    for what, files in found.items():
        named = ", ".join(files[:NAMED]) + (f" and {len(files) - NAMED} more" if len(files) > NAMED else "")
        out.append(f"{what} ({len(files)}): {named}")
    return out


def check_splits(splits: dict[str, SegDataset]) -> Report:
    """Read every image header and every mask of ``splits`` (name -> dataset of one set)."""
    first = next(iter(splits.values()))
    n = len(first.classes)
    report = Report(first.root, first.layout, first.classes, notes=list(first.notes))
    errors: dict[str, list[str]] = defaultdict(list)
    warnings: dict[str, list[str]] = defaultdict(list)
    for problem in getattr(first, "problems", []):
        (errors if problem[0] == "error" else warnings)[problem[1]].append(str(problem[2]))
    for name, ds in splits.items():
        for problem in getattr(ds, "problems", []):
            target = errors if problem[0] == "error" else warnings
            if str(problem[2]) not in target[problem[1]]:
                target[problem[1]].append(str(problem[2]))
        counts = np.zeros(n, np.int64)
        present = np.zeros(n, np.int64)
        for image, mask_path in zip(ds.images, ds.masks):
            size = shown_size(image)
            if size is None:
                errors["unreadable images"].append(str(image))
            try:
                m = read_mask(mask_path, 256, ds.classes.colors)
            except SegError:
                errors["unreadable masks (or colours that are no class's)"].append(str(mask_path))
                continue
            bad = (m >= n) & (m != IGNORE_INDEX)
            if bad.any():
                values = sorted({int(v) for v in np.unique(m[bad])})
                errors[f"masks with values that are no class (0..{n - 1}) and not {IGNORE_INDEX}"].append(
                    f"{mask_path} ({', '.join(map(str, values[:5]))})")
            if size is not None:
                report.sizes.append(size)
                if size != m.shape:
                    errors["masks of another size than their image"].append(
                        f"{mask_path} ({m.shape[1]}x{m.shape[0]} vs {size[1]}x{size[0]})")
            valid = m[(m != IGNORE_INDEX) & (m < n)]
            c = np.bincount(valid, minlength=n)[:n]
            counts += c
            present += c > 0
        report.images[name] = len(ds)
        report.counts[name] = counts
        report.present[name] = present
        empty = [first.classes.names[i] for i in range(n) if counts[i] == 0]
        for cls in empty:
            warnings[f"classes with no pixels in the {name} split"].append(cls)
    report.errors, report.warnings = _lines(errors), _lines(warnings)
    return report


def check_dataset(root: str | os.PathLike, year: str = "2007", val_fraction: float = 0.1, seed: int = 0,
                  splits: tuple[str, ...] = ("train", "val")) -> Report:
    """``seg data check DIR``: open the set's splits in whatever layout it is and check them."""
    from seg.data.layouts import open_dataset

    opened = {s: open_dataset(root, s, year, val_fraction, seed, lenient=True) for s in splits}
    return check_splits(opened)
