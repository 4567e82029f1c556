"""A folder of plain images, no masks: the calibration data an edge user has (torch-free)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from seg.data.voc import read_image
from seg.errors import SegError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


class ImageFolder:
    """The images of a folder (sub-folders included), sorted; ``load(i)`` is ``(RGB uint8 [H,W,3], None)``,
    the same protocol as :class:`seg.data.VOCSegmentation` with no mask."""

    split = "images"

    def __init__(self, root: str | os.PathLike, paths: list[Path] | None = None):
        self.voc_dir = self.root = Path(root)  # voc_dir: what reports name as the data
        if paths is None:
            if not self.root.is_dir():
                raise SegError(f"image folder {self.root} does not exist")
            paths = sorted(p for p in self.root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
            if not paths:
                raise SegError(f"{self.root} holds no images ({', '.join(IMAGE_SUFFIXES)})")
        self.paths = paths

    def __len__(self) -> int:
        return len(self.paths)

    def load(self, index: int) -> tuple[np.ndarray, None]:
        return read_image(self.paths[index]), None

    def split_off(self, n: int) -> tuple["ImageFolder", "ImageFolder"]:
        """(``n`` images spread over the folder, the others): calibration and held-out images.
        When nothing is left over, the held-out set is the whole folder (see ``held_out``)."""
        idx = set(np.unique(np.linspace(0, len(self) - 1, num=min(n, len(self))).round().astype(int)).tolist())
        chosen = [p for i, p in enumerate(self.paths) if i in idx]
        rest = [p for i, p in enumerate(self.paths) if i not in idx]
        heldout = ImageFolder(self.root, rest or self.paths)
        heldout.held_out = bool(rest)
        return ImageFolder(self.root, chosen), heldout

    held_out = True
