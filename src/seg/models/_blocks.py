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


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Zero-pad the bottom and right of an NCHW tensor so H and W are multiples of ``multiple``.

    The amounts are computed from the tensor's own (possibly symbolic) shape, so the pad
    survives ONNX export with dynamic H/W instead of being frozen at the export size. Zero is
    the dataset mean after normalisation, the least surprising fill.
    """
    h, w = x.shape[-2], x.shape[-1]
    return F.pad(x, [0, (multiple - w % multiple) % multiple, 0, (multiple - h % multiple) % multiple])
