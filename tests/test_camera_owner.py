"""Issue 27: a camera owner following the docs to the letter. Each test is a row of the issue:
an input overwritten, tracebacks on VOC trees and cached weights, hints that work on this install,
what `--provider auto` says, bench's skips and rows, `--precision auto`'s timing size, --help."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest

from terminal import run_in_terminal, run_piped


@pytest.fixture(scope="module")
def model(fcn_onnx) -> Path:
    return fcn_onnx


@pytest.fixture(scope="module")
def preset_model(model, tmp_path_factory) -> Path:
    """The same graph with torchvision's kind of preset (shorter side S): fed at a size that is not the photo's."""
    m = onnx.load(str(model))
    m.metadata_props.add(key="seg.preprocess", value=json.dumps({"resize": "shorter", "size": 64, "antialias": True}))
    out = tmp_path_factory.mktemp("p") / "preset.onnx"
    onnx.save(m, str(out))
    return out


@pytest.fixture
def clip(tmp_path) -> Path:
    from seg.data.synth import write_video

    return write_video(tmp_path / "cam.mp4", frames=3, width=64, height=48, progress=False)


# ---- row 1: an output that is an input ---------------------------------------------------------

def test_out_that_is_the_input_video_is_refused(cli, model, clip):
    before = clip.read_bytes()
    code, out, err = cli("run", "--model", model, "--video", clip, "--out", clip)
    assert code == 1 and "is the input video" in err and clip.read_bytes() == before


def test_out_that_is_the_input_folder_is_refused(cli, model, tmp_path):
    folder = tmp_path / "p2"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.jpg"), np.full((40, 56, 3), 90, np.uint8))
    before = (folder / "a.jpg").read_bytes()
    for option in ("--out", "--save-masks"):
        code, out, err = cli("run", "--model", model, "--folder", folder, option, folder)
        assert code == 1 and f"{option} {folder} is a folder of the input images" in err, err
    assert (folder / "a.jpg").read_bytes() == before and [p.name for p in folder.iterdir()] == ["a.jpg"]


# ---- row 2: the distribution's name ---------------------------------------------------------------

def test_the_distribution_is_not_pypis_seg():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    root = Path(__file__).resolve().parents[1]
    name = tomllib.loads((root / "pyproject.toml").read_text())["project"]["name"]
    assert name == "seg-onnx"
    readme = (root / "README.md").read_text()
    assert not re.search(r"pip install seg\b(?![-\[])", readme) and "pip install ." in readme


# ---- row 3: bench scores preset models at the mask's size -----------------------------------------

@pytest.mark.slow
def test_bench_of_a_preset_model_on_a_voc_tree_scores_it(preset_model, real_voc, tmp_path):
    r = run_piped("bench", "--models", preset_model, "--data", real_voc, "--year", "2012", "--engines", "onnxruntime",
                  "--variants", "fp32", "--runs", 2, "--warmup", 0, "--size", 64, 64, "--json", tmp_path / "b.json",
                  "--runs-dir", tmp_path)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr[-2000:]
    row = json.loads((tmp_path / "b.json").read_text())["rows"][0]
    assert row["miou"] is not None and 0 <= row["miou"] <= 1


# ---- row 4: a corrupt file where the docs say to put weights offline ------------------------------

def test_a_corrupt_cached_weights_file_is_one_line(cli, tmp_path, monkeypatch):
    from seg.models.pretrained import PRETRAINED

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    url = PRETRAINED["lraspp_mobilenet_v3_large"].coco_voc.url
    cached = tmp_path / "torch" / "hub" / "checkpoints" / Path(url).name
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"not a pickle" * 100)
    code, out, err = cli("export", "--model", "lraspp_mobilenet_v3_large", "--weights", "coco-voc", "--out",
                         tmp_path / "x.onnx")
    prefix = re.search(r"-([a-f0-9]+)\.", cached.name).group(1)
    assert code == 1 and len(err.strip().splitlines()) == 1, err
    assert str(cached) in err and f"expected {prefix}" in err and "delete it" in err


# ---- rows 5 and 7: a VOC tree of any year; masks are never photos ----------------------------------

@pytest.mark.slow
def test_calibration_recognises_a_voc_tree_of_another_year(cli, model, real_voc, tmp_path):
    out = tmp_path / "m.int8.onnx"
    code, _, err = cli("export", "--onnx", model, "--precision", "int8", "--calib-data", real_voc, "--out", out,
                       "--calib-n", 4, "--force")
    assert code == 0, err
    assert "VOC2012" in err and "26 calibration" not in err
    q = json.loads(next(p.value for p in onnx.load(str(out)).metadata_props if p.key == "seg.quantization"))
    assert q["calib_images"] == 4 and "VOC2012" in q["calib_data"]


def test_masks_are_never_calibration_photos(cli, model, real_voc, tmp_path):
    masks = real_voc / "VOCdevkit" / "VOC2012" / "SegmentationClass"
    code, _, err = cli("export", "--onnx", model, "--precision", "int8", "--calib-data", masks, "--out",
                       tmp_path / "x.onnx")
    assert code == 1 and "only label images" in err
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for p in sorted(masks.glob("*.png"))[:3]:
        shutil.copy(p, mixed)
    for p in sorted((real_voc / "VOCdevkit" / "VOC2012" / "JPEGImages").glob("*.jpg"))[:3]:
        shutil.copy(p, mixed)
    from seg.data.folder import ImageFolder

    folder = ImageFolder(mixed)
    assert len(folder) == 3 and len(folder.skipped_labels) == 3 and all(p.suffix == ".jpg" for p in folder.paths)


@pytest.mark.parametrize("where", ["VOCdevkit", "."])
def test_the_year_hint_from_either_folder(cli, model, real_voc, where):
    code, _, err = cli("eval", "--model", model, "--data", real_voc / where)
    assert code == 1 and "found VOC2012: pass --year 2012" in err, err
    assert "VOCdevkit/VOCdevkit" not in err


# ---- row 8: what auto says about a GPU build without a driver --------------------------------------

def test_auto_says_why_the_gpu_providers_were_passed_over():
    from seg.infer.providers import NO_DRIVER, NOT_IN_BUILD, Attempt, passed_over

    attempts = [Attempt("tensorrt", reason=NO_DRIVER), Attempt("cuda", reason=NO_DRIVER), Attempt("cpu", ok=True)]
    assert passed_over(attempts) == [f"tensorrt, cuda: {NO_DRIVER}"]
    assert passed_over([Attempt("cuda", reason=NOT_IN_BUILD), Attempt("cpu", ok=True)]) == []  # CPU-only build: nothing to say


def test_run_on_this_machine_says_it(cli, model, clip, tmp_path):
    import onnxruntime as ort

    from seg.infer.providers import has_nvidia_gpu

    if "CUDAExecutionProvider" not in ort.get_available_providers() or has_nvidia_gpu():
        pytest.skip("needs onnxruntime-gpu on a machine without an NVIDIA driver (this one's case is unit-tested above)")
    code, _, err = cli("run", "--model", model, "--video", clip, "--out", tmp_path / "o.mp4")
    assert code == 0 and "on cpu (tensorrt, cuda: no NVIDIA driver on this machine)" in err, err


# ---- row 9: bench says what it skips before making anything; rows name their file ---------------

@pytest.mark.slow
def test_bench_says_a_skip_before_making_anything(model, tmp_path):
    r = run_piped("bench", "--models", model, "--variants", "fp32,int8", "--engines", "onnxruntime", "--runs", 1,
                  "--warmup", 0, "--size", 64, 64, "--runs-dir", tmp_path)
    assert r.returncode == 0, r.stderr
    assert "making" not in r.stderr and "int8: not benchmarked: int8 needs calibration images" in r.stdout
    assert "| baseline_fcn.onnx |" in r.stdout


# ---- row 10: --precision auto timed at the calibration source's frame size ------------------------

@pytest.mark.slow
def test_auto_times_frames_of_the_calibration_clip(cli, model, tmp_path):
    from seg.data.synth import write_video

    cam = write_video(tmp_path / "cam.mp4", frames=8, width=96, height=48, progress=False)
    out = tmp_path / "m.auto.onnx"
    code, _, err = cli("export", "--onnx", model, "--precision", "auto", "--calib-data", cam, "--out", out,
                       "--calib-n", 2)
    assert code == 0, err
    assert "96x48 frames of the calibration data" in err
    auto = json.loads(next(p.value for p in onnx.load(str(out)).metadata_props if p.key == "seg.auto"))
    assert auto["frame"] == [48, 96]


# ---- row 12: --help at 80 columns, words ------------------------------------------------------------

COMMANDS = [[], ["models"], ["data"], ["data", "voc2007"], ["data", "synth"], ["train"], ["eval"], ["export"],
            ["run"], ["batch"], ["info"], ["doctor"], ["bench"], ["demo"]]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "seg")
def test_help_fits_80_columns_uncut(command):
    code, out = run_in_terminal(*command, "--help", cols=80)
    assert code == 0
    lines = out.splitlines()
    assert all(len(ln) <= 80 for ln in lines), [ln for ln in lines if len(ln) > 80]
    commands = out.split("Commands:", 1)[1].splitlines() if "Commands:" in out else []
    cut = [ln for ln in commands if ln.rstrip().endswith("...")]
    assert not cut, cut  # a command's one-line summary cut short
    assert not re.search(r"\{[a-z_]+\}", out)  # a lowercase placeholder


def test_ranges_in_help_are_the_ranges_checked(cli, clip):
    code, out, err = cli("run", "--help")
    assert "0<x<=3600" in " ".join(out.split())
    for bad in ("0", "-5", "3601"):
        code, _, err = cli("run", "--video", clip, "--timeout", bad)
        assert code == 2 and "0<x<=3600" in err, err


def test_bench_size_says_two_numbers(cli):
    code, out, _ = cli("bench", "--help")
    assert "--size H W" in out
