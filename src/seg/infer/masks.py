"""Palette PNG masks (VOC's format) written with zlib alone: Pillow is not needed on the edge."""

from __future__ import annotations

import os
import struct
import zlib

import numpy as np


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def write_palette_png(path: str | os.PathLike, labels: np.ndarray, palette_rgb: np.ndarray) -> None:
    """uint8 [H,W] labels -> 8-bit palette PNG (colour type 3), readable as a VOC mask.

    The palette is padded to 256 entries with VOC's cream void colour at 255.
    """
    h, w = labels.shape
    pal = np.zeros((256, 3), np.uint8)
    pal[: len(palette_rgb)] = palette_rgb
    pal[255] = (224, 224, 192)
    raw = np.zeros((h, w + 1), np.uint8)  # each row starts with filter type 0
    raw[:, 1:] = labels
    png = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 3, 0, 0, 0))
    png += _chunk(b"PLTE", pal.tobytes()) + _chunk(b"IDAT", zlib.compress(raw.tobytes(), 6)) + _chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(png)
