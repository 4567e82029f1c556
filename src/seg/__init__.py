"""seg: semantic segmentation from PyTorch training to fast ONNX inference at the edge.

Two layers of install. ``pip install seg-onnx`` is the runtime: the modules in ``RUNTIME_MODULES``
import and run with onnxruntime, onnx, OpenCV, numpy, typer, rich, Pillow, pycocotools and PyYAML alone (a test
imports each with torch made unimportable, and CI runs the runtime tests in a venv without it).
``pip install "seg-onnx[train]"`` adds the training side: ``seg.models``, ``seg.data.transforms``,
``seg.train``, ``seg.export`` (PyTorch -> ONNX) and ``seg.demo``, which import torch. A runtime
module never imports a training one. ``pip install "seg-onnx[ray]"`` adds Ray for ``seg batch``
(``seg.batch`` imports it only when a batch runs).
"""

from importlib.metadata import PackageNotFoundError, version

from seg.errors import SegError

try:
    __version__ = version("seg-onnx")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0+unknown"

RUNTIME_MODULES = (
    "seg", "seg.cli", "seg.cli._common", "seg.cli.data", "seg.cli.training", "seg.cli.export", "seg.cli.run",
    "seg.cli.info", "seg.cli.bench", "seg.errors", "seg._io", "seg.tables", "seg.classes", "seg.metadata", "seg.layout",
    "seg.metrics", "seg.machine", "seg.reporting", "seg.bench", "seg.bench_entries", "seg.doctor",
    "seg.data", "seg.data.voc", "seg.data.dataset", "seg.data.layouts", "seg.data.coco", "seg.data.check",
    "seg.data.folder", "seg.data.synth", "seg.data.download",
    "seg.infer", "seg.infer.session", "seg.infer.providers", "seg.infer.preprocess", "seg.infer.segmenter", "seg.infer.sources",
    "seg.infer.pipeline", "seg.infer.results", "seg.infer.predict", "seg.infer.multi", "seg.infer.overlay",
    "seg.infer.masks", "seg.infer.display", "seg.infer.evaluate",
    "seg.variants", "seg.variants.build", "seg.variants.quantize", "seg.variants.e2e", "seg.variants.subpixel",
    "seg.variants.data", "seg.variants.auto", "seg.roofline", "seg.signals", "seg.text", "seg.images",
    "seg.infer.plan", "seg.bench_streams", "seg.cli.batch", "seg.batch", "seg.triton",
)
# What the training extra adds; none of it may be imported by a runtime module.
TRAINING_PACKAGES = ("torch", "torchvision", "onnxscript", "onnxslim", "matplotlib")



def predict(model, source, **options):  # noqa: ANN001, ANN201  (documented where it lives)
    """Segment ``source`` with ``model`` from Python, one result per frame: see :func:`seg.infer.predict.predict`."""
    from seg.infer.predict import predict as _predict

    return _predict(model, source, **options)


__all__ = ["SegError", "__version__", "RUNTIME_MODULES", "TRAINING_PACKAGES", "predict"]
