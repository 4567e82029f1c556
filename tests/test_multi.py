"""Issue 22, item 2: `seg run` over several sources in one process, batched. The batcher pushes on
its timeout (a slow source holds up no other), a dead source is reported while the others run,
and each source's outputs equal its own separate run, frame for frame."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from conftest import examples
from seg.infer.preprocess import input_size

from seg.infer.sources import Source

VIDEOS = ("bikes.mp4", "car-detection.mp4")


@pytest.fixture(scope="module")
def model(fcn_onnx) -> Path:
    return fcn_onnx


def _masks(folder: Path) -> dict[str, np.ndarray]:
    return {p.stem: np.array(Image.open(p)) for p in sorted(folder.glob("*.png"))}


@pytest.mark.parametrize("plan", ["batched", "per-core"])
def test_each_source_gets_what_its_own_run_gives(cli, model, real_voc, tmp_path, plan):
    videos = [real_voc / "video" / v for v in VIDEOS]
    photos = real_voc / "VOCdevkit" / "VOC2012" / "JPEGImages"
    code, out, err = cli("run", "--model", model, *[x for v in videos for x in ("--source", v)], "--source", photos,
                         "--out", tmp_path / "multi", "--save-masks", tmp_path / "mm", "--max-frames", 6, "--batch", 3,
                         "--plan", plan)
    assert code == 0, err
    assert "3 sources" in out and "bikes" in out and "JPEGImages" in out
    assert f"plan {plan}: {'1 session' if plan == 'batched' else '2 sessions x 1 thread'}" in err
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


def test_bench_streams_reports_each_count(cli, model, real_voc, tmp_path):
    """`seg bench --streams 1,2`: a row per count, N x frames segmented, latency per stream, JSON as shown."""
    import json

    code, out, err = cli("bench", "--models", model, "--streams", "1,2", "--clip", real_voc / "video" / "bikes.mp4",
                         "--frames", 3, "--json", tmp_path / "s.json", "--no-realtime")
    assert code == 0, err
    result = json.loads((tmp_path / "s.json").read_text())
    (r,) = result["results"]
    assert [row["streams"] for row in r["rows"]] == [1, 2] and [row["frames"] for row in r["rows"]] == [3, 6]
    assert all(row["aggregate_fps"] > 0 and row["p95_ms"] >= row["p50_ms"] > 0 for row in r["rows"])
    assert r["header"]["cpu_class"] in out and "| baseline_fcn | 1 | 1 |" in out and "| baseline_fcn | 2 | 2 |" in out
    # paced as cameras (the default): every frame read is either segmented or counted as dropped
    code, out, err = cli("bench", "--models", model, "--streams", "2", "--clip", real_voc / "video" / "bikes.mp4",
                         "--frames", 5, "--json", tmp_path / "r.json")
    (row,) = json.loads((tmp_path / "r.json").read_text())["results"][0]["rows"]
    assert code == 0 and row["frames"] + row["dropped"] == 10 and "paced as cameras" in out, err


@pytest.mark.parametrize("args, code_, message", [
    (["--streams", "0"], 2, "each 1..64"),
    (["--streams", "1,x"], 2, "comma-separated stream counts"),
    (["--streams", "65"], 2, "each 1..64"),
    (["--streams", "2"], 1, "--streams needs at least one --clip"),
])
def test_bench_streams_bad_input(cli, model, args, code_, message):
    code, _, err = cli("bench", "--models", model, *args)
    assert code == code_ and message in err, err


def test_several_sessions_write_each_source_in_order(model, real_voc, tmp_path, monkeypatch):
    """Two sessions, one of them slow: batches finish out of order, each source is still written in
    its frames' order (videos would otherwise be shuffled)."""
    import seg.infer.multi as multi
    from seg.infer import Segmenter

    fast, slow = Segmenter(model, provider="cpu", threads=1), Segmenter(model, provider="cpu", threads=1)
    real_infer = slow.infer
    monkeypatch.setattr(slow, "infer", lambda x: (time.sleep(0.05), real_infer(x))[1])
    written: dict[str, list[str]] = {}
    real_png = multi.write_palette_png
    monkeypatch.setattr(multi, "write_palette_png",
                        lambda path, *a: (written.setdefault(path.parent.name, []).append(path.stem), real_png(path, *a)))
    videos = [str(real_voc / "video" / v) for v in VIDEOS]
    s = multi.run_many([slow, fast], videos, tmp_path / "o", masks_root=tmp_path / "m", batch=1, max_frames=8)
    assert s.frames == 16 and s.batches == 16
    assert written.keys() == {"bikes", "car-detection"}
    assert all(names == sorted(names) and len(names) == 8 for names in written.values()), written


