"""Score a deployed .onnx model on a VOC-format split with ``seg.metrics`` (torch-free).

Each image goes through the model at its own size with the runtime contract's preprocessing,
exactly as ``seg eval`` scores a checkpoint, so the two give the same numbers (to float rounding).
"""

from __future__ import annotations

import os
from typing import Any, Callable

from seg.infer.preprocess import labels_of, model_input, own_size_inputs, takes_size
from seg.infer.session import create_session
from seg.classes import check_same_classes
from seg.metadata import check, from_props
from seg.metrics import ConfusionMatrix, Metrics


def evaluate_onnx(path: str | os.PathLike, dataset, provider: str = "auto", threads: int | None = None,
                  on_image: Callable[[int], None] | None = None) -> tuple[Metrics, dict[str, Any], str]:
    """(metrics, the model's metadata, the provider that ran it) over every image of ``dataset``."""
    shapes = None
    if provider != "cpu":  # TensorRT's profile by the one rule: every photo at the size the model is fed it
        from seg.images import shown_size
        from seg.infer.providers import ShapeRange
        from seg.metadata import read_meta

        frames = [s for s in map(shown_size, getattr(dataset, "images", [])) if s]
        shapes = ShapeRange.for_frames(read_meta(path), frames, own_size=True) if frames else None
    sess, used = create_session(path, provider, threads, spinning=False, shapes=shapes)
    meta = check(from_props(sess.get_modelmeta().custom_metadata_map, str(path)), str(path))
    name = sess.get_inputs()[0].name
    sized = takes_size(sess)  # a graph's own size input
    if getattr(dataset, "classes", None) is not None:
        check_same_classes(dataset.classes, meta["class_names"], str(path))
    cm = ConfusionMatrix(meta["num_classes"])
    for i in range(len(dataset)):
        image, mask = dataset.load(i)
        x = model_input(image, meta)
        cm.update(labels_of(sess.run(None, {name: x, **(own_size_inputs(meta, x) if sized else {})})[0], meta,
                            mask.shape)[0], mask)
        if on_image is not None:
            on_image(i + 1)
    return cm.compute(), meta, used
