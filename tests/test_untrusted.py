"""Issue 21's rows as an attacker and a phone owner meet them: terminal escapes in a model's
metadata and file names, EXIF-rotated photos, external data outside the model's folder, huge
calibration photos, endless runs, a bad mask in the val split, and the small ones."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
from PIL import Image, ImageOps

from seg.images import orient, read_bgr, read_rgb, shown_size
from seg.text import article, plural, shown
from terminal import run_in_terminal, run_piped

# A hyperlink to plant, a screen clear, a window title, a bell, and a bidi override.
EVIL = "fcn\x1b]8;;http://evil.example/\x07click\x1b]8;;\x07\x1b[2J\x1b]0;pwned\x07\u202e"
RAW_ESCAPES = ("\x1b]8;;http", "\x1b[2J", "\x1b]0;pwned", "\u202e")


@pytest.fixture(scope="module")
def model(fcn_onnx) -> Path:
    return fcn_onnx


@pytest.fixture(scope="module")
def evil_model(model, tmp_path_factory) -> Path:
    """The same graph, with escapes in its model name, a class name, and its file name."""
    m = onnx.load(str(model))
    for p in m.metadata_props:
        if p.key == "seg.model":
            p.value = EVIL
        elif p.key == "seg.class_names":
            names = json.loads(p.value)
            names[0] = "back\nground" + EVIL
            p.value = json.dumps(names)
    out = tmp_path_factory.mktemp("evil") / "ev\x1b[2Jil\nname.onnx"
    onnx.save(m, str(out))
    return out


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(d / "a.jpg")
    return d


# ---- row 3: escapes ----------------------------------------------------------------------------

def test_shown_escapes_every_control_character():
    assert shown("a\nb\x1b[2J\x07\u202e\x9b\tz") == "a\\nb\\e[2J\\x07\\u202e\\x9b\\tz"
    assert shown("plain: ünïcode, [brackets] | pipes") == "plain: ünïcode, [brackets] | pipes"


def _assert_defused(raw: str) -> None:
    for seq in RAW_ESCAPES:
        assert seq not in raw, repr(seq)
    assert "\\e]8;;http://evil.example/" in raw  # shown, escaped, as `ls` would


@pytest.mark.parametrize("command", ["info", "run", "eval"])
def test_escapes_in_metadata_and_names_never_reach_the_terminal(command, evil_model, photos, synth_root):
    args = {"info": ["info", evil_model],
            "run": ["run", "--model", evil_model, "--folder", photos, "--out", photos.parent / "o", "--provider", "cpu"],
            "eval": ["eval", "--model", evil_model, "--data", synth_root]}[command]
    code, raw = run_in_terminal(*args, cols=100, raw=True)
    assert code == 0, raw[-3000:]
    _assert_defused(raw)
    assert "ev\\e[2Jil\\nname.onnx" in raw or command == "eval"  # the file name, on one line


def test_escapes_in_an_error_message_are_shown_escaped(evil_model, tmp_path):
    bad = tmp_path / "no\x1b]0;pwned\x07such.onnx"
    code, raw = run_in_terminal("run", "--model", bad, "--video", evil_model, raw=True)
    assert code != 0 and "\x1b]0;pwned" not in raw and "\\e]0;pwned" in raw


def test_info_json_keeps_the_exact_text(evil_model):
    r = run_piped("info", "--json", evil_model)
    assert r.returncode == 0, r.stderr
    meta = json.loads(r.stdout)["meta"]
    assert meta["model"] == EVIL and meta["class_names"][0] == "back\nground" + EVIL


# ---- row 4: EXIF orientation -------------------------------------------------------------------

@pytest.mark.parametrize("orientation", range(1, 9))
def test_reader_applies_exif_orientation_as_pillow_does(tmp_path, orientation):
    """Against Pillow's own exif_transpose (an independent implementation), losslessly (PNG eXIf)."""
    rgb = np.random.default_rng(orientation).integers(0, 256, (5, 8, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "o.png"
    Image.fromarray(rgb).save(path, exif=exif)
    expected = np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB"))
    assert np.array_equal(read_rgb(path), expected)
    assert np.array_equal(read_bgr(path)[..., ::-1], expected)
    assert shown_size(path) == expected.shape[:2]


def test_orient_matches_pillow_for_every_orientation_on_odd_shapes():
    rng = np.random.default_rng(1)
    for o in range(1, 9):
        img = rng.integers(0, 256, (3, 7, 3), dtype=np.uint8)
        pil = Image.fromarray(img)
        ops = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
               5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
               8: Image.Transpose.ROTATE_90}
        expected = np.asarray(pil.transpose(ops[o])) if o in ops else img
        assert np.array_equal(orient(img, o), expected), o


@pytest.fixture
def portrait_photo(tmp_path) -> Path:
    """A phone photo: stored 120x80 (landscape), EXIF orientation 6, shown 80x120 (portrait)."""
    d = tmp_path / "phone"
    d.mkdir()
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (80, 120, 3), dtype=np.uint8)).save(d / "p.jpg", exif=exif)
    return d


