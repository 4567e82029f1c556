"""Text from files, shown safely: the one rule for printing what seg did not write itself.

A model's metadata (``seg.model``, ``seg.class_names``, ...), a file name and an error message
quoting either are untrusted input: an ONNX file can carry terminal escapes that clear the screen,
set the window title or plant a clickable link, and a newline in a name splits a line of output.
Everything shown on a console goes through :func:`shown` (the tables, the one-line errors, the
warnings) or at least :func:`no_escapes` (every print of :class:`SafeConsole`); ``--json`` output
stays exact, since JSON escapes control characters itself.
"""

from __future__ import annotations

import re
from typing import Any

from rich.console import Console

# C0 controls, DEL, C1 controls, and the Unicode format characters that reorder or hide text
# (bidi overrides and isolates, zero-width characters): what `ls` would quote.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")
_UNSAFE_KEEP_LINES = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


def _escape(match: re.Match) -> str:
    c = match.group()
    return {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\x1b": "\\e"}.get(c, f"\\x{ord(c):02x}" if ord(c) < 0x100
                                                                     else f"\\u{ord(c):04x}")


def shown(value: Any) -> str:
    """``str(value)`` with every control character escaped (``\\e``, ``\\n``, ``\\x07``, ``\\u202e``):
    one line, nothing the terminal acts on."""
    return _UNSAFE.sub(_escape, str(value))


def no_escapes(value: str) -> str:
    """Control characters escaped except newline and tab: for text that may span lines on purpose."""
    return _UNSAFE_KEEP_LINES.sub(_escape, value)


class SafeConsole(Console):
    """A rich Console whose ``print`` escapes control characters in plain strings (rich writes its
    own styles and cursor moves after this, so progress bars and colours still work)."""

    def print(self, *objects: Any, **kwargs: Any) -> None:  # type: ignore[override]
        super().print(*(no_escapes(o) if isinstance(o, str) else o for o in objects), **kwargs)


def plural(n: int, word: str, words: str | None = None) -> str:
    """``1 frame``, ``2 frames``, ``1 candidate``."""
    return f"{n} {word if n == 1 else (words or word + 's')}"


def article(word: str) -> str:
    """``an int8``, ``an e2e``, ``an fp16`` (read "eff-pee"), ``a video``: the article as the word is read."""
    return f"{'an' if word[:1].lower() in 'aeio' or word.lower().startswith(('fp', 'mp4')) else 'a'} {word}"
