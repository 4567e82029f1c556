"""The edge runtime: `pip install seg-onnx` with no torch runs, evaluates, benches, inspects and
quantises models exported by the full install.

Every test here is marked ``runtime`` and imports no torch itself. In the full venv the CLI runs
in a child process with the training packages made unimportable; CI also runs these tests in a
venv where torch is not installed at all (models made beforehand by the full venv:
``SEG_TEST_MODELS``, see tests/runtime_models.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

import seg
from seg.machine import have_torch
from seg.metadata import read_meta

from conftest import REAL_MEDIA

pytestmark = pytest.mark.runtime

# A child Python in which `import torch` (and the rest of the training extra) fails, as on an edge box.
NO_TRAINING = "import sys\nfor m in {mods!r}: sys.modules[m] = None\n".format(mods=seg.TRAINING_PACKAGES)


def seg_without_torch(*args: object, cwd: Path | None = None) -> subprocess.CompletedProcess:
    code = NO_TRAINING + "from seg.cli import main\nmain()\n"
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


@pytest.fixture(scope="session")
def runs(tmp_path_factory) -> Path:
    """A runs folder with simple_unet exported by the full install (trained one epoch)."""
    given = os.environ.get("SEG_TEST_MODELS")
    if given:
        return Path(given) / "runs"
    if not have_torch():
        pytest.fail("no torch here to make the test models: set SEG_TEST_MODELS (python tests/runtime_models.py DIR, "
                    "run with the full install)")
    from runtime_models import make

    return make(tmp_path_factory.mktemp("runtime_models"))


@pytest.fixture(scope="session")
def photos(synth_root) -> Path:
    """A folder of plain images, no masks: what an edge user calibrates with (16 of them)."""
    folder = synth_root.parent / "photos"
    folder.mkdir(exist_ok=True)
    for p in sorted((synth_root / "VOCdevkit" / "VOC2007" / "JPEGImages").glob("*.jpg")):
        (folder / p.name).write_bytes(p.read_bytes())
    return folder


def test_every_runtime_module_imports_without_the_training_extra():
    code = NO_TRAINING + "import importlib\nfor m in {mods!r}: importlib.import_module(m)\nprint('ok')".format(
        mods=seg.RUNTIME_MODULES)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-2000:]


def test_runtime_modules_lists_every_torch_free_module():
    """A module outside the training side that RUNTIME_MODULES forgets would never be import-tested without torch."""
    root = Path(seg.__file__).parent
    found = set()
    for p in root.rglob("*.py"):
        parts = list(p.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] in ("__init__", "__main__"):  # a package is its __init__; __main__ runs the CLI
            parts = parts[:-1]
        found.add(".".join(parts))
    training = ("seg.models", "seg.train", "seg.export", "seg.demo", "seg.data.transforms")
    runtime = {m for m in found if not any(m == t or m.startswith(t + ".") for t in training)}
    assert runtime == set(seg.RUNTIME_MODULES), (sorted(runtime - set(seg.RUNTIME_MODULES)),
                                                 sorted(set(seg.RUNTIME_MODULES) - runtime))


@pytest.mark.parametrize("args, command, missing", [
    (["train", "--model", "unet", "--data", "."], "train", "torch"),
    (["models"], "models", "torch"),
    (["demo"], "demo", "torch"),
    (["export", "--model", "unet"], "export --model", "torch"),
    (["eval", "--checkpoint", "pyproject.toml", "--data", "."], "eval --checkpoint", "torch"),
])
def test_training_commands_name_the_extra_in_one_line(args, command, missing):
    r = seg_without_torch(*args, cwd=Path(__file__).parents[1])
    assert r.returncode == 1 and r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.startswith(f"error: seg {command} needs the training extra (") and missing in r.stderr
    assert r.stderr.rstrip().endswith('pip install "seg-onnx[train]"')


@pytest.mark.slow
def test_run_a_video_and_a_folder(runs, synth_root, tmp_path):
    video = REAL_MEDIA / "video" / "bikes.mp4"
    if not video.is_file():
        from seg.data.synth import write_video

        video = write_video(tmp_path / "clip.mp4", frames=6, width=96, height=64, progress=False)
    r = seg_without_torch("run", "--model", "simple_unet", "--runs", runs, "--video", video, "--max-frames", 4,
                          "--imgsz", 64, "--out", tmp_path / "o.mp4")
    assert r.returncode == 0, r.stderr
    assert "4 frames" in r.stdout and cv2.VideoCapture(str(tmp_path / "o.mp4")).isOpened()
    r = seg_without_torch("run", "--model", runs / "simple_unet" / "simple_unet.onnx", "--folder",
                          synth_root / "VOCdevkit" / "VOC2007" / "JPEGImages", "--out", tmp_path / "ov", "--imgsz", 64)
    assert r.returncode == 0, r.stderr
    assert len(list((tmp_path / "ov").iterdir())) == 16


def _odd_clip(tmp_path: Path) -> Path:
    """A 639x271 clip: a real video cropped by one pixel each way (synthetic where ../shared is absent),
    written by OpenCV's own MJPEG writer, which keeps odd sizes."""
    src = REAL_MEDIA / "video" / "bikes.mp4"
    cap = cv2.VideoCapture(str(src))
    frames = []
    for _ in range(5):
        ok, f = cap.read()
        frames.append(f[:271, :639] if ok else np.random.default_rng(len(frames)).integers(0, 255, (271, 639, 3), np.uint8))
    path = tmp_path / "odd.avi"
    vw = cv2.VideoWriter(str(path), cv2.CAP_OPENCV_MJPEG, cv2.VideoWriter_fourcc(*"MJPG"), 25, (639, 271))
    for f in frames:
        vw.write(f)
    vw.release()
    return path


