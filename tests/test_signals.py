"""Stopped by a service manager: SIGTERM (``docker stop``, systemd) and SIGHUP (a closed terminal)
stop every command as Ctrl-C does (seg.signals). Each test kills a real ``seg`` process at
several points and checks that every output is complete or absent, and no temporary file is left."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest

from seg import signals

SEG = [sys.executable, "-m", "seg.cli"]


def temp_files(*folders: Path) -> list[Path]:
    """Every temporary file seg could leave: `.x.tmp-PID.ext` beside outputs, seg-* scratch folders."""
    found = []
    for folder in folders:
        if folder.exists():
            found += [p for p in folder.rglob("*") if ".tmp-" in p.name or p.name.startswith("seg-")]
    return found


def start(args: list, tmp: Path, **kw) -> subprocess.Popen:
    env = {**os.environ, "TMPDIR": str(tmp)}  # scratch folders land where the test can see them
    return subprocess.Popen(SEG + [str(a) for a in args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, **kw)


def wait_for(proc: subprocess.Popen, text: str, timeout: float = 120) -> str:
    """Read stderr until a line holding ``text`` (the command has reached that point)."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        seen.append(line)
        if text in line:
            return "".join(seen)
    raise AssertionError(f"never printed {text!r}: {''.join(seen)[-2000:]}")


# ---- the policy itself, in-process -------------------------------------------------------------

def test_a_signal_inside_held_acts_when_the_block_ends():
    previous = signals.install()
    try:
        order = []
        with pytest.raises(signals.Stopped) as e:
            with signals.held():
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.05)  # Python runs handlers between bytecodes: it has run by now
                order.append("block finished")
        assert order == ["block finished"] and e.value.signum == signal.SIGTERM
        assert signals.exit_code() == 143 and signals.describe() == "stopped by SIGTERM"
        os.kill(os.getpid(), signal.SIGTERM)  # a second signal while stopping is ignored
        time.sleep(0.05)
    finally:
        signals.restore(previous)


def test_hup_and_int_exit_codes():
    previous = signals.install()
    try:
        with pytest.raises(KeyboardInterrupt):  # Stopped is a KeyboardInterrupt: every Ctrl-C path applies
            os.kill(os.getpid(), signal.SIGHUP)
            time.sleep(0.05)
        assert signals.exit_code() == 129
    finally:
        signals.restore(previous)
    signals.install()
    assert signals.exit_code() == 130 and signals.describe() == "interrupted"  # reset per command


def test_a_signal_waits_for_the_queue_to_be_left_then_acts_within_its_wait():
    """The main thread's queue operations (seg run's segment stage, the cameras' batcher) leave the
    queue's lock before the signal is raised, and the signal does not wait for a frame to come."""
    import queue
    import threading

    q: queue.Queue = queue.Queue(maxsize=1)
    timer = threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGTERM))
    previous = signals.install()
    try:
        t0 = time.monotonic()
        timer.start()
        with pytest.raises(signals.Stopped):
            signals.get(q)  # nothing ever comes
        assert 0.15 < time.monotonic() - t0 < 1.5
        assert q.mutex.acquire(timeout=1)  # the queue's lock is free: the clean-up's puts can run
        q.mutex.release()
        q.put("end")  # and the queue still works
        assert q.get_nowait() == "end"
    finally:
        timer.cancel()
        signals.restore(previous)


def test_held_in_another_thread_does_not_defer_the_main_threads_signal():
    import threading

    inside, done = threading.Event(), threading.Event()

    def worker():
        with signals.held():
            inside.set()
            done.wait(5)

    t = threading.Thread(target=worker)
    previous = signals.install()
    try:
        t.start()
        inside.wait(5)
        with pytest.raises(signals.Stopped):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.5)  # the handler runs in the main thread, not deferred by the worker's block
    finally:
        done.set()
        t.join()
        signals.restore(previous)


# ---- seg run: a playable video of the frames done, or nothing ---------------------------------

@pytest.fixture(scope="module")
def model(fcn_onnx) -> Path:
    return fcn_onnx


