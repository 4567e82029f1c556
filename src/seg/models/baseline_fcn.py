"""Baseline FCN of the seed write-up (``../shared/seed/fcn-voc2007-writeup.md``, "Baseline").

The write-up gives no table for it; the layers are those of the seed authors' ``basic_fcn.py``:
five 3x3 stride-2 convs 3->32->64->128->256->512, five 3x3 stride-2 transposed convs
512->512->256->128->64->21 and a 1x1 classifier 21->21, with batch norm after every conv
("we also included batch normalizations after each convolution"). We order each block
Conv->BN->ReLU (the seed had Conv->ReLU->BN) so that ONNX Runtime can fold BN into the conv.
"""

from __future__ import annotations

import torch
from torch import nn

from seg.models._blocks import ConvBNReLU, SegModel
from seg.models._registry import register_model

ENCODER = (3, 32, 64, 128, 256, 512)
STRIDE = 2 ** (len(ENCODER) - 1)  # 32: the input is padded to a multiple of it


class DeconvBNReLU(nn.Sequential):
    """3x3 stride-2 transposed conv that exactly doubles H and W, then BN and ReLU."""

    def __init__(self, cin: int, cout: int):
        super().__init__(
            nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=1, output_padding=1),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        )


class BaselineFCN(SegModel):
    """Strided-conv encoder, transposed-conv decoder, no skips (output stride 32, then back)."""

    stride = STRIDE  # inputs are padded to a multiple of it (SegModel.forward)

    def __init__(self, num_classes: int = 21):
        super().__init__()
        self.encoder = nn.Sequential(
            *(ConvBNReLU(a, b, 3, stride=2, padding=1) for a, b in zip(ENCODER, ENCODER[1:]))
        )
        dec = (512, 512, 256, 128, 64, num_classes)
        self.decoder = nn.Sequential(*(DeconvBNReLU(a, b) for a, b in zip(dec, dec[1:])))
        self.classifier = nn.Conv2d(num_classes, num_classes, 1)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.decoder(self.encoder(x)))


@register_model("baseline_fcn")
def baseline_fcn(*, num_classes: int = 21) -> BaselineFCN:
    """The write-up's baseline FCN (5 strided convs down, 5 transposed convs up)."""
    return BaselineFCN(num_classes)
