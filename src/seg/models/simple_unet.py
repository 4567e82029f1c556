"""Simplified 3-level U-Net: the seed write-up's "Custom FCN" table.

| Layer           | In  | Out | Kernel | Stride | Padding |
| enc conv1..3    | 3 -> 64 -> 128 -> 256  | 3 | 1 | 1 |  each followed by 2x2 max-pool
| bottleneck conv | 256 | 512 | 3 | 1 | 1 |
| dec upconv1..3  | 512 -> 256 -> 128 -> 64 | 2 | 2 | 0 |  each followed by a 3x3 conv
| dec conv1..3    | 256, 128, 64 (same in/out) | 3 | 1 | 1 |
| final conv      | 64  | 21  | 1 | 1 | 0 |

Batch norm follows every 3x3 conv (the write-up's improvement). The table's channel counts
leave no room for concatenated skips (dec conv1 takes 256 channels, what upconv1 gives), so the
seed's code had none; they do admit *additive* skips (upconv k's output has the channels and
resolution of the matching encoder conv), which cost no parameters and sharpen object borders.
``additive_skips=True`` (the default) uses them; ``False`` is the seed's plain encoder-decoder.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from seg.models._blocks import ConvBNReLU, SegModel
from seg.models._registry import register_model

WIDTHS = (64, 128, 256)
STRIDE = 2 ** len(WIDTHS)  # 8: three 2x2 poolings


class SimpleUNet(SegModel):
    """Three conv+pool levels down, a 512-channel bottleneck, three upconv+conv levels up."""

    stride = STRIDE  # inputs are padded to a multiple of it (SegModel.forward)

    def __init__(self, num_classes: int = 21, additive_skips: bool = True):
        super().__init__()
        self.additive_skips = additive_skips
        chans = (3, *WIDTHS)
        self.enc = nn.ModuleList(ConvBNReLU(a, b) for a, b in zip(chans, chans[1:]))
        self.bottleneck = ConvBNReLU(WIDTHS[-1], 2 * WIDTHS[-1])
        up = (2 * WIDTHS[-1], *reversed(WIDTHS))  # 512, 256, 128, 64
        self.upconv = nn.ModuleList(nn.ConvTranspose2d(a, b, 2, stride=2) for a, b in zip(up, up[1:]))
        self.dec = nn.ModuleList(ConvBNReLU(b, b) for b in up[1:])
        self.final = nn.Conv2d(WIDTHS[0], num_classes, 1)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for conv in self.enc:
            x = conv(x)
            skips.append(x)
            x = F.max_pool2d(x, 2)
        x = self.bottleneck(x)
        for upconv, conv, skip in zip(self.upconv, self.dec, reversed(skips)):
            x = F.relu(upconv(x))
            if self.additive_skips:
                x = x + skip
            x = conv(x)
        return self.final(x)


@register_model("simple_unet")
def simple_unet(*, num_classes: int = 21, additive_skips: bool = True) -> SimpleUNet:
    """The write-up's simplified U-Net (64/128/256 encoder, 512 bottleneck)."""
    return SimpleUNet(num_classes, additive_skips=additive_skips)
