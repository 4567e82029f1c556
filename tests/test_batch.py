"""Issue 23: `seg batch` on Ray. The masks equal `seg run`'s, the manifest holds every input once
(across a resume, and when a worker node is lost mid-run), bad input is one line."""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ray = pytest.importorskip("ray", reason='seg batch needs the [ray] extra: pip install "seg-onnx[ray]"')


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray for the module's single-node tests (each ray.init costs ~6 s)."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield
    ray.shutdown()


def _manifest(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]


def _masks(folder: Path) -> dict[str, np.ndarray]:
    return {p.stem: np.array(Image.open(p)) for p in sorted(folder.glob("*.png"))}


@pytest.mark.slow
def test_batch_writes_what_seg_run_writes(cli, fcn_onnx, real_voc, local_ray, tmp_path):
    photos = real_voc / "VOCdevkit" / "VOC2012" / "JPEGImages"
    clip = tmp_path / "clips" / "bikes.mp4"
    clip.parent.mkdir()
    _cut(real_voc / "video" / "bikes.mp4", clip, 12)
    code, out, err = cli("batch", photos, clip.parent, "--model", fcn_onnx, "--out", tmp_path / "b", "--actors", 2,
                         "--batch", 3, "--overlays")
    assert code == 0, err
    rows = _manifest(tmp_path / "b")
    assert len(rows) == 13 + 12 and all(r["status"] == "ok" for r in rows)
    assert len({(r["source"], r["index"]) for r in rows}) == len(rows)
    assert "25 rows written" in out
    import cv2

    over = cv2.imread(str(tmp_path / "b" / "overlays" / "JPEGImages" / "2007_000032.jpg"))
    assert over is not None and over.shape == (281, 500, 3)  # the overlay at the photo's size
    # the same masks as seg run's, photo for photo and frame for frame
    assert cli("run", "--model", fcn_onnx, "--folder", photos, "--out", tmp_path / "ro", "--save-masks",
               tmp_path / "rm")[0] == 0
    assert cli("run", "--model", fcn_onnx, "--video", clip, "--out", tmp_path / "rv.mp4", "--save-masks",
               tmp_path / "rvm")[0] == 0
    batch_photos, run_photos = _masks(tmp_path / "b" / "JPEGImages"), _masks(tmp_path / "rm")
    assert batch_photos.keys() == run_photos.keys() and len(batch_photos) == 13
    assert all(np.array_equal(batch_photos[k], run_photos[k]) for k in run_photos)
    frames, run_frames = _masks(tmp_path / "b" / "clips" / "bikes"), _masks(tmp_path / "rvm")
    assert len(frames) == 12 and all(np.array_equal(frames[f"{i:06d}"], run_frames[f"bikes_{i:06d}"]) for i in range(12))
    # a photo's row: where its mask went and its class pixel counts, which add up to the photo
    row = next(r for r in rows if r["source"] == "JPEGImages/2007_000032.jpg")
    assert row["output"] == "JPEGImages/2007_000032.png" and sum(row["pixels"].values()) == 500 * 281


@pytest.mark.slow
def test_a_second_run_skips_what_is_done_and_failures_are_rows(cli, fcn_onnx, real_voc, local_ray, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for p in sorted((real_voc / "VOCdevkit" / "VOC2012" / "JPEGImages").glob("*.jpg"))[:4]:
        shutil.copy(p, photos / p.name)
    (photos / "broken.jpg").write_bytes(b"not a jpeg")
    code, out, err = cli("batch", photos, "--model", fcn_onnx, "--out", tmp_path / "b")
    assert code == 1 and "1 item could not be segmented" in err and err.count("\n") == 1, err
    rows = _manifest(tmp_path / "b")
    (bad,) = [r for r in rows if r["status"] == "failed"]
    assert bad["source"] == "broken.jpg" and "not a readable image" in bad["error"] and len(rows) == 5
    shutil.copy(photos / "2007_000032.jpg", photos / "new.jpg")
    code, out, err = cli("batch", photos, "--model", fcn_onnx, "--out", tmp_path / "b")
    assert code == 1 and "2 rows written" in out and "4 already in the manifest" in out, out
    rows = _manifest(tmp_path / "b")  # the failed one tried again, not listed twice
    assert sorted(r["source"] for r in rows) == ["2007_000032.jpg", "2007_000033.jpg", "2007_000039.jpg",
                                                "2007_000042.jpg", "broken.jpg", "new.jpg"]


@pytest.mark.parametrize("args, message", [
    (["nothing-here"], "input nothing-here does not exist"),
    (["{photos}", "--ray-address", "no-port"], "--ray-address no-port: give auto, HOST:PORT"),
    (["{photos}", "--ray-address", "127.0.0.1:1"], "--ray-address 127.0.0.1:1: cannot reach it within 5 s"),
])
def test_batch_bad_input_is_one_line(cli, fcn_onnx, real_voc, tmp_path, args, message):
    photos = str(real_voc / "VOCdevkit" / "VOC2012" / "JPEGImages")
    code, _, err = cli("batch", *[a.format(photos=photos) for a in args], "--model", fcn_onnx, "--out", tmp_path / "b")
    assert code == 1 and message in err and err.count("\n") == 1, err


@pytest.mark.slow
def test_a_lost_node_loses_no_input(fcn_onnx, real_voc, tmp_path):
    """A simulated 2-node cluster (Ray's own test harness); the worker node removed mid-run: every
    photo is in the manifest exactly once, none missing."""
    from ray.cluster_utils import Cluster

    from seg.batch import run_batch

    if ray.is_initialized():
        ray.shutdown()  # the module's local Ray: this test brings its own cluster
    photos = tmp_path / "photos"
    photos.mkdir()
    sources = sorted((real_voc / "VOCdevkit" / "VOC2012" / "JPEGImages").glob("*.jpg"))
    for k in range(160):
        shutil.copy(sources[k % len(sources)], photos / f"{k:04d}.jpg")
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    worker = cluster.add_node(num_cpus=1)
    try:
        ray.init(address=cluster.address, log_to_driver=False, logging_level="ERROR")
        cluster.wait_for_nodes()
        seen = []
        result: dict = {}

        def go() -> None:
            result["summary"] = run_batch(fcn_onnx, [str(photos)], tmp_path / "b", actors=2, batch=2,
                                          cpus_per_actor=0.5, on_rows=lambda done, total: seen.append(done))
        t = threading.Thread(target=go)
        t.start()
        deadline = time.time() + 120
        while not seen and time.time() < deadline:
            time.sleep(0.05)
        assert seen, "no row came back"
        cluster.remove_node(worker)  # mid-run: its actor and tasks are lost
        removed_at = seen[-1]
        t.join(timeout=300)
        assert not t.is_alive()
        rows = _manifest(tmp_path / "b")
        keys = [r["source"] for r in rows]
        assert sorted(keys) == [f"{k:04d}.jpg" for k in range(160)]  # each once, none missing
        assert all(r["status"] == "ok" for r in rows) and removed_at < 160
    finally:
        ray.shutdown()
        cluster.shutdown()


def _cut(src: Path, dst: Path, frames: int) -> None:
    """The first ``frames`` frames of a real clip, as an mp4 (what a camera archive holds)."""
    import cv2

    cap = cv2.VideoCapture(str(src))
    ok, frame = cap.read()
    h, w = frame.shape[:2]
    vw = cv2.VideoWriter(str(dst), cv2.VideoWriter_fourcc(*"mp4v"), 25, (w, h))
    for _ in range(frames):
        vw.write(frame)
        ok, frame = cap.read()
    vw.release()
    cap.release()
