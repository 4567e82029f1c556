"""Download PASCAL VOC 2007 from the official host: resumable, md5-checked, extracted once.

``seg data voc2007 --root DIR`` fetches the trainval and test tarballs (the URLs and md5s are
torchvision's), resumes a partial ``.part`` file with an HTTP Range request, refuses a file
whose md5 differs, and extracts into ``DIR/VOCdevkit/VOC2007``. A marker file written after
both extractions makes re-running a no-op; an interrupted extraction is simply redone.
"""

from __future__ import annotations

import hashlib
import json
import os
import tarfile
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

from seg._io import writable_dir
from seg.errors import SegError

VOC_HOST = "https://thor.robots.ox.ac.uk/pascal/VOC/voc2007/"


@dataclass(frozen=True)
class Resource:
    """One archive to fetch: where from, the file name to keep it under, and its md5."""

    url: str
    filename: str
    md5: str


VOC2007 = (
    Resource(VOC_HOST + "VOCtrainval_06-Nov-2007.tar", "VOCtrainval_06-Nov-2007.tar", "c52e279531787c972589f7e41ab4ae64"),
    Resource(VOC_HOST + "VOCtest_06-Nov-2007.tar", "VOCtest_06-Nov-2007.tar", "b6e924de25625d8de591ea690078ad9f"),
)
MARKER = ".seg-download.json"
CHUNK = 1 << 20


def md5sum(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            h.update(block)
    return h.hexdigest()


def fetch(res: Resource, dest_dir: Path, progress: bool = True, timeout: float = 60.0) -> Path:
    """Download ``res`` into ``dest_dir``, resuming ``<file>.part``; return the verified file.

    A server that ignores the Range header (status 200) restarts the download from zero. A
    checksum mismatch deletes the partial file and raises, so a re-run starts clean.
    """
    final = dest_dir / res.filename
    if final.is_file() and md5sum(final) == res.md5:
        return final
    part = dest_dir / (res.filename + ".part")
    have = part.stat().st_size if part.is_file() else 0
    req = urllib.request.Request(res.url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code != 416:  # 416: the part file already holds every byte
            raise SegError(f"download of {res.url} failed: HTTP {e.code} {e.reason}") from None
        resp = None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise SegError(f"cannot reach {res.url}: {reason} (offline? a partial download resumes on re-run)") from None
    if resp is not None:
        with resp:
            resumed = have and getattr(resp, "status", 200) == 206
            mode = "ab" if resumed else "wb"
            start = have if resumed else 0
            length = resp.headers.get("Content-Length")
            total = start + int(length) if length is not None else None
            cols = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn())
            with Progress(*cols, disable=not progress, transient=True) as bar, open(part, mode) as f:
                task = bar.add_task(res.filename, total=total, completed=start)
                try:
                    while block := resp.read(CHUNK):
                        f.write(block)
                        bar.advance(task, len(block))
                except OSError as e:
                    raise SegError(f"download of {res.url} broke off: {e} (re-run to resume)") from None
    got = md5sum(part)
    if got != res.md5:
        part.unlink()
        raise SegError(f"checksum mismatch for {res.filename}: md5 {got}, expected {res.md5}; the file was deleted")
    os.replace(part, final)
    return final


def extract(archive: Path, dest: Path) -> None:
    """Extract a tarball with tarfile's 'data' filter (no absolute paths, links out, devices)."""
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(dest, filter="data")
    except (tarfile.TarError, OSError) as e:
        raise SegError(f"cannot extract {archive}: {e}") from None


def download_voc2007(
    root: str | os.PathLike,
    resources: tuple[Resource, ...] = VOC2007,
    keep_archives: bool = True,
    progress: bool = True,
) -> Path:
    """Fetch and extract VOC2007 under ``root``; return ``root/VOCdevkit/VOC2007``.

    A no-op when a previous run completed with the same archives (the marker file records
    their md5s).
    """
    root = writable_dir(root, "data root")
    voc_dir = root / "VOCdevkit" / "VOC2007"
    marker = voc_dir / MARKER
    wanted = [asdict(r) for r in resources]
    if marker.is_file() and json.loads(marker.read_text()).get("resources") == wanted:
        return voc_dir
    archives = [fetch(r, root, progress=progress) for r in resources]
    for a in archives:
        extract(a, root)
    if not (voc_dir / "JPEGImages").is_dir():
        raise SegError(f"the archives did not contain VOCdevkit/VOC2007/JPEGImages under {root}")
    marker.write_text(json.dumps({"resources": wanted}, indent=1))
    if not keep_archives:
        for a in archives:
            a.unlink()
    return voc_dir


def mirrored(base_url: str, resources: tuple[Resource, ...] = VOC2007) -> tuple[Resource, ...]:
    """The same archives (and md5s) fetched from another host or a local folder URL."""
    base = base_url if base_url.endswith("/") else base_url + "/"
    return tuple(Resource(base + r.filename, r.filename, r.md5) for r in resources)


__all__ = ["Resource", "VOC2007", "fetch", "extract", "download_voc2007", "mirrored", "md5sum"]
