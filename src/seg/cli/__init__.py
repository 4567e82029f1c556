"""The ``seg`` command line: a thin typer layer, one library call per command.

One module per command group (``data``, ``training``, ``export``, ``run``, ``info``, ``bench``),
``_common`` for what they share; this file lists the commands in the order ``seg --help`` shows
them (a user's path: models, data, train, eval, export, run, info, doctor, bench, demo) and owns
the entry point. Errors the user can fix are raised as :class:`seg.errors.SegError` anywhere
below and printed here as one line (``error: ...``) with exit code 1; usage errors (an unknown
option, a value out of its range, an input path that does not exist or is of the wrong kind) are
one line too, with exit code 2.
"""

from __future__ import annotations

import signal
import sys
import time
import warnings

import typer

from seg import __version__, signals
from seg.cli import _common, batch, bench, data, export, info, run, training
from seg.cli._common import MODEL_NAMES, PROVIDER_CHOICES, _error, err, out_console  # noqa: F401  (re-exported)
from seg.errors import SegError

# rich_markup_mode=None: click's plain help, which wraps every cell at the terminal's width; typer's
# boxed rich help cut option names and defaults with an ellipsis at 80 columns.
app = typer.Typer(
    help="seg: train, export, run and benchmark semantic-segmentation models (PyTorch -> ONNX).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
)
app.add_typer(data.app, name="data")
app.command()(info.models)
app.command()(training.train)
app.command("eval")(training.evaluate)
app.command()(export.export)
app.command()(run.run)
app.command()(batch.batch)
app.command()(info.info)
app.command()(info.doctor)
app.command()(bench.bench)
app.command()(bench.demo)


def _version(value: bool) -> None:
    if value:
        out_console.print(f"seg {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    pass


def _click_exception() -> type[Exception]:
    """click's ClickException, wherever this typer keeps click (vendored as typer._click since 0.2x)."""
    try:
        from typer._click.exceptions import ClickException
    except ImportError:  # older typer: the click package
        from click.exceptions import ClickException
    return ClickException


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: every error is one line on stderr and an exit code.

    ``SegError`` -> ``error: ...``, exit 1; a usage error (click's) -> ``error: ...`` with the
    command's help hint, exit 2; Ctrl-C, SIGTERM, SIGHUP -> outputs finalised, temp files removed
    (:mod:`seg.signals`), ``interrupted`` / ``stopped by SIGTERM``, exit 130 / 143 / 129.
    """
    _common.started = time.perf_counter()
    # torch 2.11 warns about its own pytree API from inside export and deepcopy (seen on the GPU
    # machine, once per model): nothing a user can act on.
    warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated", category=FutureWarning)
    click_exception = _click_exception()
    previous = signals.install()
    try:
        # standalone_mode=False: click hands usage errors to us instead of printing a boxed panel.
        code = app(args=argv, prog_name="seg", standalone_mode=False)
    except SegError as e:
        msg = str(e)
        if "Original Traceback" in msg:  # re-raised from a DataLoader worker: keep the original line
            msg = msg.rstrip().splitlines()[-1].split("SegError: ", 1)[-1]
        if signals.received is not None:  # a signal cut a step that reported it as an error
            err.print(signals.describe())
            sys.exit(signals.exit_code())
        _error(msg)
        sys.exit(1)
    except click_exception as e:
        ctx = getattr(e, "ctx", None)
        hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        _error(f"{e.format_message()}{hint}")
        sys.exit(getattr(e, "exit_code", 2))
    except (KeyboardInterrupt, typer.Abort):  # click turns KeyboardInterrupt into Abort
        err.print(signals.describe())
        sys.exit(signals.exit_code())
    finally:
        # As a process (argv None) seg is exiting: a late signal must not kill it with -15 after
        # its work is done, so signals are ignored from here on. In-process callers get theirs back.
        signals.restore(previous if argv is not None else {s: signal.SIG_IGN for s in previous})
    if code in (129, 130, 143):  # typer turns KeyboardInterrupt (any signal, seg.signals) into Exit(130)
        err.print(signals.describe())
        code = signals.exit_code()
    sys.exit(code if isinstance(code, int) else 0)

