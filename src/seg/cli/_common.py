"""What every ``seg`` command shares: the consoles, the one-line error, the parse-time checks
(typer callbacks, so a bad value never costs minutes of work first) and the names the CLI knows
without importing the library behind them (torch, onnxruntime).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Optional

import typer
from rich.text import Text

from seg._io import check_output_dir, check_output_file
from seg.errors import SegError
from seg.metadata import MAX_SIZE, MIN_SIZE
from seg.text import SafeConsole, shown

started = time.perf_counter()  # when this command began (reset by seg.cli.main): a training time budget counts from it

# No markup: paths, class names and messages are printed as they are (a "[train]" is not a tag).
# SafeConsole: control characters in what is printed are escaped (metadata and names are untrusted).
out_console = SafeConsole(markup=False)
err = SafeConsole(stderr=True, markup=False)


def _error(message: str) -> None:
    """``error: message`` on stderr, the prefix in bold red where the terminal shows colour."""
    err.print(Text.assemble(("error:", "bold red"), " ", shown(message)), highlight=False, soft_wrap=True)


def warn(message: str) -> None:
    """``warning: message`` on stderr, one line (file-derived text in it escaped)."""
    err.print(f"warning: {shown(message)}", highlight=False, soft_wrap=True)


# ---- parse-time checks (typer callbacks): nothing runs before they pass --------------------------

def _out_file(what: str) -> Callable[[Optional[Path]], Optional[Path]]:
    """A callback refusing an output file that cannot be written (a folder, a read-only place)."""
    def check(value: Optional[Path]) -> Optional[Path]:
        return value if value is None else check_output_file(value, what)
    return check


def _out_dir(what: str) -> Callable[[Optional[Path]], Optional[Path]]:
    """A callback refusing an output folder that cannot be made or written."""
    def check(value: Optional[Path]) -> Optional[Path]:
        return value if value is None else check_output_dir(value, what)
    return check


def _choice(*choices: str) -> Callable[[Optional[str]], Optional[str]]:
    """A callback accepting one of ``choices`` (typer's Enum types would print Python class names)."""
    def check(value: Optional[str]) -> Optional[str]:
        if value is not None and value not in choices:
            raise typer.BadParameter(f"{value!r} is not one of {', '.join(choices)}.")
        return value
    return check


# seg.infer.session's providers, named here without importing onnxruntime (a test checks they agree).
PROVIDER_CHOICES = ("auto", "tensorrt", "cuda", "cpu")


def _positive(limit: float) -> Callable[[Optional[float]], Optional[float]]:
    """A callback accepting 0 < value <= ``limit``: click's own range check can show only a closed
    lower bound, so the help said ``[x<=3600.0]`` while -5 and 0 were refused; the option's help
    names the range with :func:`_open_range`."""
    def check(value: Optional[float]) -> Optional[float]:
        if value is not None and not 0 < value <= limit:
            raise typer.BadParameter(f"{value:g} is not in the range {_open_range(limit)}.")
        return value
    return check


def _open_range(limit: float) -> str:
    return f"0<x<={limit:g}"


def _imgsz(value: Optional[int]) -> Optional[int]:
    if value is not None and value != 0 and not MIN_SIZE <= value <= MAX_SIZE:
        raise typer.BadParameter(f"{value} is neither 0 (the frame's own size) nor in the range {MIN_SIZE}..{MAX_SIZE}.")
    return value


def _hw(value: tuple[int, int]) -> tuple[int, int]:
    if not all(MIN_SIZE <= v <= MAX_SIZE for v in value):
        raise typer.BadParameter(f"{value[0]} {value[1]}: height and width must lie in {MIN_SIZE}..{MAX_SIZE}.")
    return value


def _require(command: str, *modules: str) -> None:
    """One line, not an ImportError, when a command needs what only the training extra installs."""
    from seg.machine import installed

    missing = [m for m in modules if not installed(m)]
    if missing:
        raise SegError(f'seg {command} needs the training extra ({", ".join(missing)} not installed): '
                       'pip install "seg-onnx[train]"')
    if "torch" in modules:
        # imported whole before the command goes on: a SIGTERM that lands inside `import torch` raised
        # there left its C++ half initialised, and the process aborted (-6) instead of exiting 143
        import importlib

        from seg import signals

        with signals.held():
            importlib.import_module("torch")


TRAINING = ("torch", "torchvision")
# The seed write-up's architectures (seg.models.SEED_MODELS: bench's default set), named without
# importing the registry (it imports torch).
MODEL_NAMES = ("baseline_fcn", "simple_unet", "resnet_fcn", "unet")


# Existing inputs, checked by typer itself ("File 'x' is a directory." and so on).
_IN_FILE = dict(exists=True, dir_okay=False, readable=True)
_IN_DIR = dict(exists=True, file_okay=False, readable=True)


def _csv_list(value: Optional[str]) -> Optional[list[str]]:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None

