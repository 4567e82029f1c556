"""Files of the PASCAL VOC segmentation layout (``VOCdevkit/VOC<year>``), real or synthetic: where
the tree is, and how its masks are read and written (the dataset over it: :mod:`seg.data.layouts`).

Images come out as RGB uint8 [H,W,3], masks as uint8 [H,W] class indices with **255 kept as
the void/ignore label** (VOC draws it along object borders; mapping it to background, as the
seed code did, teaches the model wrong borders and inflates background IoU).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from seg.classes import IGNORE_INDEX, NUM_CLASSES, voc_palette
from seg.errors import SegError
from seg.images import read_rgb

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


_LUTS: dict[bytes, dict[int, int]] = {}


def _colour_lut(colors: np.ndarray) -> dict[int, int]:
    """RGB key -> class index for ``colors`` (one per class), with VOC's cream void colour -> 255."""
    key = colors.tobytes()
    if key not in _LUTS:
        c = colors.astype(np.int32)
        lut = {int(k): i for i, k in reversed(list(enumerate((c[:, 0] << 16) | (c[:, 1] << 8) | c[:, 2])))}
        v = voc_palette()[IGNORE_INDEX].astype(np.int32)
        lut.setdefault(int((v[0] << 16) | (v[1] << 8) | v[2]), IGNORE_INDEX)
        _LUTS[key] = lut
    return _LUTS[key]


def read_mask(path: str | os.PathLike, num_classes: int = NUM_CLASSES, colors: np.ndarray | None = None) -> np.ndarray:
    """Read a mask as uint8 [H,W] class indices, 255 kept as void.

    Palette ('P') and grey ('L') PNGs hold the indices directly; an RGB mask (CVAT's colour masks,
    or VOC masks re-saved by some tool) is mapped back through ``colors`` (one RGB per class: the
    labelmap's; default VOC's colour map); a ``.npy`` (labelme) holds the indices, -1 = ignore.
    Values outside ``0..num_classes-1`` and 255 are rejected, naming the file.
    """
    try:
        if Path(path).suffix.lower() == ".npy":
            arr = np.load(path, allow_pickle=False)
            if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.integer):
                raise SegError(f"mask {path} is not a 2-D array of class indices")
            mask = np.where(arr < 0, IGNORE_INDEX, arr).clip(0, 255).astype(np.uint8)
        else:
            with Image.open(path) as im:
                if im.mode in ("P", "L"):
                    mask = np.array(im)
                elif im.mode in ("RGB", "RGBA"):
                    lut = _colour_lut(np.asarray(colors if colors is not None else voc_palette()[:num_classes], np.uint8))
                    rgb = np.asarray(im.convert("RGB")).astype(np.int32)
                    keys = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
                    uniq, inv = np.unique(keys, return_inverse=True)
                    unknown = [int(k) for k in uniq if int(k) not in lut]
                    if unknown:
                        k = unknown[0]
                        raise SegError(f"mask {path} is RGB with colour ({k >> 16},{(k >> 8) & 255},{k & 255}), which is "
                                       f"no class's colour{'' if colors is not None else ' in the VOC palette'}")
                    mask = np.array([lut[int(k)] for k in uniq], dtype=np.uint8)[inv].reshape(keys.shape)
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
