"""torchvision's segmentation models with PASCAL VOC's 21 classes, as seg models.

torchvision publishes ``COCO_WITH_VOC_LABELS_V1`` weights (COCO train2017 images, VOC's 21
categories) for four builders; wrapped here to seg's contract (``forward(x) -> logits
[N,21,H,W]`` at the input's exact size), they export, quantise, run, bench, evaluate and
fine-tune like the seed models. Unlike the seed's four, they are torchvision's architectures:
this one file adapts all four rather than restating layer tables torchvision owns.

Everything a model needs to be reproduced at inference comes from torchvision's own weight
metadata: the published metrics, and the preset's resize and normalisation
(``weights.transforms()``), which the export writes into the ONNX metadata
(``seg.preprocess``) so that the runtime resizes as torchvision's preset does.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
import torchvision
from torch import nn
from torchvision.models import segmentation as tvseg

from seg.errors import SegError
from seg.models._blocks import SegModel
from seg.models._registry import register_model
from seg.metadata import file_source
from seg.models._weights import fetch_published, load_matching, read_state_dict

WEIGHTS_TAG = "coco-voc"  # --weights coco-voc: torchvision's COCO_WITH_VOC_LABELS_V1


@dataclass(frozen=True)
class Pretrained:
    """One torchvision builder and its VOC-label weights enum."""

    builder: Callable[..., nn.Module]
    weights: Any  # a torchvision WeightsEnum class

    @property
    def coco_voc(self) -> Any:
        return self.weights.COCO_WITH_VOC_LABELS_V1


PRETRAINED: dict[str, Pretrained] = {
    "lraspp_mobilenet_v3_large": Pretrained(tvseg.lraspp_mobilenet_v3_large, tvseg.LRASPP_MobileNet_V3_Large_Weights),
    "deeplabv3_mobilenet_v3_large": Pretrained(tvseg.deeplabv3_mobilenet_v3_large,
                                               tvseg.DeepLabV3_MobileNet_V3_Large_Weights),
    "fcn_resnet50": Pretrained(tvseg.fcn_resnet50, tvseg.FCN_ResNet50_Weights),
    "deeplabv3_resnet50": Pretrained(tvseg.deeplabv3_resnet50, tvseg.DeepLabV3_ResNet50_Weights),
}


def published(name: str) -> dict[str, Any]:
    """What torchvision publishes for ``name``'s VOC-label weights: file, URL, metrics and the
    preset's preprocessing, read from the weights' own metadata (not retyped here)."""
    w = PRETRAINED[name].coco_voc
    t = w.transforms()
    (dataset, metrics), = w.meta["_metrics"].items()
    return {
        "source": f"torchvision {torchvision.__version__}: {w.__class__.__name__}.{w.name}",
        "weights": w.name, "url": w.url, "file": Path(w.url).name, "dataset": dataset,
        "metrics": {"miou": metrics["miou"] / 100, "pixel_acc": metrics["pixel_acc"] / 100},
        "preprocess": preprocess(name),
        "categories": list(w.meta["categories"]),
        "params": w.meta["num_params"], "gflops_520": w.meta["_ops"], "mb": w.meta["_file_size"],
        "mean": list(t.mean), "std": list(t.std),
    }


def preprocess(name: str) -> dict[str, Any]:
    """The preset's resize as seg's metadata records it: torchvision resizes the *shorter* side
    to ``size`` (aspect kept, no rounding), bilinear with antialiasing."""
    t = PRETRAINED[name].coco_voc.transforms()
    (size,) = t.resize_size  # one int: torchvision's "shorter side" form
    return {"resize": "shorter", "size": int(size), "interpolation": t.interpolation.value,
            "antialias": bool(t.antialias)}


def require_pretrained(name: str, hint: str = "") -> None:
    """``--weights`` is for these models only: one line naming them otherwise."""
    if name not in PRETRAINED:
        raise SegError(f"--weights is for torchvision's pretrained models ({', '.join(PRETRAINED)}), not {name}{hint}")


def _local_file(weights: str | os.PathLike) -> Path:
    path = Path(weights)
    if not path.is_file():
        raise SegError(f"weights {str(weights)!r} are neither '{WEIGHTS_TAG}', 'none' nor an existing file")
    return path


def export_meta(name: str, weights: str | os.PathLike) -> dict[str, Any]:
    """The ONNX metadata of an export from ``weights`` (not a checkpoint): torchvision's preset
    (normalisation and resize, so the runtime reproduces it) and where the weights came from,
    with torchvision's published metrics for its own weights."""
    require_pretrained(name, "; use --checkpoint or --random-init")
    pub = published(name)
    meta: dict[str, Any] = {"mean": pub["mean"], "std": pub["std"], "preprocess": pub["preprocess"]}
    if str(weights) == WEIGHTS_TAG:
        meta["weights"] = "pretrained"
        meta["pretrained"] = {k: pub[k] for k in ("source", "weights", "url", "dataset", "metrics")}
    elif str(weights) == "none":
        meta["weights"] = "random-init"
    else:
        meta["weights"] = "file"
        meta["pretrained"] = file_source("file", _local_file(weights))  # also the export's seg.source
    return meta


