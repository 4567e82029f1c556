"""One signal policy for every command: SIGINT (Ctrl-C), SIGTERM (``docker stop``, systemd) and
SIGHUP (a closed terminal) all stop a command the same way.

The first of them raises :class:`Stopped` (a ``KeyboardInterrupt``) in the main thread, so every
path that already finishes cleanly on Ctrl-C does so on all three: ``seg run`` closes its video
(playable, with the frames done so far) and prints its summary, ``seg bench`` keeps its partial
report, and every ``with`` block that owns a temporary file (``seg._io.atomic_path``,
``seg._io.scratch_dir``) removes it. Code that must not be cut in the middle (a rename onto a
user's file, a temp file's removal, a video container's finalisation) runs inside :func:`held`:
a signal arriving there is acted on when the block ends. A second signal while the first is being
handled is ignored (SIGKILL still ends the process), so clean-up is never cut short.
The command exits with 128 + the signal's number: 130, 143, 129.
"""

from __future__ import annotations

import os
import queue
import signal
import threading
from contextlib import contextmanager
from typing import Callable, Iterator, TypeVar

T = TypeVar("T")

HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

received: int | None = None  # the first signal of this command, if any
_pending = False  # a signal arrived inside held() and has not been raised yet
_depth = 0  # nesting of held()


class Stopped(KeyboardInterrupt):
    """A signal asked the command to stop; ``signum`` says which."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _handler(signum: int, frame) -> None:
    global received, _pending
    if received is not None:  # already stopping: let the clean-up finish
        os.write(2, b"\nstill finishing the outputs; SIGKILL ends seg at once\n")
        return
    received = signum
    if _depth:
        _pending = True
        return
    raise Stopped(signum)


def install() -> dict[int, object]:
    """Handle the three signals (main thread only, where Python delivers them); returns the
    previous handlers for :func:`restore`. Resets what an earlier in-process command received."""
    global received, _pending, _depth
    received, _pending, _depth = None, False, 0
    if threading.current_thread() is not threading.main_thread():
        return {}
    previous = {}
    for s in HANDLED:
        previous[s] = signal.getsignal(s)
        signal.signal(s, _handler)
    return previous


def restore(previous: dict[int, object]) -> None:
    for s, h in previous.items():
        signal.signal(s, h)  # type: ignore[arg-type]


@contextmanager
def held(reraise: bool = True) -> Iterator[None]:
    """Run the block whole: a signal that arrives inside is raised when it ends (``reraise``), or
    only recorded in :data:`received` (``reraise=False``: the caller reports it as an interruption).
    Python runs signal handlers in the main thread only: elsewhere there is nothing to hold."""
    global _depth, _pending
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if _depth == 0 and _pending:
            _pending = False
            if reraise and received is not None:
                raise Stopped(received)


def get(q: queue.Queue):
    """``q.get()`` for the main thread: the signal is acted on between waits of 0.1 s, never inside
    the queue's lock. Raised there (a lock's wait is interruptible), it left the lock held or
    released a lock another thread held, and the clean-up's next put waited forever: a ``seg run``
    stopped by SIGTERM hung on a loaded 2-core machine."""
    return _patiently(lambda: q.get(timeout=0.1), queue.Empty)


def put(q: queue.Queue, item) -> None:
    """``q.put(item)`` for the main thread, by the same rule as :func:`get`."""
    _patiently(lambda: q.put(item, timeout=0.1), queue.Full)


def acquire(semaphore: threading.Semaphore, timeout: float) -> bool:
    """``semaphore.acquire(timeout=timeout)``, never cut by a signal inside the semaphore's lock:
    False when it timed out (the caller waits again)."""
    with held():
        return semaphore.acquire(timeout=timeout)


def _patiently(wait: Callable[[], T], again: type[Exception]) -> T:
    """``wait()``, a short wait on a lock, repeated while it raises ``again``; a signal that comes
    during a wait is acted on between them (:func:`held`), never inside the lock."""
    while True:
        with held():
            try:
                return wait()
            except again:
                pass


def exit_code() -> int:
    """128 + the signal that stopped the command (130 for Ctrl-C when none was recorded)."""
    return 128 + (received or signal.SIGINT)


def describe() -> str:
    """'interrupted' for Ctrl-C, else 'stopped by SIGTERM' (or SIGHUP)."""
    if received in (None, signal.SIGINT):
        return "interrupted"
    return f"stopped by {signal.Signals(received).name}"