@pytest.mark.slow
def test_plan_auto_is_measured_once_then_kept(cli, model, real_voc, tmp_path, monkeypatch):
    import json

    from seg.infer.plan import PLANS

    monkeypatch.setenv("SEG_CACHE_DIR", str(tmp_path / "cache"))
    args = ["run", "--model", model, "--source", real_voc / "video" / "bikes.mp4", "--source",
            real_voc / "video" / "car-detection.mp4", "--max-frames", 2, "--out"]
    code, _, err = cli(*args, tmp_path / "a")
    assert code == 0 and "plan: measuring batched, batched-nospin, per-core" in err and "(auto, measured" in err, err
    (record,) = json.loads((tmp_path / "cache" / "plans.json").read_text()).values()
    assert record["chosen"] in PLANS and set(record["fps"]) == {"batched", "batched-nospin", "per-core"}
    assert all(v > 0 for v in record["fps"].values()) and record["batch"] == 2  # one frame per source a batch
    code, _, err = cli(*args, tmp_path / "b")
    assert code == 0 and "plan: measuring" not in err and f"plan {record['chosen']}" in err, err


@settings(max_examples=examples(60), deadline=None)
@given(h=st.integers(1, 5000), w=st.integers(1, 5000), bucket=st.sampled_from([32, 64, 128]))
def test_buckets_snap_within_the_profile(bucketed, h, w, bucket):
    """GPU runs over photos of many sizes: each side within bucket/2 of its size, a multiple of the
    bucket, and never past the side rounded up to 32 (what TensorRT's profile covers)."""
    seg = bucketed
    seg.bucket = bucket
    plain = input_size(h, w, seg.meta, seg.imgsz)
    got = seg.input_size(h, w)
    for v, g in zip(plain, got):
        assert g <= -(-v // 32) * 32
        assert g == v or (g % bucket == 0 and abs(g - v) < bucket)
        if g != v and v >= bucket:  # the nearest multiple that stays within the profile
            assert abs(g - v) <= bucket // 2 or g == v // bucket * bucket


def test_buckets_give_a_folder_few_shapes(bucketed, real_voc):
    """The 13 VOC photos (5 sizes) meet fewer model input shapes, and labels still come back at each photo's size."""
    from seg.images import read_bgr

    seg = bucketed
    photos = sorted((real_voc / "VOCdevkit" / "VOC2012" / "JPEGImages").glob("*.jpg"))
    frames = [read_bgr(p) for p in photos]
    seg.bucket = 0
    plain = {seg.input_size(*f.shape[:2]) for f in frames}
    seg.bucket = 64
    shapes = {seg.input_size(*f.shape[:2]) for f in frames}
    assert len(shapes) < len(plain) and all(h % 64 == 0 and w % 64 == 0 for h, w in shapes)
    assert all(seg.predict(f).shape == f.shape[:2] for f in frames[:2])


@pytest.fixture(scope="module")
def bucketed(model):
    from seg.infer import Segmenter

    # fed at 500 px on the longer side, as a VOC photo is: several sizes, several shapes
    return Segmenter(model, provider="cpu", imgsz=500, bucket=64)