@pytest.mark.parametrize("sig,delay", [(signal.SIGTERM, None), (signal.SIGTERM, 0.0), (signal.SIGTERM, 0.7),
                                       (signal.SIGTERM, 2.0), (signal.SIGHUP, 1.0)])
@pytest.mark.slow
def test_run_stopped_keeps_a_playable_video_or_nothing(model, long_clip, tmp_path, sig, delay):
    out = tmp_path / "out" / "o.mp4"
    proc = start(["run", "--model", model, "--video", long_clip, "--out", out, "--save-masks", tmp_path / "masks",
                  "--provider", "cpu"], tmp_path)
    if delay is None:
        time.sleep(0.3)  # still importing: nothing opened yet
    else:
        wait_for(proc, "model input")  # the header: the loop starts now
        time.sleep(delay)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=120)
    # Before seg's own code runs (still importing: delay None on a loaded machine) the signal's default
    # action ends Python with nothing opened: -15, which a shell reports as 143 too.
    assert proc.returncode == 128 + sig or (delay is None and proc.returncode == -sig), stderr[-2000:]
    assert "Traceback" not in stderr
    assert temp_files(tmp_path) == []
    if delay is not None and delay >= 0.7:
        assert out.is_file(), stderr[-2000:]
    if out.exists():
        cap = cv2.VideoCapture(str(out))
        n = 0
        while cap.read()[0]:
            n += 1
        masks = len(list((tmp_path / "masks").glob("*.png")))
        assert 0 < n < 1500 and abs(masks - n) <= 1, (n, masks)  # the summary's frames, all playable
        assert f"{signal.Signals(sig).name}" in stderr and "FPS end to end" in stdout  # the summary was printed
    if delay is not None:
        assert f"stopped by {signal.Signals(sig).name}" in stderr


# ---- export and train: the previous good file stays, no temp file survives ------------------------

@pytest.mark.slow
def test_export_stopped_at_any_point_leaves_the_old_file_and_no_temp(tmp_path, fcn_plain):
    out = tmp_path / "m" / "baseline_fcn.onnx"
    out.parent.mkdir()
    shutil.copy(fcn_plain, out)  # the previous good export (the same model)
    good = out.read_bytes()
    for delay in (1.5, 3.5, 5.5):
        proc = start(["export", "--model", "baseline_fcn", "--random-init", "--out", out], tmp_path)
        time.sleep(delay)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=120)
        assert proc.returncode in (0, 143), stderr[-2000:]
        assert "Traceback" not in stderr
        assert temp_files(tmp_path) == [], delay
        import onnx

        onnx.checker.check_model(onnx.load(str(out)))
        now = out.read_bytes()
        if now != good:  # replaced only by a complete, verified export (SIGTERM after its last write, or none)
            from seg.metadata import read_meta

            assert read_meta(out)["verification"]["passed"] is True, (delay, proc.returncode)
            good = now


@pytest.mark.slow
def test_int8_export_stopped_leaves_no_scratch_folder(tmp_path, synth_root, fcn_plain):
    fp32 = tmp_path / "m" / "baseline_fcn.onnx"
    fp32.parent.mkdir()
    shutil.copy(fcn_plain, fp32)
    for step in ("quantising", "guardrail"):
        proc = start(["export", "--onnx", fp32, "--precision", "int8", "--calib-data", synth_root], tmp_path)
        wait_for(proc, step)
        time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=120)
        assert proc.returncode in (0, 143) and "Traceback" not in stderr, stderr[-2000:]
        assert temp_files(tmp_path) == [], step


@pytest.mark.slow
def test_train_stopped_keeps_a_loadable_checkpoint_and_no_temp(tmp_path, synth_root):
    import torch

    runs = tmp_path / "runs"
    for delay in (4.0, 8.0):
        proc = start(["train", "--model", "baseline_fcn", "--data", synth_root, "--out", runs, "--epochs", 50,
                      "--batch-size", 4, "--crop-size", 64, "--workers", 0], tmp_path)
        time.sleep(delay)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 143 and "Traceback" not in stderr, stderr[-2000:]
        assert temp_files(tmp_path) == [], delay
        for ckpt in (runs / "baseline_fcn").glob("*.pt"):
            torch.load(ckpt, weights_only=False)  # complete
