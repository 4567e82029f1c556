"""Joint image/mask transforms built on torchvision transforms v2 (which moves masks with
images and leaves them out of photometric changes), after torchvision's segmentation presets."""

from __future__ import annotations

import numpy as np
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from seg.classes import IGNORE_INDEX, IMAGENET_MEAN, IMAGENET_STD

# Padding fills: black image (before normalisation), void mask, so padded pixels never count.
FILL = {tv_tensors.Image: 0, tv_tensors.Mask: IGNORE_INDEX}


def _to_tv(image: np.ndarray, mask: np.ndarray) -> tuple[tv_tensors.Image, tv_tensors.Mask]:
    return tv_tensors.Image(torch.from_numpy(image).permute(2, 0, 1)), tv_tensors.Mask(torch.from_numpy(mask))


def _finish() -> list:
    return [
        v2.ToDtype({tv_tensors.Image: torch.float32, "others": None}, scale=True),
        v2.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        v2.ToDtype({tv_tensors.Mask: torch.int64, "others": None}),
        v2.ToPureTensor(),
    ]


class RandomScale(v2.Transform):
    """Resize by a random factor of the image's *own* size (mmseg's ratio_range), so training
    sees objects at the scales evaluation meets (eval runs at the original size). Masks are
    resized with nearest neighbour by torchvision's dispatch."""

    def __init__(self, lo: float, hi: float):
        super().__init__()
        self.lo, self.hi = lo, hi

    def make_params(self, flat_inputs: list) -> dict:
        h, w = v2.query_size(flat_inputs)
        s = float(torch.empty(1).uniform_(self.lo, self.hi))
        return {"size": [max(1, round(h * s)), max(1, round(w * s))]}

    def transform(self, inpt, params: dict):
        return self._call_kernel(v2.functional.resize, inpt, size=params["size"], antialias=True)


class TrainPreset:
    """Random scale, crop (padded with void), flip, optional rotation and colour jitter."""

    def __init__(self, crop_size: int, scale: tuple[float, float] = (0.5, 2.0), hflip: float = 0.5,
                 rotation: float = 0.0, jitter: float = 0.3):
        ops: list = [RandomScale(*scale)]
        if rotation > 0:
            ops.append(v2.RandomRotation(rotation, fill=FILL))
        ops += [
            v2.RandomCrop(crop_size, pad_if_needed=True, fill=FILL),
            v2.RandomHorizontalFlip(hflip),
        ]
        if jitter > 0:
            ops.append(v2.ColorJitter(brightness=jitter, contrast=jitter, saturation=jitter, hue=min(jitter / 30, 0.02)))  # class hues are 18 deg apart
        self.transform = v2.Compose(ops + _finish())

    def __call__(self, image: np.ndarray, mask: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        return self.transform(*_to_tv(image, mask))


class EvalPreset:
    """Full-size image, only converted and normalised: metrics are computed at the true size."""

    def __init__(self):
        self.transform = v2.Compose(_finish())

    def __call__(self, image: np.ndarray, mask: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        return self.transform(*_to_tv(image, mask))