def test_run_writes_masks_and_overlays_the_way_the_photo_is_shown(cli, model, portrait_photo, tmp_path):
    code, out, err = cli("run", "--model", model, "--folder", portrait_photo, "--out", tmp_path / "o",
                         "--save-masks", tmp_path / "m", "--provider", "cpu")
    assert code == 0, err
    assert np.array(Image.open(tmp_path / "m" / "p.png")).shape == (120, 80)
    assert cv2.imread(str(tmp_path / "o" / "p.jpg")).shape[:2] == (120, 80)


def test_calibration_and_voc_readers_apply_it_too(portrait_photo, tmp_path):
    from seg.data.folder import ImageFolder

    assert ImageFolder(portrait_photo).load(0)[0].shape == (120, 80, 3)
    from seg.data.synth import SynthConfig, generate
    from seg.data import VOCSegmentation, write_mask

    root = tmp_path / "voc"
    generate(root, SynthConfig(train=2, val=1, size=64, seed=1), progress=False)
    ds = VOCSegmentation(root, split="val")
    shutil.copy(portrait_photo / "p.jpg", ds.images[0])
    write_mask(ds.masks[0], np.zeros((120, 80), np.uint8))  # labelled on the photo as shown
    image, mask = ds.load(0)
    assert image.shape[:2] == mask.shape == (120, 80)
    from seg.data.check import check_splits

    assert check_splits({"val": ds}).errors == []  # the header check agrees


# ---- row 5: calibration at the run size, one photo at a time ------------------------------------

class Counting:
    """A sequence of photos that counts how many were loaded."""

    def __init__(self, shapes):
        self.shapes, self.loaded = shapes, 0

    def __len__(self):
        return len(self.shapes)

    def __iter__(self):
        for s in self.shapes:
            self.loaded += 1
            yield np.zeros((*s, 3), np.uint8)


def test_calibration_feeds_the_run_size_and_streams():
    from seg.infer.preprocess import input_size
    from seg.variants.quantize import _Reader

    meta = {"imgsz": 64, "mean": [0.5] * 3, "std": [0.25] * 3}
    photos = Counting([(1500, 2000), (32, 32), (2000, 1500)])
    reader = _Reader(photos, meta, "input")
    shapes = []
    while (feed := reader.get_next()) is not None:
        shapes.append(feed["input"].shape)
        assert photos.loaded == len(shapes)  # one photo at a time, loaded when fed
    assert shapes == [(1, 3, *input_size(h, w, meta)) for h, w in photos.shapes]
    assert all(max(sh[2:]) == 64 for sh in shapes)  # what seg run feeds it, not 2000x1500


def test_spread_loads_lazily():
    from seg.variants.build import spread

    class DS:
        loads = 0

        def __len__(self):
            return 100

        def load(self, i):
            DS.loads += 1
            return np.full((2, 2, 3), i, np.uint8), None

    s = spread(DS(), 5)
    assert len(s) == 5 and DS.loads == 0
    assert [int(im[0, 0, 0]) for im in s] == [0, 25, 50, 74, 99] and DS.loads == 5


# ---- row 6: constant memory on endless sources --------------------------------------------------

def test_stage_timings_are_bounded_and_close_to_exact():
    from seg.infer.pipeline import Timings

    t = Timings()
    values = [random.Random(7).expovariate(0.1) for _ in range(30_000)]
    for v in values:
        t.add(v)
    assert len(t.sample) == Timings.CAP and t.n == 30_000
    s = t.stats()
    assert s["mean"] == pytest.approx(np.mean(values)) and s["max"] == max(values)
    exact50, exact95 = np.percentile(values, [50, 95])
    assert s["p50"] == pytest.approx(exact50, rel=0.05) and s["p95"] == pytest.approx(exact95, rel=0.05)


@pytest.mark.slow
def test_a_long_run_keeps_flat_memory(model):
    """20,000 frames through the real pipeline (a stub model): retained memory does not grow with them."""
    import tracemalloc

    from seg.infer.pipeline import run_pipeline
    from seg.infer.sources import Source

    class Endless(Source):
        is_video = True

        def __init__(self, n):
            super().__init__()
            self.n = n
            self.frame = np.zeros((8, 8, 3), np.uint8)

        def __iter__(self):
            for i in range(self.n):
                yield f"f{i}", self.frame

    class Stub:
        provider = "stub"

        def preprocess(self, f):
            return f

        def infer(self, x):
            return x

        def postprocess(self, y, size):
            return y[..., 0]

    def retained(n):
        tracemalloc.start()
        summary = run_pipeline(Stub(), Endless(n))
        size = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        assert summary.frames == n
        return size

    small, large = retained(5_000), retained(20_000)
    assert large - small < 100_000, (small, large)  # a list of times per frame held ~300 B each: 4.5 MB here


# ---- row 7: every split checked before the first step ---------------------------------------------

