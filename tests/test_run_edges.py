"""`seg run` where users' machines and files differ from ours: no display, huge frames, a
read-only model folder, broken metadata, unreadable folders, clashing names, streams that stall."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest

from seg.errors import SegError
from seg.infer import Segmenter
from seg.infer.preprocess import model_size

from conftest import set_readonly


@pytest.fixture(scope="module")
def model(fcn_plain) -> Path:
    return fcn_plain


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    from seg.data.synth import write_video

    return write_video(tmp_path_factory.mktemp("v") / "clip.mp4", frames=4, width=96, height=64, progress=False)


def edited(model: Path, out: Path, **props: str) -> Path:
    """A copy of ``model`` with some seg.* metadata values replaced."""
    m = onnx.load(str(model))
    for p in m.metadata_props:
        if p.key[4:] in props:
            p.value = props.pop(p.key[4:])
    for k, v in props.items():
        m.metadata_props.add(key=f"seg.{k}", value=v)
    onnx.save(m, str(out))
    return out


# ---- row 3: --show without a display -----------------------------------------------------------

def test_show_without_a_display_warns_and_runs_headless(model, video, tmp_path):
    """OpenCV's Qt backend used to abort the process (exit 134) with nothing written."""
    env = {k: v for k, v in __import__("os").environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    r = subprocess.run([sys.executable, "-m", "seg.cli", "run", "--model", model, "--video", video, "--show",
                        "--out", tmp_path / "o.mp4", "--imgsz", "64"], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert "warning: --show:" in r.stderr and "running without a window" in r.stderr
    assert (tmp_path / "o.mp4").is_file()


def test_display_probe_reports_an_unreachable_display(monkeypatch):
    from seg.infer.display import display_problem

    monkeypatch.setenv("DISPLAY", ":97")  # set, but nothing listens there
    problem = display_problem()
    assert problem is not None and ("cannot open a window" in problem or "no GUI" in problem)


# ---- row 4: sizes at their edges ----------------------------------------------------------------

def test_native_size_of_a_huge_photo_is_capped():
    assert model_size(6000, 8000, 0) == (3072, 4096)
    assert model_size(97, 131, 0) == (96, 128)


def test_an_onnx_runtime_failure_is_one_line(model):
    seg = Segmenter(model, provider="cpu", imgsz=64)
    with pytest.raises(SegError, match=r"ONNX Runtime failed on a 1x3x0x0 input to .*baseline_fcn.onnx"):
        seg.infer(np.zeros((1, 3, 0, 0), np.float32))


def test_python_callers_get_the_same_size_bounds(model):
    for bad in (-1, 8, 5000):
        with pytest.raises(SegError, match="out of range"):
            Segmenter(model, provider="cpu", imgsz=bad)


# ---- row 5: --save-optimized beside a read-only model ----------------------------------------------

def test_save_optimized_falls_back_to_the_user_cache(model, readonly_dir, tmp_path, monkeypatch):
    """A read-only model folder (usual on edge devices) used to raise PermissionError."""
    import shutil

    from seg.infer.session import optimized_cache_path

    monkeypatch.setenv("SEG_CACHE_DIR", str(tmp_path / "cache"))
    set_readonly(readonly_dir, False)
    shutil.copy(model, readonly_dir / "m.onnx")
    set_readonly(readonly_dir, True)
    seg = Segmenter(readonly_dir / "m.onnx", provider="cpu", imgsz=64, save_optimized=True)
    assert seg.predict(np.zeros((48, 64, 3), np.uint8)).shape == (48, 64)
    cached = optimized_cache_path(readonly_dir / "m.onnx")
    assert cached.parent == tmp_path / "cache" / "ort" and cached.is_file()
    assert not (readonly_dir / ".ort-cache").exists()


# ---- row 9: broken files ---------------------------------------------------------------------------

@pytest.mark.parametrize("props, message", [
    ({"palette": json.dumps([[0, 0, 0]] * 3)}, "metadata seg.palette should hold 21 [r, g, b] colours"),
    ({"mean": "[0.4, 0.4"}, "metadata seg.mean is not valid JSON"),
    ({"class_names": json.dumps(["a", "b"])}, "metadata seg.class_names should list 21 class names"),
    ({"num_classes": "12"}, "metadata seg.class_names should list 12"),
    ({"num_classes": "lots"}, "metadata seg.num_classes is 'lots', not a number"),
    ({"std": "[0, 1, 1]"}, "metadata seg.std must be positive"),
    ({"imgsz": "big"}, "metadata seg.imgsz is 'big'"),
])
def test_broken_metadata_is_one_line(cli, model, video, tmp_path, props, message):
    bad = edited(model, tmp_path / "bad.onnx", **props)
    code, _, err = cli("run", "--model", bad, "--video", video, "--out", tmp_path / "o.mp4")
    assert code == 1 and message in err and str(bad) in err and err.count("\n") == 1
    assert not (tmp_path / "o.mp4").exists()


def test_metadata_naming_fewer_classes_than_the_model_outputs(cli, model, video, tmp_path):
    names = json.dumps([f"c{i}" for i in range(3)])
    bad = edited(model, tmp_path / "bad.onnx", num_classes="3", class_names=names, palette=json.dumps([[1, 2, 3]] * 3))
    code, _, err = cli("run", "--model", bad, "--video", video)
    assert code == 1 and "the model outputs 21 classes but its metadata names 3" in err


# ---- row 11: nothing could be processed ------------------------------------------------------------

def test_a_folder_of_unreadable_files_fails(cli, model, tmp_path):
    folder = tmp_path / "junk"
    folder.mkdir()
    (folder / "a.jpg").write_text("not an image")
    (folder / "b.png").write_bytes(b"\x89PNG broken")
    code, _, err = cli("run", "--model", model, "--folder", folder, "--out", tmp_path / "o")
    assert code == 1 and "no frame was processed: none of the 2 files could be read as an image" in err
    assert "Traceback" not in err


# ---- row 12: outputs never overwrite each other silently ------------------------------------------------

def test_same_stem_different_suffix_keeps_both(cli, model, tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    img = np.full((40, 56, 3), 128, np.uint8)
    cv2.imwrite(str(folder / "x.jpg"), img)
    cv2.imwrite(str(folder / "x.png"), img)
    cv2.imwrite(str(folder / "y.png"), img)
    code, _, err = cli("run", "--model", model, "--folder", folder, "--out", tmp_path / "o",
                       "--save-masks", tmp_path / "m", "--imgsz", 64)
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["x_jpg.jpg", "x_png.jpg", "y.jpg"]
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["x_jpg.png", "x_png.png", "y.png"]


def test_each_model_file_gets_its_own_default_output_and_reruns_say_so(cli, model, video, tmp_path):
    import shutil

    runs = tmp_path / "runs"
    other = tmp_path / "baseline_fcn.e2e.onnx"
    shutil.copy(model, other)  # a second model file (its content does not matter here)
    for m in (model, other):
        code, _, err = cli("run", "--model", m, "--video", video, "--runs", runs, "--imgsz", 64)
        assert code == 0 and "warning" not in err, err
    assert sorted(p.name for p in (runs / "predict").iterdir()) == ["clip-baseline_fcn", "clip-baseline_fcn.e2e"]
    code, _, err = cli("run", "--model", model, "--video", video, "--runs", runs, "--imgsz", 64)
    assert code == 0 and f"warning: replacing {runs / 'predict' / 'clip-baseline_fcn' / 'clip.mp4'}" in err


# ---- row 13: streams that never send, or stall ----------------------------------------------------------

class _Stream:
    """An HTTP MJPEG server on localhost: ``frames`` JPEGs, then silence with the connection open."""

    def __init__(self, frames: int):
        self.frames = frames
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/cam.mjpg"
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self._send, args=(conn,), daemon=True).start()

    def _send(self, conn: socket.socket) -> None:
        try:
            conn.recv(4096)
            if not self.frames:
                return  # connected, never answers
            conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=frame\r\n\r\n")
            for i in range(self.frames):
                jpg = cv2.imencode(".jpg", np.full((48, 64, 3), 10 * i % 255, np.uint8))[1].tobytes()
                conn.sendall(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(jpg) + jpg + b"\r\n")
                time.sleep(0.01)
        except OSError:
            pass

    def close(self) -> None:
        self.sock.close()
        for c in self.conns:
            c.close()


def test_a_stream_that_never_sends_times_out(cli, model, tmp_path):
    stream = _Stream(frames=0)
    try:
        t = time.perf_counter()
        code, _, err = cli("run", "--model", model, "--source", stream.url, "--timeout", 1, "--out", tmp_path / "o.mp4")
        took = time.perf_counter() - t
    finally:
        stream.close()
    assert code == 1 and f"cannot open camera or stream {stream.url} (nothing within 1 s" in err
    assert took < 10  # OpenCV's own default waits 30 s


def test_a_stream_that_stalls_ends_with_a_warning(cli, model, tmp_path):
    stream = _Stream(frames=12)
    try:
        code, out, err = cli("run", "--model", model, "--source", stream.url, "--timeout", 1, "--imgsz", 64,
                             "--out", tmp_path / "o.mp4")
    finally:
        stream.close()
    assert code == 0, err
    assert f"warning: {stream.url} stopped sending after 12 frames" in err and "12 frames" in out
    assert (tmp_path / "o.mp4").is_file()


# ---- noise: OpenCV's own log lines -----------------------------------------------------------------------

def test_a_missing_camera_is_one_line_without_opencv_logs(model, tmp_path):
    r = subprocess.run([sys.executable, "-m", "seg.cli", "run", "--model", model, "--source", "7", "--timeout", "1",
                        "--out", tmp_path / "o.mp4"], capture_output=True, text=True)
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "[ERROR" not in r.stderr, r.stderr
    assert "cannot open camera or stream 7" in r.stderr
