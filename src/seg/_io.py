"""Atomic file output: nothing half-written is ever left under a user-visible name."""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from seg.errors import SegError


def writable_dir(path: str | os.PathLike, what: str = "output folder") -> Path:
    """Create ``path`` if needed and check it can be written; a one-line SegError otherwise."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SegError(f"cannot create {what} {path}: {e.strerror or e}") from None
    if not os.access(path, os.W_OK):
        raise SegError(f"{what} {path} is not writable")
    return path


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (same suffix, so tools that pick a format from
    it still work); on success rename it onto ``path``, on any failure delete it."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write JSON atomically (indented, so people can read it)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2) + "\n")