class TorchvisionSeg(SegModel):
    """A torchvision segmentation model with seg's forward contract: the ``"out"`` logits.

    torchvision's models already upsample their logits to the input's size (bilinear), for any
    H, W, so nothing is padded (stride 1); the auxiliary head, used only by torchvision's
    training recipe, is not built.
    """

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)["out"]


def _state(name: str, weights: str | os.PathLike) -> dict[str, Any]:
    """The published or local state dict, in torchvision's names, without the auxiliary head
    (torchvision trained with it; seg does not build it). A state dict saved from seg's wrapper
    has "net." before torchvision's names."""
    spec = PRETRAINED[name]
    if str(weights) == WEIGHTS_TAG:
        state = fetch_published(spec.coco_voc, f"torchvision's {name} {spec.coco_voc.name} weights", "--weights")
    else:
        state = read_state_dict(_local_file(weights), "weights")
    return {k.removeprefix("net."): v for k, v in state.items() if not k.startswith(("aux_classifier.", "net.aux_classifier."))}


def classes_in(name: str, weights: str | os.PathLike) -> int:
    """How many classes ``weights`` predict: 21 for the published ones, else the output channels
    of the local state dict's final classifier (the last ``classifier`` tensor)."""
    if str(weights) in (WEIGHTS_TAG, "none"):
        return len(PRETRAINED[name].coco_voc.meta["categories"])
    state = _state(name, weights)
    last = [k for k in state if k.startswith("classifier.") and k.endswith(".weight")]
    if not last:
        raise SegError(f"weights {weights} have no classifier for {name} (no classifier.*.weight)")
    return int(state[last[-1]].shape[0])


def build(name: str, num_classes: int = 21, weights: str | os.PathLike = "none") -> TorchvisionSeg:
    """``name``'s torchvision model wrapped for seg; ``weights``: ``"none"`` (random init,
    no ImageNet backbone either: nothing is fetched), ``"coco-voc"`` or a local ``.pth``.

    Fine-tuning to other classes: where ``weights`` predict another number of classes than
    ``num_classes``, every tensor is loaded but the final classifier layers (those whose only
    difference is the class count), which start fresh; ``model.notes`` names them."""
    spec = PRETRAINED[name]
    model = TorchvisionSeg(spec.builder(weights=None, weights_backbone=None, num_classes=num_classes, aux_loss=False))
    model.notes = []
    if str(weights) == "none":
        return model
    state = _state(name, weights)
    own = model.net.state_dict()
    fresh = sorted(k for k, v in state.items() if k in own and v.shape != own[k].shape and v.ndim >= 1
                   and own[k].shape[0] == num_classes and v.shape[1:] == own[k].shape[1:])
    if fresh:
        layers = sorted({k.rsplit(".", 1)[0] for k in fresh})
        state = {k: (own[k] if k in fresh else v) for k, v in state.items()}
        model.notes.append(f"fine-tuning {name} from {weights}: new classifier layers for {num_classes} classes: "
                           f"{', '.join(layers)}; every other tensor kept")
    load_matching(model.net, state, f"weights {weights}", name)
    return model


def _register(name: str) -> None:
    spec = PRETRAINED[name]
    doc = spec.builder.__doc__ or ""

    def builder(*, num_classes: int = 21, weights: str | os.PathLike = "none") -> TorchvisionSeg:
        return build(name, num_classes, weights)

    m = published(name)["metrics"]
    builder.__doc__ = (f"torchvision's {name}, VOC classes (coco-voc weights: {m['miou']:.1%} mIoU on COCO val). "
                       f"{doc.strip().splitlines()[0] if doc.strip() else ''}")
    builder.__name__ = name
    register_model(name)(builder)


for _name in PRETRAINED:
    _register(_name)