@pytest.mark.slow
def test_an_odd_sized_video_keeps_its_size(runs, tmp_path):
    """OpenCV's FFmpeg writer silently wrote 638x270 for a 639x271 input."""
    clip = _odd_clip(tmp_path)
    r = seg_without_torch("run", "--model", "simple_unet", "--runs", runs, "--video", clip, "--imgsz", 64)
    assert r.returncode == 0, r.stderr
    out = runs / "predict" / "odd-simple_unet" / "odd.avi"  # the default keeps odd sizes
    cap = cv2.VideoCapture(str(out))
    ok, frame = cap.read()
    assert ok and frame.shape == (271, 639, 3) and int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 5
    r = seg_without_torch("run", "--model", "simple_unet", "--runs", runs, "--video", clip, "--imgsz", 64,
                          "--out", tmp_path / "o.mp4")  # mp4 asked for: padded, and said so
    assert r.returncode == 0 and "padded to 640x272 (an .avi --out keeps 639x271)" in r.stderr, r.stderr
    assert cv2.VideoCapture(str(tmp_path / "o.mp4")).read()[1].shape == (272, 640, 3)


def test_eval_of_an_onnx_model(runs, synth_root, tmp_path):
    r = seg_without_torch("eval", "--model", runs / "simple_unet" / "simple_unet.onnx", "--data", synth_root,
                          "--json", tmp_path / "v.json")
    assert r.returncode == 0, r.stderr
    m = json.loads((tmp_path / "v.json").read_text())
    assert m["model"] == "simple_unet" and 0 <= m["miou"] <= 1 and m["pixels"] > 0
    assert f"mIoU {m['miou']:.4f}" in r.stdout


@pytest.mark.slow
def test_variants_from_plain_images_on_the_edge(runs, photos, tmp_path):
    """int8 + e2e built from the fp32 export without torch, calibrated and guarded on photos without masks."""
    import shutil

    fp32 = tmp_path / "m.onnx"
    shutil.copy(runs / "simple_unet" / "simple_unet.onnx", fp32)
    r = seg_without_torch("export", "--onnx", fp32, "--precision", "int8", "--e2e", "--calib-data", photos,
                          "--calib-n", 4)
    assert r.returncode == 0, r.stderr
    out = tmp_path / "m.e2e.int8.onnx"
    assert out.is_file() and "label agreement with fp32" in r.stdout
    info = json.loads(seg_without_torch("info", out, "--json").stdout)
    g = info["meta"]["guardrail"]
    assert g["kind"] == "agreement" and g["images"] == 12 and g["held_out"] and g["passed"]
    assert g["label_agreement"] >= g["min_agreement"] == 0.95
    assert info["meta"]["precision"] == "int8" and info["meta"]["e2e"] is True
    r = seg_without_torch("run", "--model", out, "--folder", photos, "--imgsz", 64, "--out", tmp_path / "ov")
    assert r.returncode == 0 and len(list((tmp_path / "ov").iterdir())) == 16, r.stderr


@pytest.mark.slow
def test_the_agreement_guardrail_refuses(runs, photos, tmp_path):
    import shutil

    fp32 = tmp_path / "m.onnx"
    shutil.copy(runs / "simple_unet" / "simple_unet.onnx", fp32)
    args = ("export", "--onnx", fp32, "--precision", "int8", "--calib-data", photos, "--calib-n", 2,
            "--min-agreement", 1.0)
    r = seg_without_torch(*args)
    if r.returncode == 0:  # int8 happened to agree on every pixel: nothing to refuse
        pytest.skip("int8 agreed with fp32 on every pixel")
    assert r.returncode == 1 and "of the pixels of 14 images" in r.stderr and "--force" in r.stderr, r.stderr
    assert not (tmp_path / "m.int8.onnx").exists()
    r = seg_without_torch(*args, "--force")
    assert r.returncode == 0 and (tmp_path / "m.int8.onnx").is_file() and "FAILED (--force)" in r.stdout


@pytest.mark.slow
def test_building_a_variant_of_a_variant_is_refused(runs, photos, tmp_path):
    import shutil

    fp32 = tmp_path / "m.onnx"
    shutil.copy(runs / "simple_unet" / "simple_unet.onnx", fp32)
    assert seg_without_torch("export", "--onnx", fp32, "--e2e").returncode == 0
    r = seg_without_torch("export", "--onnx", tmp_path / "m.e2e.onnx", "--precision", "int8", "--calib-data", photos)
    assert r.returncode == 1 and "is already an fp32 e2e variant" in r.stderr


