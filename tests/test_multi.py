"""Issue 22, item 2: `seg run` over several sources in one process, batched. The batcher pushes on
its timeout (a slow source holds up no other), a dead source is reported while the others run,
and each source's outputs equal its own separate run, frame for frame."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from seg.infer.sources import Source

VIDEOS = ("bikes.mp4", "car-detection.mp4")


@pytest.fixture(scope="module")
def model(fcn_onnx) -> Path:
    return fcn_onnx


def _masks(folder: Path) -> dict[str, np.ndarray]:
    return {p.stem: np.array(Image.open(p)) for p in sorted(folder.glob("*.png"))}


def test_each_source_gets_what_its_own_run_gives(cli, model, real_voc, tmp_path):
    videos = [real_voc / "video" / v for v in VIDEOS]
    photos = real_voc / "VOCdevkit" / "VOC2012" / "JPEGImages"
    code, out, err = cli("run", "--model", model, *[x for v in videos for x in ("--source", v)], "--source", photos,
                         "--out", tmp_path / "multi", "--save-masks", tmp_path / "mm", "--max-frames", 6, "--batch", 3)
    assert code == 0, err
    assert "3 sources" in out and "bikes" in out and "JPEGImages" in out
    for v in videos:
        code, _, err = cli("run", "--model", model, "--video", v, "--max-frames", 6, "--out", tmp_path / f"{v.stem}.mp4",
                           "--save-masks", tmp_path / "single" / v.stem)
        assert code == 0, err
        one, many = _masks(tmp_path / "single" / v.stem), _masks(tmp_path / "mm" / v.stem)
        assert one.keys() == many.keys() and len(one) == 6
        assert all(np.array_equal(one[k], many[k]) for k in one), v.name
        cap = cv2.VideoCapture(str(tmp_path / "multi" / v.stem / f"{v.stem}.mp4"))
        assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 6
    code, _, err = cli("run", "--model", model, "--folder", photos, "--save-masks", tmp_path / "single" / "photos",
                       "--out", tmp_path / "po", "--max-frames", 6)
    one, many = _masks(tmp_path / "single" / "photos"), _masks(tmp_path / "mm" / "JPEGImages")
    assert one.keys() == many.keys() and all(np.array_equal(one[k], many[k]) for k in one)


def test_a_dead_source_is_reported_and_the_others_run(cli, model, real_voc, tmp_path):
    list_file = tmp_path / "cams.txt"
    list_file.write_text(f"# two sources, one gone\n{real_voc / 'video' / 'bikes.mp4'}\n{tmp_path / 'gone.mp4'}\n")
    code, out, err = cli("run", "--model", model, "--source", list_file, "--out", tmp_path / "o", "--max-frames", 4)
    assert code == 1 and "1 of 2 sources failed" in err and "gone.mp4" in err and "the other sources run on" in err
    cap = cv2.VideoCapture(str(tmp_path / "o" / "bikes" / "bikes.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 4  # the live one ran to its end


def test_all_sources_dead_is_one_line(cli, model, tmp_path):
    code, _, err = cli("run", "--model", model, "--source", tmp_path / "a.mp4", "--source", tmp_path / "b.mp4",
                       "--out", tmp_path / "o")
    assert code == 1 and len(err.strip().splitlines()) <= 3 and "no source could be opened" in err


@pytest.mark.parametrize("value", ["0", "65"])
def test_batch_is_bounded_at_parse_time(cli, model, tmp_path, value):
    code, _, err = cli("run", "--model", model, "--source", "0", "--source", "1", "--batch", value)
    assert code == 2 and "--batch" in err


class _Paced(Source):
    """Frames at a fixed interval, as a slow camera sends them."""

    is_video = True

    def __init__(self, n: int, every: float):
        super().__init__()
        self.n, self.every, self.fps, self.size = n, every, 25.0, (96, 64)

    def __iter__(self):
        for i in range(self.n):
            time.sleep(self.every)
            yield f"f{i:03d}", np.full((64, 96, 3), 40 * (i % 5), np.uint8)


def test_the_batcher_pushes_on_its_timeout(model, tmp_path):
    """batch 2, 20 ms: a source sending every 300 ms must not hold up one sending at once."""
    from seg.infer import Segmenter
    from seg.infer.multi import run_many

    seg = Segmenter(model, provider="cpu")
    summary = run_many(seg, ["slow", "fast"], tmp_path / "o", batch=2, timeout_ms=20,
                       opened=[_Paced(3, 0.3), _Paced(12, 0.0)])
    slow, fast = summary.streams
    assert slow.frames == 3 and fast.frames == 12
    assert fast.latency.stats()["p95"] < 250, fast.latency.stats()  # it never waited for the slow one's 300 ms
    assert summary.batches >= 8  # most batches went out with one frame: pushed on the timeout


def test_a_file_under_realtime_is_paced_here_too(model, real_voc, tmp_path):
    """As in a single-source run: a file under --realtime plays at its own 25 FPS, so a model that
    keeps up drops nothing (read as fast as it decodes, it dropped 233 of 250 frames)."""
    from seg.infer import Segmenter
    from seg.infer.multi import run_many

    summary = run_many(Segmenter(model, provider="cpu"), [str(real_voc / "video" / "bikes.mp4")], tmp_path / "o",
                       realtime=True, max_frames=12)
    s = summary.streams[0]
    assert s.frames == 12 and s.dropped == 0 and summary.wall_s >= 11 * 0.04 * 0.9
