"""The ``seg`` command line as a user meets it."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

import seg


def test_help_lists_the_commands(cli):
    code, out, _ = cli("--help")
    assert code == 0
    # each command on a line of its own in the Commands section, with its one-line summary
    listed = {line.split()[0] for line in out.split("Commands:", 1)[1].splitlines() if line.strip()}
    assert listed == {"models", "data", "train", "eval", "export", "run", "info", "doctor", "bench", "demo", "batch"}


def test_help_shows_computed_defaults(cli, monkeypatch):
    """Rich reads "[default: ...]" as a markup tag and would drop it from the help text."""
    monkeypatch.setenv("COLUMNS", "200")
    code, out, _ = cli("export", "--help")
    out = " ".join(out.split())  # click wraps help text at 80 columns
    assert code == 0 and "[default: <runs>/<model>/best.pt]" in out and "[default: the checkpoint's training data]" in out


def test_version(cli):
    code, out, _ = cli("--version")
    assert code == 0 and out.strip() == f"seg {seg.__version__}"


@pytest.mark.slow
def test_models_table_lists_params_and_gflops(cli):
    code, out, _ = cli("models", "--size", "64")
    assert code == 0
    for name, params in [("baseline_fcn", "5,493,645"), ("simple_unet", "3,018,325"),
                         ("resnet_fcn", "27,718,293"), ("unet", "31,044,821")]:
        assert re.search(rf"^\| {name} \| {params} \| [0-9.]+ \| ", out, re.M), out  # piped: a Markdown table


def test_models_unknown_name_lists_valid_ones(cli):
    code, out, err = cli("models", "unet", "fcn32s")
    assert code == 1 and out == ""
    assert err == ("error: unknown model 'fcn32s'; choose one of: baseline_fcn, simple_unet, resnet_fcn, unet, "
                   "lraspp_mobilenet_v3_large, deeplabv3_mobilenet_v3_large, fcn_resnet50, deeplabv3_resnet50\n")


def test_bad_option_value_is_a_usage_error(cli):
    code, _, err = cli("models", "--size", "abc")
    assert code == 2 and "--size" in err


@pytest.mark.slow
def test_console_script_exit_code_and_no_traceback(tmp_path):
    """Through the installed entry point, as a user runs it."""
    r = subprocess.run([sys.executable, "-m", "seg.cli", "models", "nope"], capture_output=True, text=True)
    assert r.returncode == 1 and "Traceback" not in r.stderr and "unknown model 'nope'" in r.stderr


def test_data_and_classes_do_not_import_torch():
    """The VOC reader and class tables must stay usable on an edge box without torch."""
    code = "import sys, seg, seg.classes, seg.data, seg.data.synth, seg.data.download; print('torch' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "False"


def test_the_cli_names_the_seed_models_without_importing_them():
    from seg.cli import MODEL_NAMES
    from seg.models import SEED_MODELS

    assert MODEL_NAMES == SEED_MODELS


def test_the_cli_provider_choices_are_the_sessions():
    from seg.cli import PROVIDER_CHOICES
    from seg.infer.session import AUTO_ORDER

    assert PROVIDER_CHOICES == ("auto", *AUTO_ORDER)


@pytest.mark.slow
def test_piped_messages_keep_long_paths_on_one_line(cli, tmp_path, monkeypatch):
    """Piped output is 80 columns wide to rich: a path past that was broken over two lines, so a
    log could not be grepped or copied (seen on seg export's replacement warning)."""
    monkeypatch.delenv("COLUMNS", raising=False)
    deep = tmp_path / ("a-rather-long-folder-name-" * 4) / "synth"
    video = deep / "clip.mp4"
    code, out, err = cli("data", "synth", "--root", deep, "--train", 1, "--val", 1, "--size", 32,
                         "--video", video, "--frames", 2)
    assert code == 0, err
    assert len(str(deep)) > 80 and str(deep / "VOCdevkit" / "VOC2007") in out and str(video) in out, out
    onnx = deep / "m.onnx"
    code, out, err = cli("export", "--model", "baseline_fcn", "--random-init", "--out", onnx, "--no-verify",
                         "--no-simplify")
    assert code == 0 and str(onnx) in out, out