def test_a_bad_val_mask_stops_training_before_any_step(cli, synth_root, tmp_path):
    from seg.data import VOCSegmentation

    root = tmp_path / "data"
    shutil.copytree(synth_root, root)
    val = VOCSegmentation(root, split="val")
    mask = np.array(Image.open(val.masks[-1]))
    mask[0, 0] = 77
    img = Image.fromarray(mask, "P")
    img.putpalette(Image.open(val.masks[-1]).getpalette())
    img.save(val.masks[-1])
    code, out, err = cli("train", "--model", "baseline_fcn", "--data", root, "--out", tmp_path / "runs", "--epochs", 2,
                         "--batch-size", 4, "--crop-size", 64)
    assert code == 1 and "values that are no class" in err and f"{val.masks[-1]} (77)" in err
    assert "epoch" not in out and not (tmp_path / "runs").exists()


# ---- row 8: external data outside the model's folder ---------------------------------------------

def test_external_data_outside_the_folder_is_one_line(cli, model, synth_root, tmp_path):
    m = onnx.load(str(model))
    t = max(m.graph.initializer, key=lambda x: len(x.raw_data))
    (tmp_path / "secret.bin").write_bytes(t.raw_data)
    length = len(t.raw_data)
    t.ClearField("raw_data")
    t.data_location = onnx.TensorProto.EXTERNAL
    for k, v in (("location", "../secret.bin"), ("offset", "0"), ("length", str(length))):
        e = t.external_data.add()
        e.key, e.value = k, v
    (tmp_path / "m").mkdir()
    path = tmp_path / "m" / "x.onnx"
    path.write_bytes(m.SerializeToString())
    for args in (["export", "--onnx", path, "--precision", "int8", "--calib-data", synth_root],
                 ["export", "--onnx", path, "--e2e"],
                 ["run", "--model", path, "--folder", synth_root / "VOCdevkit" / "VOC2007" / "JPEGImages"]):
        code, out, err = cli(*args)
        assert code == 1 and len(err.strip().splitlines()) == 1, err
        assert "outside the model's folder" in err or "escapes model directory" in err  # seg's words, or ORT's


# ---- row 10: the small ones ------------------------------------------------------------------------

def test_hints_quote_names_for_the_shell(cli, tmp_path, photos):
    code, out, err = cli("run", "--model", "x;rm -rf ~", "--folder", photos, "--runs", tmp_path)
    assert code == 1 and "--model 'x;rm -rf ~'" in err, err


def test_the_hint_on_a_runtime_only_install_is_the_one_that_works_there(cli, model, tmp_path, photos, monkeypatch):
    import seg.machine

    (tmp_path / "baseline_fcn").mkdir()
    shutil.copy(model, tmp_path / "baseline_fcn" / "baseline_fcn.onnx")
    monkeypatch.setattr(seg.machine, "have_torch", lambda: False)
    code, out, err = cli("run", "--model", "baseline_fcn", "--variant", "e2e.int8", "--folder", photos,
                         "--runs", tmp_path)
    assert code == 1 and "seg export --onnx" in err and "--precision int8 --e2e --calib-data" in err, err
    assert "seg export --model" not in err


@pytest.mark.slow
def test_bench_merges_a_model_named_twice_and_marks_thin_percentiles(model, tmp_path):
    r = run_piped("bench", "--models", f"{model},{model}", "--engines", "onnxruntime", "--variants", "fp32",
                  "--runs", 3, "--warmup", 0, "--size", 64, 64, "--runs-dir", tmp_path)
    assert r.returncode == 0, r.stderr
    rows = [ln for ln in r.stdout.splitlines() if ln.startswith("| baseline_fcn |")]
    assert len(rows) == 1 and "baseline_fcn.onnx" in rows[0]
    cells = [c.strip() for c in rows[0].split("|")]
    assert sum(c.endswith("*") for c in cells) == 2  # p90 and p99 from 3 runs
    assert "fewer runs than the percentile needs" in r.stdout


def test_bench_of_a_folder_says_so(cli, tmp_path):
    code, out, err = cli("bench", "--models", tmp_path, "--engines", "onnxruntime")
    assert code == 1 and "is a folder" in err


def test_words():
    assert [article(w) for w in ("int8", "e2e", "fp16", "video")] == ["an int8", "an e2e", "an fp16", "a video"]
    assert plural(1, "frame") == "1 frame" and plural(2, "candidate") == "2 candidates"


@pytest.mark.slow
def test_a_variant_of_a_variant_says_an_int8(cli, model, synth_root, tmp_path):
    out = tmp_path / "b.int8.onnx"
    code, _, err = cli("export", "--onnx", model, "--precision", "int8", "--calib-data", synth_root, "--out", out,
                       "--force")
    assert code == 0, err
    code, _, err = cli("export", "--onnx", out, "--precision", "int8", "--calib-data", synth_root)
    assert code == 1 and "already an int8 variant" in err, err
