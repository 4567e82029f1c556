"""A synthetic dataset in the PASCAL VOC layout: the embedded default that needs no download.

Each of the 20 VOC classes gets its own look: a hue (20 evenly spaced), a shape (10 kinds) and a
texture (4 kinds), chosen so that no two classes share all three. Images show 1-4 objects on a
textured, low-saturation background; later objects occlude earlier ones; a void (255) band is
drawn along every label border as in VOC; images are saved as JPEG at a random quality so the
model meets compression artefacts. Everything is a pure function of (seed, split, index), so the
same command writes byte-identical files.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
from rich.progress import Progress

from seg._io import atomic_path, writable_dir
from seg.classes import IGNORE_INDEX, VOC_CLASSES
from seg.data.voc import write_mask
from seg.errors import SegError

SHAPES = ("circle", "square", "triangle", "diamond", "star", "cross", "hexagon", "ellipse", "ring", "arrow")
TEXTURES = ("solid", "stripes", "checker", "dots")
INFO_FILE = "synth.json"
GENERATOR_VERSION = 1  # bump when the drawing changes, so old folders are not taken as current


def class_style(c: int) -> tuple[float, str, str]:
    """(hue in OpenCV degrees 0..180, shape, texture) of class ``c`` in 1..20."""
    return (c - 1) * 9.0, SHAPES[(c - 1) % len(SHAPES)], TEXTURES[(c - 1) % len(TEXTURES)]


@dataclass(frozen=True)
class SynthConfig:
    """What ``seg data synth`` generates; saved as ``synth.json`` next to the data."""

    train: int = 400  # enough for the small models to generalise in a few CPU minutes
    val: int = 100
    size: int = 160  # image width in pixels; heights vary in 0.75..1 of it, as VOC's do
    seed: int = 0


def _polygon(shape: str, cx: float, cy: float, r: float, angle: float, aspect: float) -> list[np.ndarray]:
    """Outline(s) of a shape of radius ``r`` as int32 point arrays (a ring is drawn separately)."""

    def ring(n: int, radii: list[float], phase: float = 0.0) -> np.ndarray:
        t = phase + np.arange(n * len(radii)) * 2 * np.pi / (n * len(radii))
        rr = np.resize(np.asarray(radii), t.shape)
        return np.stack([rr * np.cos(t), rr * np.sin(t) * aspect], 1)

    if shape in ("circle", "ring"):
        pts = ring(48, [r])
    elif shape == "ellipse":
        pts = ring(48, [r]) * np.array([1.0, 0.5])
    elif shape == "square":
        pts = ring(4, [r], np.pi / 4)
    elif shape == "triangle":
        pts = ring(3, [r], -np.pi / 2)
    elif shape == "diamond":
        pts = ring(4, [r]) * np.array([0.6, 1.0])
    elif shape == "star":
        pts = ring(5, [r, 0.45 * r], -np.pi / 2)
    elif shape == "hexagon":
        pts = ring(6, [r])
    elif shape == "cross":
        a, b = r, 0.33 * r
        pts = np.array([(-b, -a), (b, -a), (b, -b), (a, -b), (a, b), (b, b), (b, a), (-b, a), (-b, b), (-a, b), (-a, -b), (-b, -b)])
    else:  # arrow
        pts = np.array([(-r, -0.25 * r), (0.2 * r, -0.25 * r), (0.2 * r, -0.6 * r), (r, 0), (0.2 * r, 0.6 * r), (0.2 * r, 0.25 * r), (-r, 0.25 * r)])
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    pts = pts @ rot.T + np.array([cx, cy])
    return [np.round(pts * 16).astype(np.int32)]  # 4 fractional bits: smooth outlines


def _shape_mask(shape: str, h: int, w: int, cx: float, cy: float, r: float, angle: float, aspect: float) -> np.ndarray:
    m = np.zeros((h, w), np.uint8)
    cv2.fillPoly(m, _polygon(shape, cx, cy, r, angle, aspect), 1, lineType=cv2.LINE_8, shift=4)
    if shape == "ring":
        cv2.fillPoly(m, _polygon("circle", cx, cy, 0.55 * r, 0, aspect), 0, lineType=cv2.LINE_8, shift=4)
    return m.astype(bool)


def _texture(kind: str, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A float32 [H,W] brightness multiplier in ~0.55..1.1 showing the class's texture."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    period = rng.uniform(5, 9)
    theta = rng.uniform(0, np.pi)
    if kind == "stripes":
        t = ((xx * np.cos(theta) + yy * np.sin(theta)) // (period / 2)) % 2
    elif kind == "checker":
        t = ((xx // period + yy // period) % 2).astype(np.float32)
    elif kind == "dots":
        d = np.hypot((xx % period) - period / 2, (yy % period) - period / 2)
        t = (d > period / 4).astype(np.float32)
    else:
        t = np.ones((h, w), np.float32)
    return 0.6 + 0.45 * t + rng.normal(0, 0.04, (h, w)).astype(np.float32)


def _background(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """Low-saturation clutter: smooth colour noise, a gradient and some grey lines (RGB uint8)."""
    low = rng.uniform(40, 200, (rng.integers(2, 6), rng.integers(2, 6), 1)).astype(np.float32)
    tint = rng.uniform(-20, 20, (1, 1, 3)).astype(np.float32)
    base = cv2.resize(low, (w, h), interpolation=cv2.INTER_CUBIC)[..., None] + tint
    fine = cv2.GaussianBlur(rng.normal(0, 25, (h, w)).astype(np.float32), (0, 0), rng.uniform(0.8, 3))
    img = base + fine[..., None]
    for _ in range(rng.integers(0, 6)):
        p1 = tuple(int(v) for v in rng.integers(0, [w, h]))
        p2 = tuple(int(v) for v in rng.integers(0, [w, h]))
        g = float(rng.uniform(30, 220))
        cv2.line(img, p1, p2, (g, g, g), int(rng.integers(1, 4)))
    return np.clip(img, 0, 255).astype(np.uint8)


def _colour(hue: float, rng: np.random.Generator) -> np.ndarray:
    """One RGB colour near ``hue`` with high saturation (backgrounds stay below ~25%)."""
    hsv = np.array([[[(hue + rng.uniform(-2.5, 2.5)) % 180, rng.uniform(170, 255), rng.uniform(150, 255)]]], np.float32)
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)


def void_band(labels: np.ndarray, width: int) -> np.ndarray:
    """Mark with 255 every pixel within ``width//2`` of a change of label, as VOC does."""
    k = np.ones((width, width), np.uint8)
    edge = cv2.dilate(labels, k) != cv2.erode(labels, k)
    out = labels.copy()
    out[edge] = IGNORE_INDEX
    return out


