"""``Segmenter``: one exported seg model, from a BGR frame to a label map and an overlay."""

from __future__ import annotations

import os
from typing import Any, Callable, Iterable

import cv2
import numpy as np

from seg.errors import SegError
from seg.infer.preprocess import (graph_inputs, graph_rule, input_size, resize_for_model, scale_shift, size_rule,
                                  takes_size)
from seg.infer.session import Attempt, ShapeRange, create_session, has_nvidia_gpu
from seg.infer.providers import passed_over
from seg.metadata import MAX_SIZE, MIN_SIZE, from_props, is_e2e, not_seg_model, read_meta, require_seg_model
from seg.layout import DEFAULT_TRT_CACHE


def _check_seg_model(sess, path: str) -> dict[str, Any]:
    inputs, outputs = sess.get_inputs(), sess.get_outputs()
    meta = from_props(sess.get_modelmeta().custom_metadata_map, path)
    out_rank, out_what = (3, "labels [N,H,W]") if is_e2e(meta) else (4, "logits [N,C,H,W]")
    if len(inputs) != 1 or len(inputs[0].shape) != 4:
        raise not_seg_model(path, f"it needs one 4-D image input, it has {len(inputs)} input(s) of rank "
                                  f"{[len(i.shape) for i in inputs]}")
    if len(outputs) < 1 or len(outputs[0].shape) != out_rank:
        raise not_seg_model(path, f"its first output should be {out_rank}-D {out_what}, it has rank "
                                  f"{len(outputs[0].shape) if outputs else 0}")
    require_seg_model(meta, path)
    channels = outputs[0].shape[1] if out_rank == 4 else None
    if isinstance(channels, int) and channels != meta["num_classes"]:
        raise SegError(f"{path}: the model outputs {channels} classes but its metadata names {meta['num_classes']}")
    return meta


def _profile(meta: dict[str, Any], imgsz: int | None,
             frame_sizes: Callable[[], Iterable[tuple[int, int]]] | None) -> ShapeRange:
    """TensorRT's shape profile (:meth:`ShapeRange.for_frames`, the one rule): up to the largest input
    the model will be fed for the frames expected, tuned for the first. Frames unknown: a fixed size
    covers any aspect (a square of that side); the frame's own size (``imgsz`` 0) gets the largest
    allowed, a shorter-side preset a 16:9 frame."""
    rule, in_graph = size_rule(meta, imgsz), graph_rule(meta) is not None
    if rule.resize == "longer" and rule.size > 0 and not in_graph:
        return ShapeRange.for_imgsz(rule.size)  # no need to read a folder's headers: a square of the side covers any aspect
    # frames of the expected sizes: a graph that sizes them itself takes them as they come
    frames = list(frame_sizes() if frame_sizes else []) or [
        (1080, 1920) if rule.resize == "shorter" or in_graph else (MAX_SIZE, MAX_SIZE)]
    return ShapeRange.for_frames(meta, frames, imgsz)


BUCKET = 64  # GPU runs over photos of many sizes: input sides snapped to multiples of this (<= 32 px off)


def _snap(v: int, b: int) -> int:
    """``v`` to the nearest multiple of ``b`` not past ``v`` rounded up to 32 (ties and overshoots
    go down); a side with no such multiple above 0 keeps its size."""
    lo, cap = v // b * b, -(-v // 32) * 32
    hi = lo + b
    if hi <= cap and (hi - v < v - lo or lo == 0):
        return hi
    return lo or v


