"""Run ``seg`` the way users do: in a pseudo-terminal of a given size, or piped.

Progress bars, live tables and the terminal layout of tables only exist when stdout/stderr are
a terminal; a suite that runs commands with captured output never executes them.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

# `seg` as its console script runs it, with the suite's export memo (tests/seg_traced.py)
SEG = [sys.executable, str(Path(__file__).with_name("seg_traced.py"))]

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07|\x1b[()][A-Z0-9]")


def _env(extra: dict[str, str] | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR", "TERM")}
    env["TERM"] = "xterm-256color"
    env.update(extra or {})
    return env


def run_in_terminal(*args: object, cols: int = 80, rows: int = 40, timeout: float = 300, cwd: Path | None = None,
                    env: dict[str, str] | None = None, raw: bool = False) -> tuple[int, str]:
    """``seg ARGS`` in a pseudo-terminal of ``cols`` x ``rows``; (exit code, output without ANSI codes,
    or with ``raw`` the bytes as the terminal received them, decoded).

    The size is set on the terminal itself (TIOCSWINSZ) and COLUMNS is unset, so the program
    finds it as it would in a real terminal."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    proc = subprocess.Popen([*SEG, *map(str, args)], stdin=slave, stdout=slave, stderr=slave,
                            cwd=cwd, env=_env(env), start_new_session=True)
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            if time.monotonic() > deadline:
                proc.kill()
                raise TimeoutError(f"seg {' '.join(map(str, args))} ran past {timeout} s")
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    data = os.read(master, 1 << 16)
                except OSError:  # EIO: the child closed its side of the terminal
                    break
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                break
    finally:
        os.close(master)
    code = proc.wait(timeout=30)
    if raw:
        return code, b"".join(chunks).decode("utf-8", "replace")
    return code, _ANSI.sub("", b"".join(chunks).decode("utf-8", "replace")).replace("\r\n", "\n")


def run_piped(*args: object, cwd: Path | None = None, env: dict[str, str] | None = None,
              timeout: float = 300) -> subprocess.CompletedProcess:
    """``seg ARGS`` with stdout and stderr piped (a log file, CI, ``| less``)."""
    return subprocess.run([*SEG, *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          env=_env(env), timeout=timeout)


def screen_lines(output: str) -> list[str]:
    """The lines as they end up on screen: a carriage return starts the line over (progress bars)."""
    return [ln.rsplit("\r", 1)[-1] for ln in output.split("\n")]
