"""Tables as users read them: one column spec, shown as a rich table in a terminal and as
Markdown everywhere else (pipes, log files, CI), so no cell is ever cut.

In a terminal the table must fit the window: a boxed table if it does, else a dense layout
(no vertical rules, headers one word per line) from which columns with a ``drop`` rank are left
out, highest rank first, until it fits; the caption says which were hidden. Piped output has no width,
so it gets every column, one row per line, in a layout that pastes into an issue or a README.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

from rich import box
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from seg.text import shown


@dataclass(frozen=True)
class Column:
    """``header``, the cell text of a row (``cell(row)``), alignment, and when it may be hidden:
    ``drop`` 0 = always shown; otherwise the rank at which it goes when the terminal is too narrow."""

    header: str
    cell: Callable[[Any], str]
    right: bool = False
    drop: int = 0


def fmt(value: float | None, spec: str, suffix: str = "") -> str:
    """``format(value, spec) + suffix``, or ``-`` for a missing value."""
    return "-" if value is None else format(value, spec) + suffix


def markdown(columns: Sequence[Column], rows: Sequence[Any]) -> str:
    """A GitHub Markdown table of every column."""
    lines = ["| " + " | ".join(c.header for c in columns) + " |",
             "|" + "|".join("---:" if c.right else "---" for c in columns) + "|"]
    lines += ["| " + " | ".join(shown(c.cell(r)).replace("|", "\\|") for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def _rich(columns: Sequence[Column], rows: Sequence[Any], title: str, caption: str, dense: bool = False) -> Table:
    """A boxed rich table, or a dense one (no vertical rules, headers one word per line) for wide data."""
    # Text, not str: a path or a class name with brackets must not be read as rich markup.
    style = dict(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True) if dense else {}
    table = Table(title=Text(shown(title)) if title else None, caption=Text(shown(caption)) if caption else None, **style)
    for c in columns:
        table.add_column(c.header.replace(" ", "\n") if dense else c.header, justify="right" if c.right else "left",
                         no_wrap=c.right, overflow="fold")
    for r in rows:
        table.add_row(*(Text(shown(c.cell(r))) for c in columns))
    return table


def fit(console: Console, columns: Sequence[Column], rows: Sequence[Any]) -> tuple[list[Column], list[Column], bool]:
    """(shown, hidden, dense): the boxed table if it fits ``console``; else the dense layout, with
    the highest-ranked droppable columns left out until it fits."""
    unbounded = console.options.update(max_width=100_000)  # rich clamps a measurement to the width it is given

    def width(cols: Sequence[Column], dense: bool) -> int:
        return Measurement.get(console, unbounded, _rich(cols, rows, "", "", dense)).maximum

    if width(columns, False) <= console.width:
        return list(columns), [], False
    shown, hidden = list(columns), []
    while width(shown, True) > console.width:
        droppable = [c for c in shown if c.drop]
        if not droppable:
            break  # nothing left to hide: rich folds the widest cells rather than cut them
        worst = max(droppable, key=lambda c: c.drop)
        shown.remove(worst)
        hidden.append(worst)
    return shown, hidden, True


def show(console: Console, columns: Sequence[Column], rows: Sequence[Any], title: str = "", caption: str = "") -> None:
    """Print the table: fitted to the terminal, or as Markdown when ``console`` is not one."""
    if not console.is_terminal:
        text = "\n".join(x for x in (shown(title), markdown(columns, rows), shown(caption)) if x)
        console.print(text, soft_wrap=True, highlight=False, markup=False)
        return
    visible, hidden, dense = fit(console, columns, rows)
    if hidden:
        note = f"hidden at this width: {', '.join(c.header for c in hidden)} (a wider window, or pipe it, shows all)"
        caption = f"{caption}; {note}" if caption else note
    console.print(_rich(visible, rows, title, caption, dense))