@pytest.mark.slow
def test_bench_on_exported_files_skips_the_torch_rows(runs, synth_root, tmp_path):
    r = seg_without_torch("bench", "--runs-dir", runs, "--models", "simple_unet", "--data", synth_root, "--size", 64, 64,
                          "--runs", 2, "--warmup", 0, "--variants", "fp32,e2e", "--json", tmp_path / "b.json")
    assert r.returncode == 0, r.stderr
    result = json.loads((tmp_path / "b.json").read_text())
    assert {(row["engine"], row["variant"]) for row in result["rows"]} == {("onnxruntime", "fp32"), ("onnxruntime", "e2e")}
    assert all(row["params"] == 3_018_325 and row["gflops"] > 0 and 0 <= row["miou"] <= 1 for row in result["rows"])
    skipped = result["header"]["skipped"]
    assert [s["variant"] for s in skipped] == ["torch"] and 'pip install "seg-onnx[train]"' in skipped[0]["reason"]
    assert 'not benchmarked: torch is not installed' in r.stdout and '"seg-onnx[train]"' in r.stdout


def test_bench_builds_an_auto_variant_of_an_exported_file(runs, tmp_path):
    """`--variants auto` of a plain .onnx file goes through the one variant entry point (it was
    skipped as "unknown precision 'auto'" where no checkpoint was at hand: every edge box)."""
    import shutil

    model = tmp_path / "m.onnx"
    shutil.copy(runs / "simple_unet" / "simple_unet.onnx", model)
    r = seg_without_torch("bench", "--models", model, "--size", 64, 64, "--runs", 1, "--warmup", 0,
                          "--variants", "fp32,auto", "--json", tmp_path / "b.json")
    assert r.returncode == 0, r.stderr
    result = json.loads((tmp_path / "b.json").read_text())
    assert not [s for s in result["header"]["skipped"] if s["variant"] != "torch"], result["header"]["skipped"]
    assert {row["variant"] for row in result["rows"]} == {"fp32", "auto"}
    # no data to calibrate on: fp32 alone competes, and wins
    assert read_meta(tmp_path / "m.auto.onnx")["auto"]["chosen"] == "fp32"


def test_info_table_and_json(runs):
    path = runs / "simple_unet" / "simple_unet.onnx"
    r = seg_without_torch("info", path)
    assert r.returncode == 0, r.stderr
    for text in ("| architecture | simple_unet |", "| input | image float [batch,3,height,width] |",
                 "| output | logits float [batch,21,height,width] |", "| precision | fp32 |", "passed on"):
        assert text in r.stdout, r.stdout
    i = json.loads(seg_without_torch("info", path, "--json").stdout)
    assert i["seg_model"] and i["meta"]["num_classes"] == 21 and i["inputs"][0]["dims"] == ["batch", 3, "height", "width"]
    assert i["meta"]["weights"] == "checkpoint" and i["opset"] >= 18


def test_info_of_a_foreign_onnx_file(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)]), str(tmp_path / "relu.onnx"))
    r = seg_without_torch("info", tmp_path / "relu.onnx")
    assert r.returncode == 1 and "is not a seg model" in r.stderr and "--json" in r.stderr
    assert json.loads(seg_without_torch("info", tmp_path / "relu.onnx", "--json").stdout)["seg_model"] is False


def test_synthetic_data_without_torch(tmp_path):
    r = seg_without_torch("data", "synth", "--root", tmp_path, "--train", 2, "--val", 1, "--size", 48)
    assert r.returncode == 0 and (tmp_path / "VOCdevkit" / "VOC2007" / "JPEGImages").is_dir(), r.stderr


@pytest.mark.slow
def test_custom_classes_score_the_same_in_every_layout_without_torch(runs):
    """Issue 20's end: a model of custom classes, scored as an .onnx by the runtime alone on each of
    the four layouts of its data, gives the checkpoint's mIoU (made by the full install)."""
    scores = json.loads((runs.parent / "custom" / "scores.json").read_text())
    for name, root in scores["layouts"].items():
        r = seg_without_torch("eval", "--model", scores["onnx"], "--data", root, "--json", runs.parent / f"{name}.json")
        assert r.returncode == 0, r.stderr[-2000:]
        got = json.loads((runs.parent / f"{name}.json").read_text())
        assert abs(got["miou"] - scores["checkpoint_miou"][name]) <= 1e-3, name
        assert list(got["iou"]) == ["background", "road", "crack", "kelp"] and "kelp" in r.stdout


def test_seg_batch_without_the_ray_extra_is_an_install_hint(runs, photos, tmp_path):
    """The runtime install does not grow for Ray: `seg batch` there says how to add it, in one line."""
    code = NO_TRAINING + "sys.modules['ray'] = None\nfrom seg.cli import main\nmain()\n"
    r = subprocess.run([sys.executable, "-c", code, "batch", str(photos), "--model",
                        str(runs / "simple_unet" / "simple_unet.onnx"), "--out", str(tmp_path / "b")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 1 and 'pip install "seg-onnx[ray]"' in r.stderr and r.stderr.count("\n") == 1, r.stderr
