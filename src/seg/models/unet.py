"""Full 4-level U-Net: the seed write-up's "Fully Connected U-Net" table (Ronneberger et al.,
"U-Net: Convolutional Networks for Biomedical Image Segmentation", MICCAI 2015).

| Layer                  | In -> Out                         | Kernel | Stride | Padding |
| Conv11, Conv1 .. Conv41, Conv4 | 3->64->64, 64->128->128, 128->256->256, 256->512->512 | 3 | 1 | 1 |
| MaxPool1..4            | -                                  | 2 | 2 | 0 |
| Bottleneck1, 2         | 512->1024->1024                    | 3 | 1 | 1 |
| ConvTransposed1..4     | 1024->512, 512->256, 256->128, 128->64 | 2 | 2 | 0 |
| upConvK1, upConvK2     | 2C->C (after crop-and-copy concat), C->C | 3 | 1 | 1 |
| final 1x1 ("softmax")  | 64 -> 21                           | 1 | 1 | 0 |

Batch norm follows every 3x3 conv, as the write-up says. The original U-Net used unpadded convs
and cropped the encoder maps before concatenation; with padding=1 convs and an input padded to a
multiple of 16 the maps already align, so the "crop" is the identity and the final output is
cropped back to the input's size instead.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from seg.models._blocks import ConvBNReLU, SegModel
from seg.models._registry import register_model

WIDTHS = (64, 128, 256, 512)
STRIDE = 2 ** len(WIDTHS)  # 16: four 2x2 poolings


class DoubleConv(nn.Sequential):
    """Two 3x3 Conv-BN-ReLU blocks, the unit of every U-Net level."""

    def __init__(self, cin: int, cout: int):
        super().__init__(ConvBNReLU(cin, cout), ConvBNReLU(cout, cout))


class UNet(SegModel):
    """Four levels down (64..512), a 1024-channel bottleneck, four levels up with concat skips."""

    stride = STRIDE  # inputs are padded to a multiple of it (SegModel.forward)

    def __init__(self, num_classes: int = 21):
        super().__init__()
        chans = (3, *WIDTHS)
        self.down = nn.ModuleList(DoubleConv(a, b) for a, b in zip(chans, chans[1:]))
        self.bottleneck = DoubleConv(WIDTHS[-1], 2 * WIDTHS[-1])
        self.upconv = nn.ModuleList(nn.ConvTranspose2d(2 * c, c, 2, stride=2) for c in reversed(WIDTHS))
        self.up = nn.ModuleList(DoubleConv(2 * c, c) for c in reversed(WIDTHS))
        self.classifier = nn.Conv2d(WIDTHS[0], num_classes, 1)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = F.max_pool2d(x, 2)
        x = self.bottleneck(x)
        for upconv, block, skip in zip(self.upconv, self.up, reversed(skips)):
            x = block(torch.cat([F.relu(upconv(x)), skip], dim=1))
        return self.classifier(x)


@register_model("unet")
def unet(*, num_classes: int = 21) -> UNet:
    """The write-up's full U-Net (64..1024 channels, crop-and-copy skips)."""
    return UNet(num_classes)
