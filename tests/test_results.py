"""Issue 25: results a program can use. `seg run --save-json` (JSON lines, live) and `seg.predict`
(a typed iterator), checked against the saved masks, read from a pipe while the run goes on, cut
short by a reader that goes away, and over a long source in flat memory."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

import seg
from seg.infer.results import SCHEMA, Result

SEG = [sys.executable, "-m", "seg.cli"]


@pytest.fixture(scope="module")
def model(fcn_onnx) -> Path:
    return fcn_onnx


@pytest.fixture(scope="module")
def clip(real_voc) -> Path:
    return real_voc / "video" / "bikes.mp4"


def test_records_match_the_saved_masks_frame_for_frame(cli, model, clip, tmp_path):
    code, out, err = cli("run", "--model", model, "--video", clip, "--max-frames", 6, "--save-json",
                         tmp_path / "r.jsonl", "--regions", "--save-masks", tmp_path / "masks", "--out", tmp_path / "o.mp4")
    assert code == 0, err
    records = [json.loads(ln) for ln in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert [r["frame"] for r in records] == list(range(6)) and all(r["schema"] == SCHEMA for r in records)
    assert records[1]["time"] == pytest.approx(1 / 25) and records[0]["width"] == 640 and records[0]["height"] == 272
    from seg.metadata import read_meta

    names = read_meta(model)["class_names"]
    for r in records:
        mask = np.array(Image.open(tmp_path / "masks" / f"{r['name']}.png"))
        counts = np.bincount(mask.ravel(), minlength=len(names))
        want = {names[i]: int(c) for i, c in enumerate(counts) if c}
        assert {k: v["pixels"] for k, v in r["classes"].items()} == want
        assert all(v["fraction"] == pytest.approx(v["pixels"] / mask.size, abs=1e-6) for v in r["classes"].values())
        for name, v in r["classes"].items():  # regions against OpenCV on the mask itself
            n, _, stats, _ = cv2.connectedComponentsWithStats((mask == names.index(name)).astype(np.uint8), connectivity=8)
            assert v["regions"] == n - 1 and v["largest"]["area"] == int(stats[1:, cv2.CC_STAT_AREA].max())
    assert "records:" in out


def test_predict_gives_the_labels_seg_run_saves(cli, model, clip, tmp_path):
    code, _, err = cli("run", "--model", model, "--video", clip, "--max-frames", 5, "--save-masks", tmp_path / "m",
                       "--out", tmp_path / "o.mp4")
    assert code == 0, err
    results = list(seg.predict(model, clip, max_frames=5))
    assert [r.index for r in results] == list(range(5)) and all(isinstance(r, Result) for r in results)
    for r in results:
        assert np.array_equal(r.labels, np.array(Image.open(tmp_path / "m" / f"{r.name}.png")))
        assert sum(r.areas().values()) == pytest.approx(1.0) and r.frame is None  # frames only when asked
        assert r.to_dict()["classes"].keys() == r.areas().keys()


def test_predict_on_photos_gives_paths_and_overlays(model, real_voc):
    folder = real_voc / "VOCdevkit" / "VOC2012" / "JPEGImages"
    r = next(iter(seg.predict(model, folder, frames=True)))
    assert r.path.endswith(".jpg") and r.time is None and r.overlay().shape == (*r.labels.shape, 3)


def test_regions_against_a_drawn_mask():
    labels = np.zeros((20, 30), np.uint8)
    labels[2:6, 2:8] = 1
    labels[10:18, 20:29] = 1
    labels[12:14, 2:4] = 2
    r = Result(labels, ["bg", "a", "b"], [[0, 0, 0]] * 3, "x", 0, "x", "m.onnx")
    regs = r.regions()
    assert [g.area for g in regs["a"]] == [72, 24] and regs["a"][0].bbox == (20, 10, 9, 8)
    assert r.to_dict(regions=True)["classes"]["b"] == {"fraction": round(4 / 600, 6), "pixels": 4, "regions": 1,
                                                       "largest": {"area": 4, "bbox": [2, 12, 2, 2]}}


def test_records_are_read_from_a_pipe_while_the_run_goes_on(model, long_clip, tmp_path):
    """--realtime paces the 60 s file at its own 25 FPS: the first records arrive long before the end."""
    proc = subprocess.Popen(SEG + ["run", "--model", str(model), "--video", str(long_clip), "--realtime",
                                   "--save-json", "-", "--out", str(tmp_path / "o.mp4")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = json.loads(proc.stdout.readline())
    assert first["frame"] == 0 and proc.poll() is None  # a record, and the run still going
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143 and "Traceback" not in stderr


def test_a_reader_that_goes_away_stops_the_run_cleanly(model, long_clip, tmp_path):
    """`seg run --save-json - | head -3`."""
    r = subprocess.run(f"{' '.join(SEG)} run --model {model} --video {long_clip} --save-json - --out {tmp_path / 'o.mp4'}"
                       " | head -3", shell=True, capture_output=True, text=True, timeout=120,
                       executable="/bin/bash")
    assert len(r.stdout.splitlines()) == 3 and "Traceback" not in r.stderr and "BrokenPipe" not in r.stderr
    assert "stopped reading" in r.stderr
    cap = cv2.VideoCapture(str(tmp_path / "o.mp4"))
    assert cap.read()[0]  # the video was finalised: it plays


@pytest.mark.slow
def test_predict_runs_in_flat_memory(model, long_clip):
    import tracemalloc

    tracemalloc.start()
    sizes = {}
    for r in seg.predict(model, long_clip):
        if r.index in (300, 1400):
            sizes[r.index] = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert sizes[1400] - sizes[300] < 500_000, sizes  # ~1,100 frames later: no frame or result kept


def test_save_json_in_a_readonly_place_is_refused_before_any_work(cli, model, clip, readonly_dir, tmp_path):
    code, out, err = cli("run", "--model", model, "--video", clip, "--save-json", readonly_dir / "r.jsonl",
                         "--out", tmp_path / "o.mp4")
    assert code == 1 and "not writable" in err and not (tmp_path / "o.mp4").exists()
    code, _, err = cli("run", "--model", model, "--video", clip, "--regions", "--out", tmp_path / "o.mp4")
    assert code == 1 and "--regions adds to the --save-json records" in err
