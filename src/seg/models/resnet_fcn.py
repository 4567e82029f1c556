"""ResNet-50 transfer-learning FCN: the seed write-up's "Res-Net Transfer Learning FCN" table.

| Layer      | In   | Out  | Kernel | Stride | Padding | Activation |
| backbone   | torchvision ResNet-50 without avgpool/fc (He et al., CVPR 2016), stride 32 |
| conv1      | 2048 | 1024 | 1 | - | - | ReLU |
| conv2      | 1024 | 512  | 1 | - | - | ReLU |
| deconv1    | 512  | 256  | 3 | 2 | 1 | ReLU |
| deconv2    | 256  | 128  | 3 | 2 | 1 | ReLU |
| deconv3    | 128  | 64   | 3 | 2 | 1 | ReLU |
| bn1        | BatchNorm2d(64) |
| deconv4    | 64   | 64   | 3 | 2 | 1 | ReLU |
| bn2        | BatchNorm2d(64) |
| classifier | 64   | 21   | 1 | - | - | - |

The transposed convs use output_padding=1 so each exactly doubles H and W; four of them take
the stride-32 features to stride 2, and a final bilinear 2x upsampling reaches the input size.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from seg.errors import SegError
from seg.models._blocks import SegModel
from seg.models._registry import register_model
from seg.models._weights import fetch_published, load_matching, read_state_dict

STRIDE = 32


def _deconv(cin: int, cout: int) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=1, output_padding=1)


def load_backbone_weights(backbone: nn.Module, weights: str | os.PathLike) -> None:
    """Fill a torchvision ResNet-50 (fc removed) from ``"imagenet"`` or a local ``.pth``.

    ``imagenet`` is torchvision's ``ResNet50_Weights.IMAGENET1K_V2``, fetched through torch's
    hub cache (``$TORCH_HOME``) when not cached yet. A local file may be that download itself
    or any ResNet-50 state dict; its ``fc.*`` entries are ignored.
    """
    if str(weights) == "imagenet":
        state = fetch_published(torchvision.models.ResNet50_Weights.IMAGENET1K_V2, "the ImageNet ResNet-50 weights",
                                "--backbone-weights")
    else:
        path = Path(weights)
        if not path.is_file():
            raise SegError(
                f"backbone weights {str(weights)!r} are neither 'imagenet', 'none' nor an existing file"
            )
        state = read_state_dict(path, "backbone weights")
    state = {k.removeprefix("backbone."): v for k, v in state.items() if not k.startswith("fc.")}
    load_matching(backbone, state, f"backbone weights {weights}", "ResNet-50")


class ResNetFCN(SegModel):
    """ResNet-50 features (stride 32) followed by the write-up's 1x1 + transposed-conv decoder."""

    stride = STRIDE  # inputs are padded to a multiple of it (SegModel.forward)

    def __init__(self, num_classes: int = 21, freeze_backbone: bool = False):
        super().__init__()
        backbone = torchvision.models.resnet50(weights=None)
        del backbone.fc, backbone.avgpool  # a dense head replaces the classifier
        self.backbone = backbone
        self.freeze_backbone = freeze_backbone
        if freeze_backbone:
            self.backbone.requires_grad_(False)
        self.conv1 = nn.Conv2d(2048, 1024, 1)
        self.conv2 = nn.Conv2d(1024, 512, 1)
        self.deconv1 = _deconv(512, 256)
        self.deconv2 = _deconv(256, 128)
        self.deconv3 = _deconv(128, 64)
        self.bn1 = nn.BatchNorm2d(64)
        self.deconv4 = _deconv(64, 64)
        self.bn2 = nn.BatchNorm2d(64)
        self.classifier = nn.Conv2d(64, num_classes, 1)

    def train(self, mode: bool = True) -> "ResNetFCN":
        """Keep a frozen backbone's batch-norm statistics fixed, as well as its weights."""
        super().train(mode)
        if self.freeze_backbone:
            self.backbone.eval()
        return self

    def features(self, x: torch.Tensor) -> torch.Tensor:
        b = self.backbone
        x = b.maxpool(b.relu(b.bn1(b.conv1(x))))
        return b.layer4(b.layer3(b.layer2(b.layer1(x))))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.conv2(F.relu(self.conv1(self.features(x)))))
        y = F.relu(self.deconv2(F.relu(self.deconv1(y))))
        y = self.bn1(F.relu(self.deconv3(y)))
        y = self.bn2(F.relu(self.deconv4(y)))
        return F.interpolate(self.classifier(y), scale_factor=2.0, mode="bilinear", align_corners=False)


@register_model("resnet_fcn")
def resnet_fcn(
    *,
    num_classes: int = 21,
    backbone_weights: str | os.PathLike = "none",
    freeze_backbone: bool = False,
) -> ResNetFCN:
    """The write-up's ResNet-50 transfer-learning FCN.

    ``backbone_weights``: ``"none"`` (random init, the default as in torchvision's builders),
    ``"imagenet"`` (``ResNet50_Weights.IMAGENET1K_V2``) or a path to a local ``.pth``.
    ``freeze_backbone``: train only the decoder, as the write-up did.
    """
    model = ResNetFCN(num_classes, freeze_backbone=freeze_backbone)
    if str(backbone_weights) != "none":
        load_backbone_weights(model.backbone, backbone_weights)
    return model
