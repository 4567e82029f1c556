"""Parameter and FLOP counts, as printed by ``seg models``."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_parameters(model: nn.Module) -> int:
    """All parameters (trainable or not); buffers such as BN running stats are not counted."""
    return sum(p.numel() for p in model.parameters())


def model_flops(name: str, height: int = 512, width: int = 512) -> int:
    """FLOPs of one forward pass at batch 1 (a multiply-add counts as 2).

    The model is built on the ``meta`` device, so nothing is allocated or computed: counting
    the U-Net at 512x512 costs milliseconds instead of seconds of CPU time.
    """
    from seg.models import get_model

    with torch.device("meta"):
        model = get_model(name).eval()
        x = torch.empty(1, 3, height, width)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(x)
    return counter.get_total_flops()