@dataclass
class Sprite:
    """One object: its class, shape parameters and (for video) velocity."""

    cls: int
    cx: float
    cy: float
    r: float
    angle: float
    aspect: float
    colour: np.ndarray
    texture: np.ndarray
    vx: float = 0.0
    vy: float = 0.0
    spin: float = 0.0


def random_sprite(h: int, w: int, rng: np.random.Generator) -> Sprite:
    cls = int(rng.integers(1, len(VOC_CLASSES)))
    hue, _, tex = class_style(cls)
    r = float(rng.uniform(0.12, 0.32) * min(h, w))
    return Sprite(
        cls, float(rng.uniform(0.1, 0.9) * w), float(rng.uniform(0.1, 0.9) * h), r,
        float(rng.uniform(0, 2 * np.pi)), float(rng.uniform(0.75, 1.25)), _colour(hue, rng), _texture(tex, h, w, rng),
        float(rng.normal(0, 0.012) * w), float(rng.normal(0, 0.012) * h), float(rng.normal(0, 0.03)),
    )


def compose(background: np.ndarray, sprites: list[Sprite]) -> tuple[np.ndarray, np.ndarray]:
    """Paint sprites in order (later ones occlude earlier ones): RGB uint8 image, label map."""
    h, w = background.shape[:2]
    img = background.astype(np.float32)
    labels = np.zeros((h, w), np.uint8)
    for s in sprites:
        m = _shape_mask(class_style(s.cls)[1], h, w, s.cx, s.cy, s.r, s.angle, s.aspect)
        img[m] = s.colour * s.texture[m][:, None]
        labels[m] = s.cls
    return np.clip(img, 0, 255).astype(np.uint8), labels


def make_sample(seed: int, split: str, index: int, size: int) -> tuple[np.ndarray, np.ndarray, int]:
    """One (RGB image, mask with void band, JPEG quality) from its seed, split and index alone."""
    rng = np.random.default_rng([seed, {"train": 0, "val": 1}[split], index])
    w = size
    h = int(round(size * rng.uniform(0.75, 1.0)))
    sprites = [random_sprite(h, w, rng) for _ in range(rng.integers(1, 5))]
    img, labels = compose(_background(h, w, rng), sprites)
    img = cv2.GaussianBlur(img, (0, 0), 0.6)  # soften aliased edges as a camera would
    return img, void_band(labels, 3 if size <= 256 else 5), int(rng.integers(70, 96))


