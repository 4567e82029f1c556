"""The model registry: one dict from name to builder, filled by ``@register_model``."""

from __future__ import annotations

import inspect
from typing import Any, Callable

from torch import nn

from seg.errors import SegError

Builder = Callable[..., nn.Module]
MODELS: dict[str, Builder] = {}


def register_model(name: str) -> Callable[[Builder], Builder]:
    """Register a builder under ``name``; a second registration of the same name is a bug."""

    def wrap(fn: Builder) -> Builder:
        if name in MODELS:
            raise ValueError(f"model {name!r} is already registered")
        MODELS[name] = fn
        return fn

    return wrap


def check_model_name(name: str) -> str:
    """Return ``name`` if it is registered, else raise a one-line :class:`SegError`."""
    if name not in MODELS:
        raise SegError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}")
    return name


def get_model(name: str, num_classes: int = 21, **options: Any) -> nn.Module:
    """Build a registered model.

    Options that are ``None`` are dropped, so that a CLI flag left at its default never
    overrides the builder's own default (as timm's ``create_model`` does). An option the
    builder does not take is a :class:`SegError` naming the ones it does take.
    """
    builder = MODELS[check_model_name(name)]
    options = {k: v for k, v in options.items() if v is not None}
    accepted = [p for p in inspect.signature(builder).parameters if p != "num_classes"]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise SegError(
            f"model {name!r} takes no option {unknown[0]!r}; its options: "
            f"{', '.join(accepted) or 'none'}"
        )
    return builder(num_classes=num_classes, **options)
