"""Where training runs: the device, the autocast dtype it supports natively, torchrun's ranks."""

from __future__ import annotations

import os

import torch
import torch.distributed as dist

from seg.errors import SegError
from seg.machine import cpu_has_bf16, cuda_native_bf16  # the probes live with the machine facts
from seg.train.config import AMP, DEVICES


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` -> CUDA when present, else CPU; asking for CUDA without one is an error."""
    if name not in DEVICES:
        raise SegError(f"unknown device {name!r}; choose one of: {', '.join(DEVICES)}")
    if name == "cuda" or (name == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise SegError("--device cuda asked for, but torch sees no CUDA GPU (use --device cpu or auto)")
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def amp_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for training, or None for fp32."""
    if amp not in AMP:
        raise SegError(f"unknown --amp {amp!r}; choose one of: {', '.join(AMP)}")
    if amp == "off":
        return None
    if device.type == "cuda":
        # Native bf16 only (Ampere and later): a V100/T4 "supports" it by emulation, slower than fp16
        # with gradient scaling, which is what they get.
        return torch.bfloat16 if cuda_native_bf16() else torch.float16
    if amp == "on" or cpu_has_bf16():
        return torch.bfloat16
    return None


def dist_info() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment, or a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0"))


def all_reduce(t: torch.Tensor, op=None) -> torch.Tensor:
    """Sum (or ``op``) ``t`` over the ranks in place under DDP; a single process returns it as is."""
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(t, op=op or dist.ReduceOp.SUM)
    return t