def generate(root: str | os.PathLike, config: SynthConfig = SynthConfig(), overwrite: bool = False, progress: bool = True) -> Path:
    """Write the synthetic set to ``root/VOCdevkit/VOC2007``; return that folder.

    The set is built in a temporary sibling folder and renamed into place at the end, so an
    interrupted run leaves nothing half-written. An existing folder from the same config is
    kept as it is (a no-op); a different one needs ``overwrite``; a folder seg did not
    generate (no ``synth.json``) is never replaced.
    """
    if config.train < 1 or config.val < 1:
        raise SegError("--train and --val must be at least 1")
    if config.size < 32:
        raise SegError(f"--size must be at least 32 pixels, got {config.size}")
    devkit = Path(root) / "VOCdevkit"
    writable_dir(devkit)
    final = devkit / "VOC2007"
    info = {"generator": "seg.data.synth", "version": GENERATOR_VERSION, **asdict(config)}
    if final.exists():
        old = final / INFO_FILE
        if not old.is_file():
            raise SegError(f"{final} exists and was not generated by seg; choose another --root")
        if json.loads(old.read_text()) == info:
            return final
        if not overwrite:
            raise SegError(f"{final} holds a synthetic set with other settings; pass --overwrite to replace it")
    tmp = devkit / f".VOC2007.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        for sub in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
            (tmp / sub).mkdir(parents=True)
        ids: dict[str, list[str]] = {"train": [], "val": []}
        with Progress(disable=not progress, transient=True) as bar:
            task = bar.add_task("synthetic VOC", total=config.train + config.val)
            for split, n in (("train", config.train), ("val", config.val)):
                for i in range(n):
                    name = f"{split}_{i:06d}"
                    img, mask, quality = make_sample(config.seed, split, i, config.size)
                    ok, jpg = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
                    (tmp / "JPEGImages" / f"{name}.jpg").write_bytes(jpg.tobytes())
                    write_mask(tmp / "SegmentationClass" / f"{name}.png", mask)
                    ids[split].append(name)
                    bar.advance(task)
        sets = tmp / "ImageSets" / "Segmentation"
        for split, names in (*ids.items(), ("trainval", ids["train"] + ids["val"])):
            (sets / f"{split}.txt").write_text("\n".join(names) + "\n")
        (tmp / INFO_FILE).write_text(json.dumps(info, indent=1))
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def check_video_args(path: str | os.PathLike, frames: int) -> Path:
    """Validate ``--video``/``--frames`` before any work is done."""
    if frames < 1:
        raise SegError("--frames must be at least 1")
    path = Path(path)
    if path.suffix.lower() not in (".mp4", ".avi"):
        raise SegError(f"video path {path} must end in .mp4 or .avi")
    return path


def write_video(path: str | os.PathLike, frames: int = 90, width: int = 320, height: int = 240, fps: float = 15.0,
                seed: int = 0, progress: bool = True) -> Path:
    """Write an mp4 of synthetic objects drifting, turning and bouncing over a fixed background.

    Written to a temporary file beside ``path`` and renamed at the end, so a failure leaves no
    half-written video.
    """
    path = check_video_args(path, frames)
    writable_dir(path.parent)
    rng = np.random.default_rng([seed, 2])
    bg = _background(height, width, rng)
    sprites = [random_sprite(height, width, rng) for _ in range(int(rng.integers(2, 5)))]
    fourcc = cv2.VideoWriter_fourcc(*("mp4v" if path.suffix.lower() == ".mp4" else "MJPG"))
    with atomic_path(path) as tmp:
        writer = cv2.VideoWriter(str(tmp), fourcc, fps, (width, height))
        if not writer.isOpened():
            raise SegError(f"OpenCV cannot write a {path.suffix} video at {tmp}")
        try:
            with Progress(disable=not progress, transient=True) as bar:
                task = bar.add_task("synthetic video", total=frames)
                for _ in range(frames):
                    img, _ = compose(bg, sprites)
                    writer.write(cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
                    for s in sprites:
                        s.cx, s.cy, s.angle = s.cx + s.vx, s.cy + s.vy, s.angle + s.spin
                        if not 0 < s.cx < width:
                            s.vx = -s.vx
                        if not 0 < s.cy < height:
                            s.vy = -s.vy
                    bar.advance(task)
        finally:
            writer.release()
    return path
