"""Per-frame results a program can use (torch-free): one :class:`Result` per frame, the record of
``seg run --save-json`` (JSON lines) and what :func:`seg.predict` yields. The schema is written down
once, here and in docs/results.md; ``SCHEMA`` is its version, in every record.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import IO, Any

import cv2
import numpy as np

SCHEMA = 1


@dataclass(frozen=True)
class Region:
    """One connected region of a class (8-connectivity): its pixel area and bounding box
    ``(x, y, width, height)`` in frame pixels."""

    area: int
    bbox: tuple[int, int, int, int]


@dataclass
class Result:
    """One segmented frame: ``labels`` uint8 [H,W] (class indices at the frame's size), the
    model's ``class_names`` and ``palette``, where it came from (``source``, ``index``, ``name``,
    ``time``: the video's own clock in seconds for files, Unix time for live sources, None for
    photos) and the ``frame`` itself (BGR) where it was asked for."""

    labels: np.ndarray
    class_names: list[str]
    palette: list[list[int]]
    source: str
    index: int
    name: str
    model: str
    time: float | None = None
    path: str | None = None  # the image file, for a folder or glob of photos
    frame: np.ndarray | None = field(default=None, repr=False)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the frame."""
        return int(self.labels.shape[1]), int(self.labels.shape[0])

    def pixels(self) -> dict[str, int]:
        """Pixel count per class present."""
        counts = np.bincount(self.labels.ravel(), minlength=len(self.class_names))
        return {self.class_names[i]: int(c) for i, c in enumerate(counts[: len(self.class_names)]) if c}

    @property
    def classes(self) -> list[str]:
        """The classes present, in label order."""
        return list(self.pixels())

    def areas(self) -> dict[str, float]:
        """Share of the frame's pixels per class present (they sum to 1)."""
        total = self.labels.size
        return {k: v / total for k, v in self.pixels().items()}

    def regions(self, min_area: int = 1) -> dict[str, list[Region]]:
        """Connected regions per class present (OpenCV's connected components), largest first."""
        out: dict[str, list[Region]] = {}
        for i in np.unique(self.labels):
            if i >= len(self.class_names):
                continue
            n, _, stats, _ = cv2.connectedComponentsWithStats((self.labels == i).astype(np.uint8), connectivity=8)
            regs = [Region(int(s[cv2.CC_STAT_AREA]), (int(s[0]), int(s[1]), int(s[2]), int(s[3]))) for s in stats[1:n]
                    if s[cv2.CC_STAT_AREA] >= min_area]
            out[self.class_names[int(i)]] = sorted(regs, key=lambda r: -r.area)
        return out

    def overlay(self, alpha: float = 0.5, legend: bool = False) -> np.ndarray:
        """The frame with the class colours blended in (needs ``frame``: ``seg.predict(..., frames=True)``)."""
        from seg.infer.overlay import blend, draw_legend

        if self.frame is None:
            raise ValueError("this result holds no frame: ask seg.predict(..., frames=True)")
        pal = np.array(self.palette, np.uint8)[:, ::-1].copy()
        out = blend(self.frame, self.labels, pal, alpha)
        return draw_legend(out, self.labels, self.class_names, pal) if legend else out

    def to_dict(self, regions: bool = False) -> dict[str, Any]:
        """The JSON record (docs/results.md): per class present its pixel fraction and, with
        ``regions``, how many connected regions and the largest one's area and bounding box."""
        total = self.labels.size
        classes: dict[str, Any] = {name: {"fraction": round(n / total, 6), "pixels": n} for name, n in self.pixels().items()}
        if regions:
            for name, regs in self.regions().items():
                if name in classes:
                    classes[name]["regions"] = len(regs)
                    if regs:
                        classes[name]["largest"] = {"area": regs[0].area, "bbox": list(regs[0].bbox)}
        w, h = self.size
        return {"schema": SCHEMA, "source": self.source, "frame": self.index, "name": self.name,
                **({"path": self.path} if self.path else {}), "time": self.time, "width": w, "height": h,
                "model": self.model, "classes": classes}


class JsonLines:
    """``seg run --save-json``: one record per frame, written and flushed as it is done, so that
    ``tail -f`` or a pipe sees it live. A reader that goes away (``| head -3``) stops the run
    cleanly: :class:`ConsumerGone` is raised, and the run finalises its outputs."""

    def __init__(self, stream: IO[str], regions: bool = False):
        self.stream, self.regions = stream, regions

    def __call__(self, result: Result) -> None:
        try:
            self.stream.write(json.dumps(result.to_dict(self.regions), separators=(",", ":")) + "\n")
            self.stream.flush()
        except BrokenPipeError:
            raise ConsumerGone() from None


class ConsumerGone(Exception):
    """Whoever read the results stopped reading: the run stops as if the source had ended."""
