"""Every command, each option at its edges: one line on stderr, a non-zero exit, no traceback,
nothing written, and no work started before the check fails.

"No work started" is enforced by tripwires: each command's working function is replaced by one
that fails the test if it is ever called.
"""

from __future__ import annotations

from pathlib import Path

import pytest

WORK = {  # command -> the library call where its real work starts
    "models": ("seg.models", "count_parameters"),
    "train": ("seg.train", "train"),
    "eval": ("seg.train", "evaluate_checkpoint"),
    "export": ("seg.export", "export_checkpoint"),
    "run": ("seg.infer", "Segmenter"),
    "bench": ("seg.bench_entries", "prepare"),
    "demo": ("seg.demo", "demo"),
    "synth": ("seg.data.synth", "generate"),
    "voc2007": ("seg.data.download", "download_voc2007"),
}


class WorkStarted(Exception):
    pass


@pytest.fixture
def tripwires(monkeypatch):
    import importlib

    def trip(*a, **k):
        raise WorkStarted("the command started working before its arguments were checked")

    for module, name in WORK.values():
        monkeypatch.setattr(importlib.import_module(module), name, trip)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Real inputs, so that only the option under test is wrong."""
    from seg.data.synth import write_video

    root = tmp_path_factory.mktemp("inputs")
    video = write_video(root / "v.mp4", frames=3, width=64, height=48, progress=False)
    (root / "plain.txt").write_text("a file where a folder is expected")
    (root / "model.onnx").write_bytes(b"")  # never opened: the checks come first
    (root / "ckpt.pt").write_bytes(b"")
    return root, video


def base_args(cmd: str, files, synth_root, tmp: Path) -> list[str]:
    root, video = files
    return {
        "models": ["models"],
        "train": ["train", "--model", "simple_unet", "--data", synth_root, "--out", tmp / "runs"],
        "eval": ["eval", "--checkpoint", root / "ckpt.pt", "--data", synth_root],
        "export": ["export", "--model", "simple_unet", "--runs", tmp / "runs"],
        "run": ["run", "--model", root / "model.onnx", "--video", video, "--runs", tmp / "runs"],
        "bench": ["bench", "--random-init", "--runs-dir", tmp / "runs"],
        "demo": ["demo", "--root", tmp / "demo"],
        "synth": ["data", "synth", "--root", tmp / "d"],
        "voc2007": ["data", "voc2007", "--root", tmp / "voc"],
    }[cmd]


def assert_one_line_error(code: int, err: str, expected_code: int, *fragments: str) -> None:
    assert code == expected_code, err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    for f in fragments:
        assert f in err, err


# ---- numbers: 0, negative, absurdly large --------------------------------------------------------

NUMERIC = [
    ("models", "--size", ["0", "-1", "8", "100000"]),
    ("synth", "--train", ["0", "-1", "10000000"]),
    ("synth", "--val", ["0", "-1", "10000000"]),
    ("synth", "--size", ["0", "-1", "16", "100000"]),
    ("synth", "--frames", ["0", "-1", "10000000"]),
    ("synth", "--seed", ["-1", "99999999999"]),
    ("train", "--epochs", ["0", "-1", "100000000"]),
    ("train", "--time-budget", ["0", "-1", "1e9"]),
    ("train", "--batch-size", ["0", "1", "-1", "100000"]),
    ("train", "--crop-size", ["0", "8", "-1", "100000"]),
    ("train", "--rotation", ["-1", "181"]),
    ("train", "--jitter", ["-0.5", "2"]),
    ("train", "--lr", ["0", "-1", "100"]),
    ("train", "--weight-decay", ["-1", "2"]),
    ("train", "--warmup", ["-0.1", "1"]),
    ("train", "--workers", ["-1", "100000"]),
    ("train", "--patience", ["-1"]),
    ("train", "--seed", ["-1", "99999999999"]),
    ("export", "--opset", ["0", "-1", "1000"]),
    ("export", "--calib-n", ["0", "-1", "100000000"]),
    ("export", "--max-drop", ["-1", "1000"]),
    ("run", "--imgsz", ["-1", "8", "31", "20000"]),
    ("run", "--threads", ["0", "-1", "100000"]),
    ("run", "--alpha", ["-0.1", "1.5"]),
    ("run", "--max-frames", ["0", "-1"]),
    ("run", "--timeout", ["0", "-1", "1e9"]),
    ("bench", "--batch", ["0", "-1", "100000"]),
    ("bench", "--runs", ["0", "-1", "100000000"]),
    ("bench", "--warmup", ["-1", "100000"]),
    ("demo", "--minutes", ["0", "-1", "1e9"]),
]


@pytest.mark.parametrize("cmd, option, value", [(c, o, v) for c, o, vs in NUMERIC for v in vs])
def test_numbers_out_of_range_are_usage_errors(cli, tripwires, files, synth_root, tmp_path, cmd, option, value):
    code, out, err = cli(*base_args(cmd, files, synth_root, tmp_path), option, value)
    assert_one_line_error(code, err, 2, f"'{option}'", "--help")
    assert out == "" and not (tmp_path / "runs").exists() and not (tmp_path / "d").exists()


@pytest.mark.parametrize("size", [("0", "0"), ("-5", "-5"), ("64", "100000"), ("8", "64")])
def test_bench_size_out_of_range(cli, tripwires, files, synth_root, tmp_path, size):
    code, _, err = cli(*base_args("bench", files, synth_root, tmp_path), "--size", *size)
    assert_one_line_error(code, err, 2, "'--size'", "32..4096")


# ---- paths: missing, the wrong kind, unwritable -----------------------------------------------------

INPUTS = [  # (command, option, kind expected)
    ("train", "--data", "dir"), ("eval", "--data", "dir"), ("eval", "--checkpoint", "file"),
    ("export", "--checkpoint", "file"), ("export", "--calib-data", "dir"), ("run", "--video", "file"),
    ("run", "--folder", "dir"), ("bench", "--data", "dir"),
]


@pytest.mark.parametrize("cmd, option, kind", INPUTS)
def test_missing_input_path(cli, tripwires, files, synth_root, tmp_path, cmd, option, kind):
    args = [a for a in base_args(cmd, files, synth_root, tmp_path)]
    if option in args:  # replace the valid value
        i = args.index(option)
        args = args[:i] + args[i + 2:]
    if cmd == "run" and option == "--folder":
        args = [a for a in args if a not in ("--video", files[1])]
    code, _, err = cli(*args, option, tmp_path / "nowhere")
    assert_one_line_error(code, err, 2, f"'{option}'", "does not exist")


@pytest.mark.parametrize("cmd, option, kind", INPUTS)
def test_input_path_of_the_wrong_kind(cli, tripwires, files, synth_root, tmp_path, cmd, option, kind):
    args = [a for a in base_args(cmd, files, synth_root, tmp_path)]
    if option in args:
        i = args.index(option)
        args = args[:i] + args[i + 2:]
    if cmd == "run" and option == "--folder":
        args = [a for a in args if a not in ("--video", files[1])]
    wrong = files[0] if kind == "file" else files[0] / "plain.txt"
    code, _, err = cli(*args, option, wrong)
    assert_one_line_error(code, err, 2, f"'{option}'", "is a directory" if kind == "file" else "is a file")


OUTPUT_FILES = [("eval", "--json"), ("export", "--out"), ("export", "--report"), ("bench", "--json"),
                ("bench", "--csv"), ("bench", "--md"), ("bench", "--plot"), ("synth", "--video")]
OUTPUT_DIRS = [("train", "--out"), ("synth", "--root"), ("voc2007", "--root"), ("run", "--save-masks"),
               ("demo", "--root")]


def _name(option: str) -> str:
    return {"--video": "v.mp4", "--out": "m.onnx", "--plot": "b.png"}.get(option, "out.json")


@pytest.mark.parametrize("cmd, option", OUTPUT_FILES)
def test_output_file_that_is_a_folder(cli, tripwires, files, synth_root, tmp_path, cmd, option):
    (tmp_path / "a_folder").mkdir()
    code, _, err = cli(*base_args(cmd, files, synth_root, tmp_path), option, tmp_path / "a_folder")
    assert_one_line_error(code, err, 1, "is a folder")


@pytest.mark.parametrize("cmd, option", OUTPUT_FILES)
def test_output_file_under_a_file(cli, tripwires, files, synth_root, tmp_path, cmd, option):
    code, _, err = cli(*base_args(cmd, files, synth_root, tmp_path), option, files[0] / "plain.txt" / "sub" / _name(option))
    assert_one_line_error(code, err, 1, "plain.txt is a file, not a folder")


@pytest.mark.parametrize("cmd, option", OUTPUT_FILES)
def test_output_file_in_a_readonly_folder(cli, tripwires, files, synth_root, tmp_path, readonly_dir, cmd, option):
    for target in (readonly_dir / _name(option), readonly_dir / "new" / _name(option)):
        code, _, err = cli(*base_args(cmd, files, synth_root, tmp_path), option, target)
        assert_one_line_error(code, err, 1, "is not writable")
    assert list(readonly_dir.iterdir()) == []


@pytest.mark.parametrize("cmd, option", OUTPUT_DIRS)
def test_output_folder_that_is_a_file(cli, tripwires, files, synth_root, tmp_path, cmd, option):
    args = base_args(cmd, files, synth_root, tmp_path)
    code, _, err = cli(*args, option, files[0] / "plain.txt")
    assert_one_line_error(code, err, 1, "is a file, not a folder")


@pytest.mark.parametrize("cmd, option", OUTPUT_DIRS)
def test_output_folder_in_a_readonly_place(cli, tripwires, files, synth_root, tmp_path, readonly_dir, cmd, option):
    code, _, err = cli(*base_args(cmd, files, synth_root, tmp_path), option, readonly_dir / "sub")
    assert_one_line_error(code, err, 1, "is not writable")
    assert list(readonly_dir.iterdir()) == []


def test_run_output_video_checks(cli, tripwires, files, synth_root, tmp_path, readonly_dir):
    args = base_args("run", files, synth_root, tmp_path)
    for out, message in ((tmp_path / "o.mkv", "must end in .mp4 or .avi"), (readonly_dir / "o.mp4", "is not writable"),
                         (files[0] / "plain.txt" / "o.mp4", "is a file, not a folder")):
        code, _, err = cli(*args, "--out", out)
        assert_one_line_error(code, err, 1, message)


def test_model_path_that_is_a_folder(cli, tripwires, files, synth_root, tmp_path):
    code, _, err = cli("run", "--model", tmp_path, "--video", files[1])
    assert_one_line_error(code, err, 1, "is a folder")


def test_unknown_option_and_missing_required_option(cli):
    code, _, err = cli("train", "--model", "unet")
    assert_one_line_error(code, err, 2, "Missing option '--data'", "seg train --help")
    code, _, err = cli("run", "--bogus")
    assert_one_line_error(code, err, 2, "--bogus")
