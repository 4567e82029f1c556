"""File output: check output paths before any work, and write atomically so nothing
half-written is ever left under a user-visible name."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from seg.errors import SegError
from seg.signals import held


def _nearest_existing(path: Path) -> Path:
    """``path`` or its closest ancestor that exists (``.`` at worst)."""
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _can_write_in(folder: Path) -> bool:
    """Whether a file can really be created in ``folder``: a throw-away temporary file, because
    permission bits say nothing for root, read-only mounts or /proc."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def _check_creatable(path: Path, what: str) -> None:
    """Refuse ``path`` (not there yet) when the folder it would be created under is a file or is
    not writable; creates nothing, so a refused command leaves no empty folder behind."""
    base = _nearest_existing(path.parent)
    if not base.is_dir():
        raise SegError(f"cannot create {what} {path}: {base} is a file, not a folder")
    if not _can_write_in(base):
        raise SegError(f"cannot create {what} {path}: {base} is not writable")


def check_output_file(path: str | os.PathLike, what: str = "output file") -> Path:
    """Check, before any work, that ``path`` can be written as a file (missing parent folders are
    fine: they are made when the file is written). A one-line SegError otherwise."""
    path = Path(path)
    if path.is_dir():
        raise SegError(f"{what} {path} is a folder; give a file name")
    if path.exists():
        # Replaced atomically: a temporary file is written beside it, then renamed over it.
        if not os.access(path, os.W_OK) or not _can_write_in(path.parent):
            raise SegError(f"{what} {path} is not writable")
    else:
        _check_creatable(path, what)
    return path


def check_output_dir(path: str | os.PathLike, what: str = "output folder") -> Path:
    """Check, before any work, that ``path`` is or can become a writable folder (nothing is created)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise SegError(f"{what} {path} is a file, not a folder")
    if path.is_dir():
        if not _can_write_in(path):
            raise SegError(f"{what} {path} is not writable")
    else:
        _check_creatable(path, what)
    return path


def writable_dir(path: str | os.PathLike, what: str = "output folder") -> Path:
    """Create ``path`` if needed and check it can be written; a one-line SegError otherwise."""
    path = check_output_dir(path, what)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SegError(f"cannot create {what} {path}: {e.strerror or e}") from None
    return path


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (same suffix, so tools that pick a format from
    it still work); on success rename it onto ``path``, on any failure delete it. Missing
    parent folders are created (callers check the path up front with :func:`check_output_file`)."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SegError(f"cannot create the folder of {path}: {e.strerror or e}") from None
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    try:
        yield tmp
        with held():  # a signal now acts after the rename: the file is the old one or the new one
            try:
                os.replace(tmp, path)
            except OSError as e:
                raise SegError(f"cannot write {path}: {e.strerror or e}") from None
    finally:
        with held():
            tmp.unlink(missing_ok=True)


@contextmanager
def scratch_dir() -> Iterator[Path]:
    """A private temporary folder for the intermediate files of a multi-step job (int8's rewritten
    and pre-processed graphs, a variant's candidates), removed whole on any exit: success, error,
    Ctrl-C, SIGTERM or SIGHUP (:mod:`seg.signals` turns those into exceptions)."""
    d = Path(tempfile.mkdtemp(prefix="seg-"))
    try:
        yield d
    finally:
        with held():
            shutil.rmtree(d, ignore_errors=True)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write JSON atomically (indented, so people can read it)."""
    with atomic_path(path) as tmp:
        try:
            tmp.write_text(json.dumps(obj, indent=2) + "\n")
        except OSError as e:  # a full disk, a folder made read-only meanwhile
            raise SegError(f"cannot write {path}: {e.strerror or e}") from None
