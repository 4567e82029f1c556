"""Commands as users run them: in a terminal (progress bars and the terminal table layout
execute only there), at 80 columns, and piped into a file. Each runs the installed CLI in a
child process, as a user's shell would."""

from __future__ import annotations

import json

import pytest

from terminal import run_in_terminal, run_piped, screen_lines

pytestmark = pytest.mark.slow


def assert_clean(code: int, out: str) -> None:
    assert code == 0, out[-3000:]
    assert "Traceback" not in out and "Error" not in out.replace("error:", ""), out[-3000:]


def table_rows(out: str, first_cells: tuple[str, ...]) -> list[str]:
    """The screen lines of a table whose rows start with one of ``first_cells`` (boxed or dense);
    progress-bar lines (drawn with ━) are not table rows."""
    return [ln for ln in screen_lines(out) if ln.lstrip("│ ").startswith(first_cells) and "━" not in ln]


@pytest.fixture(scope="module")
def term_runs(synth_root, tmp_path_factory):
    """A runs folder filled by `seg train` in a terminal: the run every interactive user makes."""
    runs = tmp_path_factory.mktemp("term_runs")
    code, out = run_in_terminal("train", "--model", "baseline_fcn", "--data", synth_root, "--out", runs, "--epochs", 2,
                                "--batch-size", 4, "--crop-size", 64, "--workers", 0)
    return runs, code, out


def test_train_in_a_terminal_completes_with_checkpoints(term_runs):
    """It died with KeyError: 'info' at the first evaluation, before any checkpoint was written."""
    runs, code, out = term_runs
    assert_clean(code, out)
    assert "epoch   2" in out and "best val mIoU" in out
    assert (runs / "baseline_fcn" / "best.pt").is_file() and (runs / "baseline_fcn" / "results.json").is_file()


def test_eval_in_a_terminal_prints_the_table(term_runs, synth_root, tmp_path):
    runs = term_runs[0]
    code, out = run_in_terminal("eval", "--checkpoint", runs / "baseline_fcn" / "best.pt", "--data", synth_root,
                                "--json", tmp_path / "new" / "dir" / "v.json")
    assert_clean(code, out)
    assert "mIoU" in out and "│ background" in out  # the boxed terminal table, not the piped Markdown
    saved = json.loads((tmp_path / "new" / "dir" / "v.json").read_text())  # missing parents are made
    assert f"mIoU {saved['miou']:.4f}" in out


def test_export_table_fits_80_columns(term_runs, tmp_path):
    runs = term_runs[0]
    code, out = run_in_terminal("export", "--model", "baseline_fcn", "--runs", runs, "--no-simplify",
                                "--out", tmp_path / "m.onnx", cols=80)
    assert_clean(code, out)
    rows = table_rows(out, ("CPU",))
    assert len(rows) == 3, out
    assert all(len(r) <= 80 for r in rows) and "…" not in out
    for shape in ("2x3x256x256", "1x3x333x257", "1x3x97x131"):  # was cut to "1x3x333x2…"
        assert shape in out


def test_run_in_a_terminal(term_runs, tmp_path):
    from seg.data.synth import write_video

    from seg.export import export_checkpoint

    runs = term_runs[0]
    export_checkpoint("baseline_fcn", runs=runs, verify_shapes=None)  # the export's own terminal test is above
    video = write_video(tmp_path / "v.mp4", frames=6, width=96, height=64, progress=False)
    code, out = run_in_terminal("run", "--model", "baseline_fcn", "--runs", runs, "--video", video, "--imgsz", 64)
    assert_clean(code, out)
    assert "6 frames" in out and (runs / "predict" / "v-baseline_fcn" / "v.mp4").is_file()


@pytest.fixture(scope="module")
def bench_args(tmp_path_factory, synth_root):
    from seg.bench_entries import resolve_entries

    runs = tmp_path_factory.mktemp("term_bench")
    # The untrained export that `--random-init` makes, made here in-process by bench's own code (its
    # trace shared with the suite's): these tests are about the table in a terminal, not the exporter.
    resolve_entries(["baseline_fcn"], runs, random_init=True, log=lambda m: None)
    return ["bench", "--models", "baseline_fcn", "--random-init", "--runs-dir", runs, "--data", synth_root,
            "--size", 64, 64, "--runs", 2, "--warmup", 0, "--variants", "fp32,e2e", "--torch-bf16"]


def test_bench_at_80_columns_cuts_no_cell(bench_args):
    code, out = run_in_terminal(*bench_args, cols=80)
    assert_clean(code, out)
    rows = table_rows(out, ("baseline_fcn",))
    assert len(rows) == 4, out  # fp32, fp32 e2e, torch fp32, torch bf16
    assert all(len(r) <= 80 for r in rows), rows
    assert "…" not in out and "bf16+channels_last" in out and "onnxruntime" in out
    assert "hidden at this width:" in out  # and it says which columns it left out


def test_bench_in_a_wide_terminal_shows_every_column(bench_args):
    code, out = run_in_terminal(*bench_args, cols=260)
    assert_clean(code, out)
    for header in ("p90 ms", "p99 ms", "pixel acc", "vs torch fp32", "file MB", "weights", "file"):
        assert header in out
    assert "hidden at this width" not in out


def test_bench_piped_is_a_markdown_table_with_every_column(bench_args):
    from seg.reporting import COLUMNS

    r = run_piped(*bench_args)
    assert r.returncode == 0, r.stderr[-3000:]
    header = "| " + " | ".join(c.header for c in COLUMNS) + " |"
    assert header in r.stdout
    rows = [ln for ln in r.stdout.splitlines() if ln.startswith("| baseline_fcn |")]
    assert len(rows) == 4 and all(ln.count("|") == len(COLUMNS) + 1 for ln in rows)


@pytest.mark.parametrize("command", [(), ("models",), ("data",), ("data", "synth"), ("data", "voc2007"), ("train",),
                                     ("eval",), ("export",), ("run",), ("info",), ("bench",), ("demo",)])
def test_every_help_fits_80_columns(command):
    """typer's boxed help cut option names and defaults ("--no-save-optim…") at 80 columns."""
    code, out = run_in_terminal(*command, "--help", cols=80)
    assert code == 0 and "Usage: seg" in out
    assert "…" not in out and all(len(ln) <= 80 for ln in screen_lines(out)), out