class Segmenter:
    """Run an exported seg model on BGR frames (as OpenCV gives them).

    ``predict(frame) -> labels uint8 [H,W]`` at the frame's own size; ``overlay(frame, labels)``
    blends the class palette over the frame. Classes, palette, normalisation and the default
    input size (``imgsz``: longer side, else ``seg.imgsz``, else 512) come from the model's
    metadata, so the .onnx file is all it needs.
    """

    def __init__(self, model_path: str | os.PathLike, provider: str = "auto", imgsz: int | None = None,
                 threads: int | None = None, fp16: bool = False, cache_dir: str | os.PathLike = DEFAULT_TRT_CACHE,
                 opt_level: str = "all", save_optimized: bool = False,
                 frame_sizes: Callable[[], Iterable[tuple[int, int]]] | None = None, varying_sizes: bool = False,
                 spinning: bool = True, bucket: int | None = None):
        """``frame_sizes``: gives the (H, W) of the frames expected (``Source.frame_sizes``); called
        on a GPU only, where the model's input depends on the frame (``imgsz`` 0, or a preset of
        shorter side S, whose long side grows with the aspect) and TensorRT's shape profile must
        cover the largest one. ``varying_sizes``: frames of many sizes (a folder of photos), so
        cuDNN picks algorithms by heuristic instead of benchmarking every new shape. ``spinning``:
        ONNX Runtime's idle threads busy-wait between calls (:mod:`seg.infer.plan` measures it).
        ``bucket``: model input sides snapped to multiples of it (default: ``BUCKET`` on a GPU for
        frames of varying sizes, else none), so a folder of photos of many sizes meets a few input
        shapes: CUDA and TensorRT plan (and cuDNN searches) per shape, ~0.4 s each on an H200."""
        if imgsz is not None and imgsz != 0 and not MIN_SIZE <= imgsz <= MAX_SIZE:
            raise SegError(f"input size {imgsz} is out of range: 0 (the frame's own size) or {MIN_SIZE}..{MAX_SIZE}")
        self.path = str(model_path)
        self.attempts: list[Attempt] = []
        gpu = provider in ("tensorrt", "cuda") or (provider == "auto" and has_nvidia_gpu())
        meta = read_meta(model_path) if gpu else {}  # only GPUs need it before the session: TensorRT's profile
        shapes = _profile(meta, imgsz, frame_sizes) if gpu else None
        self.session, self.provider = create_session(
            model_path, provider, threads, fp16 or meta.get("precision") == "fp16", cache_dir, spinning=spinning,
            opt_level=opt_level,
            save_optimized=save_optimized, shapes=shapes,
            conv_search="HEURISTIC" if varying_sizes else "EXHAUSTIVE", attempts=self.attempts)
        self.meta = _check_seg_model(self.session, self.path)
        gpu_run = self.provider in ("tensorrt", "cuda")
        self.bucket = (BUCKET if gpu_run and varying_sizes else 0) if bucket is None else bucket
        # an e2e graph that sizes frames itself: the host feeds frames as they come (and --imgsz
        # as the graph's size input, where its rule takes one)
        self.graph_rule = graph_rule(self.meta, imgsz)
        if self.graph_rule and imgsz is not None and not self.graph_rule.sizes_like(size_rule(self.meta, imgsz)):
            raise SegError(f"{self.path} sizes frames itself ({self.graph_rule.describe()}): it cannot be run at "
                           f"--imgsz {imgsz}; leave --imgsz out, or run the plain model with it")
        self._extra = graph_inputs(self.meta, imgsz)
        if self._extra and not takes_size(self.session):
            raise SegError(f"{self.path} sizes frames itself ({graph_rule(self.meta).describe()}) and takes no other size: "
                           f"leave --imgsz out, or run the plain model with it")
        self.input_name = self.session.get_inputs()[0].name
        self.output_name = self.session.get_outputs()[0].name
        # The training images' size (seg.imgsz) unless asked otherwise: a model trained on
        # 160-px images sees objects at the wrong scale when fed 512 px. Pretrained torchvision
        # models record their preset instead (seg.preprocess: shorter side 520, antialiased).
        self.imgsz = imgsz
        self.class_names: list[str] = self.meta["class_names"]
        # The normalisation as one multiply-add on 0..255 values, in BGR order to skip a copy.
        scale, shift = scale_shift(self.meta["mean"], self.meta["std"])
        self._scale, self._shift = scale[::-1].copy(), shift[::-1].copy()
        self.palette_bgr = np.array(self.meta["palette"], np.uint8)[:, ::-1].copy()
        # An end-to-end graph (`seg export --e2e`) takes the BGR frame and returns labels: the
        # host only resizes.
        self.e2e = is_e2e(self.meta)
        self.precision = self.meta.get("precision", "fp32")
        # Where the graph does not fix its class count (e2e labels, a dynamic channel dim), a label
        # beyond the palette must be caught here rather than as an IndexError in the overlay.
        channels = self.session.get_outputs()[0].shape[1] if not self.e2e else None
        self._check_labels = not isinstance(channels, int)

    def provider_verdict(self) -> str:
        """The provider used, and why the ones before it in ``auto``'s order were not, where that
        is news (a machine with no NVIDIA driver, or a CPU-only onnxruntime, needs no explanation)."""
        skipped = passed_over(self.attempts)
        return self.provider + (f" ({'; '.join(skipped)})" if skipped else "")

    def input_size(self, h: int, w: int) -> tuple[int, int]:
        """(H, W) fed to the model for an H x W frame (see :func:`seg.infer.preprocess.input_size`),
        each side snapped to the nearest multiple of ``bucket`` where there is one (ties down, so
        never past the side rounded up to 32: TensorRT's profile still covers it)."""
        size = input_size(h, w, self.meta, self.imgsz)
        if not self.bucket or self.graph_rule:  # such a graph sizes frames itself
            return size
        return tuple(_snap(v, self.bucket) for v in size)

    def size_rule(self) -> str:
        """How frames are sized for the model, in words (for the run's header line)."""
        if self.graph_rule:
            return f"{self.graph_rule.describe()}, in the graph"
        return size_rule(self.meta, self.imgsz).describe()

    def preprocess(self, frame_bgr: np.ndarray) -> np.ndarray:
        """BGR uint8 [H,W,3] -> normalised RGB float32 [1,3,h,w] at the model size (for an
        end-to-end model: the BGR uint8 frame [1,h,w,3], resized unless the graph does it)."""
        img = resize_for_model(frame_bgr, self.input_size(*frame_bgr.shape[:2]), self.meta)
        if self.e2e:
            return np.ascontiguousarray(img)[None]
        x = img.astype(np.float32) * self._scale + self._shift  # still BGR, channel-last
        return np.ascontiguousarray(x[..., ::-1].transpose(2, 0, 1))[None]

    def infer(self, x: np.ndarray) -> np.ndarray:
        """The model's output for a preprocessed batch: logits, or labels for an e2e model."""
        # Plain run(): on a GPU the frame goes over once and the output comes back once, which
        # IO binding with host buffers did too; the e2e graph keeps both transfers small (uint8).
        try:
            return self.session.run([self.output_name], {self.input_name: x, **self._extra})[0]
        except Exception as e:  # ORT raises its own types; out of memory is the usual one at large sizes
            shape = "x".join(map(str, x.shape))
            msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            hint = "; try a smaller --imgsz" if any(w in msg.lower() for w in ("alloc", "memory")) else ""
            raise SegError(f"ONNX Runtime failed on a {shape} input to {self.path}: {msg}{hint}") from None

    def postprocess(self, logits: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """Argmax at the model size (done in the graph by e2e models), then nearest-neighbour
        back to the frame size (H, W): resizing labels instead of 21 logit planes costs 1/21."""
        labels = logits[0] if self.e2e else logits[0].argmax(0).astype(np.uint8)
        if self._check_labels and labels.size and labels.max() >= len(self.palette_bgr):
            raise SegError(f"{self.path} predicted class {int(labels.max())}, beyond the "
                           f"{len(self.palette_bgr)} classes of its metadata")
        if labels.shape != tuple(size):
            labels = cv2.resize(labels, (size[1], size[0]), interpolation=cv2.INTER_NEAREST)
        return labels

    def predict(self, frame_bgr: np.ndarray) -> np.ndarray:
        """Label map uint8 [H,W] for one BGR frame."""
        return self.postprocess(self.infer(self.preprocess(frame_bgr)), frame_bgr.shape[:2])

    def overlay(self, frame_bgr: np.ndarray, labels: np.ndarray, alpha: float = 0.5, legend: bool = False) -> np.ndarray:
        """The frame with class colours blended in (background left as it is)."""
        from seg.infer.overlay import blend, draw_legend

        out = blend(frame_bgr, labels, self.palette_bgr, alpha)
        return draw_legend(out, labels, self.class_names, self.palette_bgr) if legend else out
