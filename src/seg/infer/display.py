"""Can ``seg run --show`` open a window here? Asked before the run, because OpenCV's Qt backend
aborts the whole process (exit 134, no output written) when it cannot reach a display."""

from __future__ import annotations

import os
import subprocess
import sys

import cv2

_PROBE = "import cv2; cv2.namedWindow('seg'); cv2.waitKey(1); cv2.destroyAllWindows()"


def display_problem() -> str | None:
    """Why no window can be shown here, or None when one can.

    The cheap checks first (an OpenCV build without GUI, no display variable on Linux); then a
    window is opened in a child process, so an abort there costs this process nothing.
    """
    gui = next((ln.split(":", 1)[1].strip() for ln in cv2.getBuildInformation().splitlines()
                if ln.strip().startswith("GUI:")), "")
    if gui.upper() == "NONE":
        return "this OpenCV build has no GUI support (opencv-python-headless?)"
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return "no display (DISPLAY is not set)"
    try:
        r = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        return "opening a window timed out"
    if r.returncode != 0:
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        return f"cannot open a window ({lines[0].strip() if lines else f'exit code {r.returncode}'})"
    return None
