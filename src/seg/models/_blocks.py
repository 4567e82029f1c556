"""Small building blocks shared by the architectures."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ConvBNReLU(nn.Sequential):
    """Conv2d -> BatchNorm2d -> ReLU.

    BN sits right after the conv so that ONNX Runtime folds it into the conv weights: one
    fused Conv+ReLU at run time. The conv keeps its bias (redundant before BN, and folded away
    at export) so that parameter counts are exactly the seed's tables plus 2*C per BN.
    """

    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1, padding: int = 1):
        super().__init__(
            nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        )


class SegModel(nn.Module):
    """seg's forward contract, owned in one place (as segmentation_models.pytorch's
    ``SegmentationModel.forward``): ``forward(x: float32[N,3,H,W]) -> logits [N,C,H,W]`` at
    exactly the input's H and W, for any H, W. The input is zero-padded to a multiple of the
    architecture's ``stride`` (its largest downsampling), :meth:`logits` runs the layers of the
    write-up's table on it, and the logits are cropped back. An architecture file defines
    ``stride`` and ``logits`` and nothing else of the contract."""

    stride: int = 1

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """The layers, on an input whose H and W are multiples of ``stride``."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """float32[N,3,H,W] (normalised) -> logits float32[N,num_classes,H,W]."""
        h, w = x.shape[-2], x.shape[-1]
        return self.logits(pad_to_multiple(x, self.stride) if self.stride > 1 else x)[:, :, :h, :w]


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Zero-pad the bottom and right of an NCHW tensor so H and W are multiples of ``multiple``.

    The amounts are computed from the tensor's own (possibly symbolic) shape, so the pad
    survives ONNX export with dynamic H/W instead of being frozen at the export size. Zero is
    the dataset mean after normalisation, the least surprising fill.
    """
    h, w = x.shape[-2], x.shape[-1]
    return F.pad(x, [0, (multiple - w % multiple) % multiple, 0, (multiple - h % multiple) % multiple])
