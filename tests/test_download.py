"""VOC2007 download: resume, md5 check, extraction and no-op re-runs, against a local server."""

from __future__ import annotations

import hashlib
import http.server
import tarfile
import threading
from functools import partial
from pathlib import Path

import pytest

from seg.data import VOCSegmentation
from seg.data.download import MARKER, VOC2007, Resource, download_voc2007
from seg.data.voc import write_mask
from seg.errors import SegError


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Static files with HTTP Range support (http.server has none); records each request."""

    log: list[tuple[str, str | None]] = []

    def do_GET(self):
        RangeHandler.log.append((self.path, self.headers.get("Range")))
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            return self.send_error(404)
        data = path.read_bytes()
        start = 0
        if rng := self.headers.get("Range"):
            start = int(rng.split("=")[1].split("-")[0])
            if start >= len(data):
                return self.send_error(416)
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        self.wfile.write(data[start:])

    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(RangeHandler, directory=str(served)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    RangeHandler.log = []
    yield served, f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()


def make_tar(path: Path, split: str, n: int) -> str:
    """A tiny VOC2007-shaped tarball: n black 8x8 JPEGs, masks and a split list; returns md5."""
    import numpy as np
    from PIL import Image

    stage = path.parent / f"stage-{split}"
    voc = stage / "VOCdevkit" / "VOC2007"
    for sub in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (voc / sub).mkdir(parents=True, exist_ok=True)
    ids = [f"{split}{i}" for i in range(n)]
    for i in ids:
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(voc / "JPEGImages" / f"{i}.jpg")
        write_mask(voc / "SegmentationClass" / f"{i}.png", np.full((8, 8), 255, np.uint8))
    (voc / "ImageSets" / "Segmentation" / f"{split}.txt").write_text("\n".join(ids) + "\n")
    with tarfile.open(path, "w") as tar:
        tar.add(stage / "VOCdevkit", arcname="VOCdevkit")
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_download_extract_and_noop_rerun(server, tmp_path):
    served, url = server
    res = tuple(
        Resource(url + name, name, make_tar(served / name, split, n))
        for name, split, n in (("trainval.tar", "trainval", 3), ("test.tar", "test", 2))
    )
    root = tmp_path / "data"
    voc = download_voc2007(root, res, progress=False)
    assert voc == root / "VOCdevkit" / "VOC2007" and (voc / MARKER).is_file()
    assert len(VOCSegmentation(root, split="trainval")) == 3 and len(VOCSegmentation(root, split="test")) == 2
    assert not list(root.glob("*.part"))
    requests = len(RangeHandler.log)
    download_voc2007(root, res, progress=False)
    assert len(RangeHandler.log) == requests  # nothing fetched again


def test_partial_download_is_resumed_with_a_range_request(server, tmp_path):
    served, url = server
    md5 = make_tar(served / "a.tar", "train", 4)
    data = (served / "a.tar").read_bytes()
    root = tmp_path / "data"
    root.mkdir()
    (root / "a.tar.part").write_bytes(data[:1000])
    download_voc2007(root, (Resource(url + "a.tar", "a.tar", md5),), progress=False)
    assert RangeHandler.log == [("/a.tar", "bytes=1000-")]
    assert (root / "a.tar").read_bytes() == data


def test_checksum_mismatch_is_rejected_and_nothing_is_kept(server, tmp_path):
    served, url = server
    make_tar(served / "a.tar", "train", 1)
    root = tmp_path / "data"
    with pytest.raises(SegError, match="checksum mismatch for a.tar"):
        download_voc2007(root, (Resource(url + "a.tar", "a.tar", "0" * 32),), progress=False)
    assert list(root.iterdir()) == []


def test_cli_with_a_mirror_checks_the_official_md5(server, tmp_path, cli):
    served, url = server
    for r in VOC2007:  # right names, wrong contents
        make_tar(served / r.filename, "train", 1)
    code, _, err = cli("data", "voc2007", "--root", tmp_path / "data", "--mirror", url)
    assert code == 1 and "checksum mismatch for VOCtrainval_06-Nov-2007.tar" in err
    assert "expected c52e279531787c972589f7e41ab4ae64" in err
    assert not (tmp_path / "data" / "VOCdevkit").exists()


def test_unreachable_host_is_one_line(tmp_path, cli):
    code, _, err = cli("data", "voc2007", "--root", tmp_path, "--mirror", "http://127.0.0.1:9/")
    assert code == 1 and "cannot reach http://127.0.0.1:9/VOCtrainval_06-Nov-2007.tar" in err
    assert err.count("\n") == 1


def test_http_error_is_one_line(server, tmp_path, cli):
    _, url = server
    code, _, err = cli("data", "voc2007", "--root", tmp_path, "--mirror", url)
    assert code == 1 and "HTTP 404" in err


def test_official_resources_point_at_the_pascal_host():
    assert [r.filename for r in VOC2007] == ["VOCtrainval_06-Nov-2007.tar", "VOCtest_06-Nov-2007.tar"]
    assert all(r.url.startswith("https://thor.robots.ox.ac.uk/pascal/VOC/voc2007/") for r in VOC2007)
