"""Weights from outside seg's checkpoints: torchvision's published files and local state dicts.

Shared by the ResNet-50 backbone of ``resnet_fcn`` (``--backbone-weights``) and torchvision's
pretrained segmentation models (``--weights``), which fetch, read and load weights the same way.
"""

from __future__ import annotations

import os
import pickle
import urllib.error
import urllib.parse
from pathlib import Path
from typing import Any

import torch
from torch import nn

from seg.errors import SegError
from seg.models.checkpoint import safe_load, state_dict_mismatch


def fetch_published(weights: Any, what: str, flag: str) -> dict[str, torch.Tensor]:
    """torchvision's published state dict for ``weights`` (a WeightsEnum member), downloaded once
    into torch's hub cache with a progress bar, its hash checked as torchvision's builders do.
    Offline: one line naming ``flag``'s alternatives and where a copied file is found. A file already
    in the cache that cannot be read (torch checks the hash of downloads only) is one line naming it,
    with its hash against the published one, not an unpickling traceback."""
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(urllib.parse.urlparse(weights.url).path).name
    try:
        return weights.get_state_dict(progress=True, check_hash=True)
    except (urllib.error.URLError, OSError, RuntimeError, pickle.UnpicklingError, EOFError) as e:
        if cached.is_file():
            _check_cached(cached, weights.url)  # not the published file: say so, with the hashes
            raise SegError(f"cannot read {what} from {cached}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}; "
                           f"delete it to download it again, or replace it with a good copy of {weights.url}") from None
        raise SegError(
            f"cannot fetch {what} (offline?): {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}; use {flag} none for random init, "
            f"or {flag} PATH to a local copy of {weights.url} (or put {Path(weights.url).name} in "
            f"{torch.hub.get_dir()}/checkpoints/ to cache it)"
        ) from None


def _check_cached(path: Path, url: str) -> None:
    """The file torch's hub cache holds for ``url`` is the published one: torchvision's file names
    carry the first hex digits of their SHA-256 (``...-d234d4ea.pth``)."""
    import hashlib
    import re

    m = re.search(r"-([a-f0-9]{6,})\.", path.name)
    if m is None:
        return
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    if not h.hexdigest().startswith(m.group(1)):
        raise SegError(f"{path} is not the published file: its SHA-256 starts {h.hexdigest()[:len(m.group(1))]}, expected "
                       f"{m.group(1)} (a partial or corrupt copy); delete it to download it again, or replace it with "
                       f"a good copy of {url}")


def read_state_dict(path: str | os.PathLike, what: str) -> dict[str, Any]:
    """A state dict from a local ``.pth``: the dict itself, or under ``"model"`` (torchvision's
    reference scripts) or ``"state_dict"``. Anything else is one SegError line."""
    state = safe_load(path, what, "a state dict")
    for key in ("model", "state_dict"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise SegError(f"{what} {path} are not a state dict")
    return state


def load_matching(module: nn.Module, state: dict[str, Any], what: str, target: str) -> None:
    """Load ``state`` into ``module``, every key and shape matching; otherwise one SegError line
    naming the first mismatches (torch's own message spans dozens of lines)."""
    try:
        result = module.load_state_dict(state, strict=False)
        bad = bool(result.missing_keys or result.unexpected_keys)
    except RuntimeError:  # shape mismatches raise even when strict=False
        bad = True
    if bad:
        raise SegError(f"{what} do not fit {target}: {state_dict_mismatch(module, state)}")
