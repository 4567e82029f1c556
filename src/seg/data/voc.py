"""Reader for the PASCAL VOC segmentation layout (``VOCdevkit/VOC<year>``), real or synthetic.

Images come out as RGB uint8 [H,W,3], masks as uint8 [H,W] class indices with **255 kept as
the void/ignore label** (VOC draws it along object borders; mapping it to background, as the
seed code did, teaches the model wrong borders and inflates background IoU).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from PIL import Image, UnidentifiedImageError

from seg.classes import IGNORE_INDEX, NUM_CLASSES, voc_palette
from seg.errors import SegError
from seg.images import read_rgb, shown_size

SPLITS = ("train", "val", "trainval", "test")


def voc_years(root: str | os.PathLike) -> list[str]:
    """The years of the VOC trees under ``root`` (a data root, a ``VOCdevkit`` folder or a ``VOC<year>``
    folder itself), sorted: ``["2007", "2012"]``."""
    root = Path(root)
    cands = [*(root / "VOCdevkit").glob("VOC*"), *root.glob("VOC*"), root]
    return sorted({p.name[3:] for p in cands if p.name.startswith("VOC") and p.name[3:].isdigit()
                   and (p / "JPEGImages").is_dir()})


def find_voc_dir(root: str | os.PathLike, year: str = "2007") -> Path:
    """Locate ``VOC<year>`` given a data root, a ``VOCdevkit`` folder, or the folder itself."""
    root = Path(root)
    if not root.exists():
        raise SegError(f"data root {root} does not exist")
    for cand in (root / "VOCdevkit" / f"VOC{year}", root / f"VOC{year}", root):
        if (cand / "JPEGImages").is_dir():
            return cand
    found = voc_years(root)
    hint = f" (found {', '.join('VOC' + y for y in found)}: pass --year {found[-1]})" if found else ""
    where = root / f"VOC{year}" if root.name == "VOCdevkit" else root / "VOCdevkit" / f"VOC{year}"
    raise SegError(f"{root} has no VOC{year} dataset: missing {where / 'JPEGImages'}{hint}")


read_image = read_rgb  # RGB uint8 [H,W,3], EXIF orientation applied: seg.images, the one reader


_PALETTE_LUT: dict[int, int] | None = None


def read_mask(path: str | os.PathLike, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """Read a VOC mask as uint8 [H,W] class indices, 255 kept as void.

    Palette ('P') and grey ('L') PNGs hold the indices directly; an RGB mask (as some tools
    re-save VOC masks) is mapped back through the VOC colour map. Values outside
    ``0..num_classes-1`` and 255 are rejected, naming the file.
    """
    global _PALETTE_LUT
    try:
        with Image.open(path) as im:
            if im.mode in ("P", "L"):
                mask = np.array(im)
            elif im.mode in ("RGB", "RGBA"):
                if _PALETTE_LUT is None:
                    pal = voc_palette().astype(np.int32)
                    _PALETTE_LUT = {int(k): i for i, k in enumerate((pal[:, 0] << 16) | (pal[:, 1] << 8) | pal[:, 2])}
                rgb = np.asarray(im.convert("RGB")).astype(np.int32)
                keys = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
                uniq, inv = np.unique(keys, return_inverse=True)
                if any(int(k) not in _PALETTE_LUT for k in uniq):
                    raise SegError(f"mask {path} is RGB with colours outside the VOC palette")
                mask = np.array([_PALETTE_LUT[int(k)] for k in uniq], dtype=np.uint8)[inv].reshape(keys.shape)
            else:
                raise SegError(f"mask {path} has image mode {im.mode}; expected a palette PNG")
    except (OSError, UnidentifiedImageError, ValueError) as e:
        raise SegError(f"cannot read mask {path}: {e}") from None
    bad = (mask >= num_classes) & (mask != IGNORE_INDEX)
    if bad.any():
        raise SegError(f"mask {path} holds label {int(mask[bad][0])}, outside 0..{num_classes - 1} and {IGNORE_INDEX}")
    return mask


def write_mask(path: str | os.PathLike, mask: np.ndarray) -> None:
    """Write uint8 [H,W] labels as a VOC palette PNG (readable by VOC tools and :func:`read_mask`)."""
    im = Image.fromarray(np.ascontiguousarray(mask, dtype=np.uint8), mode="P")
    im.putpalette(voc_palette().reshape(-1).tolist())
    im.save(path, optimize=False)


class VOCSegmentation:
    """Map-style dataset over ``VOC<year>/ImageSets/Segmentation/<split>.txt``.

    ``ds[i]`` is ``(image RGB uint8 [H,W,3], mask uint8 [H,W])``, or whatever ``transforms``
    makes of that pair. It works with ``torch.utils.data.DataLoader`` as it is.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        year: str = "2007",
        split: str = "train",
        transforms: Callable[[np.ndarray, np.ndarray], object] | None = None,
    ):
        if split not in SPLITS:
            raise SegError(f"unknown split {split!r}; choose one of: {', '.join(SPLITS)}")
        self.voc_dir = find_voc_dir(root, year)
        self.split = split
        self.transforms = transforms
        list_file = self.voc_dir / "ImageSets" / "Segmentation" / f"{split}.txt"
        if not list_file.is_file():
            raise SegError(f"no {split} split in {self.voc_dir}: missing {list_file}")
        mask_dir = self.voc_dir / "SegmentationClass"
        if not mask_dir.is_dir():
            raise SegError(f"{self.voc_dir} has no masks: missing {mask_dir}")
        self.ids: list[str] = [ln.strip() for ln in list_file.read_text().splitlines() if ln.strip()]
        if not self.ids:
            raise SegError(f"the {split} split is empty: {list_file}")
        self.images = [self.voc_dir / "JPEGImages" / f"{i}.jpg" for i in self.ids]
        self.masks = [mask_dir / f"{i}.png" for i in self.ids]
        missing = next((p for pair in zip(self.images, self.masks) for p in pair if not p.is_file()), None)
        if missing is not None:
            raise SegError(f"{list_file.name} lists a sample whose file is missing: {missing}")

    def __len__(self) -> int:
        return len(self.ids)

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """The raw pair, without transforms."""
        image, mask = read_image(self.images[index]), read_mask(self.masks[index])
        if image.shape[:2] != mask.shape:
            raise SegError(f"mask {self.masks[index]} is {mask.shape[1]}x{mask.shape[0]} but its image is "
                           f"{image.shape[1]}x{image.shape[0]}")
        return image, mask

    def __getitem__(self, index: int):
        image, mask = self.load(index)
        return self.transforms(image, mask) if self.transforms is not None else (image, mask)

    def check(self, num_classes: int = NUM_CLASSES) -> np.ndarray:
        """Read every mask and every image's header: a bad file anywhere in the split is a SegError
        naming it before any training step (a bad val mask used to surface after a whole epoch).
        Returns the pixel count per class (void excluded), as :meth:`label_counts`."""
        counts = np.zeros(num_classes, dtype=np.int64)
        for image, mask_path in zip(self.images, self.masks):
            m = read_mask(mask_path, num_classes)
            size = shown_size(image)
            if size is None:
                raise SegError(f"cannot read image {image}: not an image file")
            if size != m.shape:
                raise SegError(f"mask {mask_path} is {m.shape[1]}x{m.shape[0]} but its image is {size[1]}x{size[0]}")
            counts += np.bincount(m[m != IGNORE_INDEX], minlength=num_classes)[:num_classes]
        return counts

    def label_counts(self, num_classes: int = NUM_CLASSES, indices: Sequence[int] | None = None) -> np.ndarray:
        """Pixel count per class over the split (void excluded), for class weighting."""
        counts = np.zeros(num_classes, dtype=np.int64)
        for i in range(len(self)) if indices is None else indices:
            m = read_mask(self.masks[i], num_classes)
            counts += np.bincount(m[m != IGNORE_INDEX], minlength=num_classes)[:num_classes]
        return counts
