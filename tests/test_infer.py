"""seg run / seg.infer: ONNX Runtime over real videos, VOC images and a synthetic video.

Why ~330 lines: the runtime's tests share one exported model (a module fixture); splitting the
file would export it twice."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from seg.data import read_mask
from seg.errors import SegError
from seg.infer import Segmenter
from seg.infer.preprocess import model_size
from seg.models import get_model

from conftest import REAL_MEDIA, examples


@pytest.fixture(scope="module")
def onnx_model(fcn_plain):
    """A small model, exported (random init) once for the suite: baseline_fcn, seed 0."""
    return fcn_plain


@pytest.fixture
def real_video():
    path = REAL_MEDIA / "video" / "bikes.mp4"
    if not path.is_file():
        pytest.skip("../shared/real-media is not beside the project")
    return path


def frames_of(path):
    cap = cv2.VideoCapture(str(path))
    out = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        out.append(f)
    return out, cap.get(cv2.CAP_PROP_FPS)


def test_segmenter_matches_torch_on_a_real_frame(onnx_model, real_video):
    """Preprocessing in numpy/OpenCV + ORT gives PyTorch's labels for the same resized frame."""
    seg = Segmenter(onnx_model, provider="cpu", imgsz=128)
    frame = frames_of(real_video)[0][0]
    labels = seg.predict(frame)
    assert labels.shape == frame.shape[:2] and labels.dtype == np.uint8 and labels.max() < 21
    h, w = model_size(*frame.shape[:2], 128)
    rgb = cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)[..., ::-1] / 255.0
    x = torch.tensor(((rgb - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]).transpose(2, 0, 1)[None], dtype=torch.float32)
    torch.manual_seed(0)
    with torch.no_grad():
        ref = get_model("baseline_fcn").eval()(x).argmax(1)[0].numpy().astype(np.uint8)
    ref = cv2.resize(ref, (frame.shape[1], frame.shape[0]), interpolation=cv2.INTER_NEAREST)
    assert (labels == ref).mean() > 0.999


@pytest.mark.parametrize("h, w, imgsz, expected", [(272, 640, 512, (224, 512)), (432, 768, 0, (448, 768)),
                                                    (20, 20, 512, (512, 512)), (97, 131, 0, (96, 128))])
def test_model_size(h, w, imgsz, expected):
    assert model_size(h, w, imgsz) == expected


def test_run_on_a_real_video_writes_video_and_masks(cli, onnx_model, real_video, tmp_path):
    code, out, err = cli("run", "--model", onnx_model, "--video", real_video, "--max-frames", 6, "--imgsz", 128,
                         "--out", tmp_path / "o.mp4", "--save-masks", tmp_path / "masks", "--provider", "cpu")
    assert code == 0, err
    frames, fps = frames_of(tmp_path / "o.mp4")
    src_frames, src_fps = frames_of(real_video)
    assert len(frames) == 6 and frames[0].shape == src_frames[0].shape and fps == pytest.approx(src_fps, rel=0.01)
    masks = sorted((tmp_path / "masks").iterdir())
    assert [m.name for m in masks] == [f"bikes_{i:06d}.png" for i in range(6)]
    m = read_mask(masks[0])
    assert m.shape == src_frames[0].shape[:2] and m.max() < 21
    assert "6 frames" in out and "infer" in out and "decode" in out


@pytest.mark.parametrize("name", ["car-detection.mp4", "cockatoo.mp4", "one-by-one-person-detection.mp4"])
@pytest.mark.slow
def test_run_on_the_other_real_videos(cli, onnx_model, tmp_path, name):
    path = REAL_MEDIA / "video" / name
    if not path.is_file():
        pytest.skip("../shared/real-media is not beside the project")
    code, _, err = cli("run", "--model", onnx_model, "--video", path, "--max-frames", 3, "--imgsz", 96,
                       "--out", tmp_path / "o.mp4")
    assert code == 0, err
    frames, _ = frames_of(tmp_path / "o.mp4")
    assert len(frames) == 3 and frames[0].shape[:2] == frames_of(path)[0][0].shape[:2]


def test_run_on_a_synthetic_video_all_frames(cli, onnx_model, tmp_path):
    from seg.data.synth import write_video

    src = write_video(tmp_path / "s.mp4", frames=9, width=96, height=64, progress=False)
    code, _, err = cli("run", "--model", onnx_model, "--video", src, "--imgsz", 0, "--out", tmp_path / "o.mp4")
    assert code == 0, err
    assert len(frames_of(tmp_path / "o.mp4")[0]) == 9


def test_run_on_voc_images_with_odd_files(cli, onnx_model, real_voc, tmp_path):
    """Grey, RGBA, 16-bit and a corrupt and a non-image file in one folder."""
    folder = tmp_path / "imgs"
    folder.mkdir()
    jpgs = sorted((real_voc / "VOCdevkit" / "VOC2012" / "JPEGImages").glob("*.jpg"))[:3]
    base = cv2.imread(str(jpgs[0]))
    cv2.imwrite(str(folder / "a_color.jpg"), base)
    cv2.imwrite(str(folder / "b_grey.png"), cv2.cvtColor(base, cv2.COLOR_BGR2GRAY))
    cv2.imwrite(str(folder / "c_rgba.png"), cv2.cvtColor(base, cv2.COLOR_BGR2BGRA))
    cv2.imwrite(str(folder / "d_16bit.png"), base.astype(np.uint16) * 257)
    (folder / "e_corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    (folder / "f_notes.txt").write_text("hello")
    code, out, err = cli("run", "--model", onnx_model, "--folder", folder, "--imgsz", 96, "--out", tmp_path / "ov",
                         "--save-masks", tmp_path / "masks")
    assert code == 0, err
    assert "2 skipped" in out and err.count("warning: skipped") == 2 and "e_corrupt.jpg" in err
    names = sorted(p.name for p in (tmp_path / "masks").iterdir())
    assert names == ["a_color.png", "b_grey.png", "c_rgba.png", "d_16bit.png"]
    for n in names:
        assert read_mask(tmp_path / "masks" / n).shape == base.shape[:2]
    assert len(list((tmp_path / "ov").iterdir())) == 4


def test_run_by_glob_and_by_model_name(cli, onnx_model, real_voc, tmp_path):
    runs = tmp_path / "runs"
    (runs / "baseline_fcn").mkdir(parents=True)
    (runs / "baseline_fcn" / "baseline_fcn.onnx").write_bytes(onnx_model.read_bytes())
    pattern = str(real_voc / "VOCdevkit" / "VOC2012" / "JPEGImages" / "2007_00003*.jpg")
    code, out, err = cli("run", "--model", "baseline_fcn", "--runs", runs, "--images", pattern, "--imgsz", 64)
    assert code == 0, err
    assert sorted(p.name for p in (runs / "predict" / "JPEGImages-baseline_fcn").iterdir()) == [
        "2007_000032.jpg", "2007_000033.jpg", "2007_000039.jpg"]


def test_truncated_video_processes_what_decodes(cli, onnx_model, tmp_path):
    from seg.data.synth import write_video

    src = write_video(tmp_path / "s.avi", frames=30, width=96, height=64, progress=False)
    data = src.read_bytes()
    (tmp_path / "cut.avi").write_bytes(data[: len(data) // 2])
    code, out, err = cli("run", "--model", onnx_model, "--video", tmp_path / "cut.avi", "--imgsz", 0,
                         "--out", tmp_path / "o.mp4")
    assert code == 0, err
    n = len(frames_of(tmp_path / "o.mp4")[0])
    assert 0 < n < 30 and "stopped decoding" in err


def test_infer_does_not_import_torch(onnx_model, real_video, tmp_path):
    """An edge box has onnxruntime, OpenCV and numpy: make importing torch fail and run."""
    code = f"""
import sys
sys.modules['torch'] = None  # any 'import torch' now raises ImportError
from seg.infer import Segmenter
from seg.infer.pipeline import run_pipeline
from seg.infer.sources import VideoSource
seg = Segmenter({str(onnx_model)!r}, provider='cpu', imgsz=64)
s = run_pipeline(seg, VideoSource({str(real_video)!r}), masks_dir={str(tmp_path / 'm')!r}, max_frames=2)
print(s.frames, 'torch' in sys.modules and sys.modules['torch'] is not None)
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parent)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split() == ["2", "False"]


# ---- bad input -------------------------------------------------------------------------------------

@pytest.mark.parametrize("args, code_, message", [
    (["--video", "nope.mp4"], 2, "'--video': file 'nope.mp4' does not exist"),
    (["--folder", "nowhere"], 2, "'--folder': dir 'nowhere' does not exist"),
    (["--images", "nothing/*.jpg"], 1, "no file matches 'nothing/*.jpg'"),
    (["--source", "/dev/video99"], 1, "cannot open camera or stream /dev/video99"),
    ([], 1, "pass exactly one of --video, --source, --folder, --images"),
    (["--video", "x.mp4", "--folder", "."], 1, "pass exactly one of"),
    (["--video", "x.mp4", "--provider", "npu"], 2, "'npu' is not one of auto, tensorrt, cuda, cpu"),
    (["--video", "x.mp4", "--variant", "int4"], 2, "'int4' is not one of fp32, int8"),
])
def test_bad_sources_and_options(cli, onnx_model, tmp_path, monkeypatch, args, code_, message):
    monkeypatch.chdir(tmp_path)
    if "x.mp4" in args:
        Path("x.mp4").write_bytes(b"")
    code, _, err = cli("run", "--model", onnx_model, *args)
    assert code == code_ and message in err and err.count("\n") == 1


def test_unavailable_provider_lists_the_available_ones(cli, onnx_model, real_video):
    import onnxruntime as ort

    from seg.infer.session import has_nvidia_gpu

    if has_nvidia_gpu() and "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this machine has a GPU")
    code, _, err = cli("run", "--model", onnx_model, "--video", real_video, "--provider", "cuda")
    assert code == 1 and "provider cuda is not usable on this machine: " in err and "seg doctor" in err


def test_corrupt_video_file(cli, onnx_model, tmp_path):
    (tmp_path / "bad.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 garbage" * 10)
    code, _, err = cli("run", "--model", onnx_model, "--video", tmp_path / "bad.mp4", "--out", tmp_path / "o.mp4")
    assert code == 1 and "bad.mp4" in err and not (tmp_path / "o.mp4").exists()


def test_missing_model_name_says_how_to_export(cli, real_video, tmp_path):
    code, _, err = cli("run", "--model", "unet", "--runs", tmp_path, "--video", real_video)
    assert code == 1 and "seg export --model unet" in err


def test_onnx_that_is_not_a_seg_model(cli, real_video, tmp_path):
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 10])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])
    g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)], ir_version=9), str(tmp_path / "relu.onnx"))
    code, _, err = cli("run", "--model", tmp_path / "relu.onnx", "--video", real_video)
    assert code == 1 and "is not a seg model: it needs one 4-D image input" in err
    with pytest.raises(SegError, match="not a seg model"):
        Segmenter(tmp_path / "relu.onnx", provider="cpu")


def test_seg_graph_without_metadata(onnx_model, tmp_path):
    import onnx

    m = onnx.load(str(onnx_model))
    del m.metadata_props[:]
    onnx.save(m, str(tmp_path / "bare.onnx"))
    with pytest.raises(SegError, match="no 'seg-onnx/1' metadata"):
        Segmenter(tmp_path / "bare.onnx", provider="cpu")


def test_garbage_onnx_file(cli, real_video, tmp_path):
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    code, _, err = cli("run", "--model", tmp_path / "junk.onnx", "--video", real_video)
    assert code == 1 and "ONNX Runtime cannot load" in err


def test_ctrl_c_finalises_a_playable_video(onnx_model, real_video, tmp_path):
    from seg.infer.pipeline import run_pipeline
    from seg.infer.sources import VideoSource

    def interrupt_at_4(n):
        if n == 4:
            raise KeyboardInterrupt

    seg = Segmenter(onnx_model, provider="cpu", imgsz=64)
    s = run_pipeline(seg, VideoSource(str(real_video)), out_video=tmp_path / "o.mp4", on_frame=interrupt_at_4)
    assert s.interrupted and s.frames == 4
    assert len(frames_of(tmp_path / "o.mp4")[0]) == 4
    assert [p.name for p in tmp_path.iterdir()] == ["o.mp4"]


@pytest.mark.slow
def test_realtime_drops_stale_frames_instead_of_lagging(onnx_model, real_video):
    """A file under --realtime stands in for its camera: paced at its own clock (25 FPS here), so
    a model that keeps up drops nothing, and one that needs three frame periods a frame drops."""
    import time

    from seg.infer.pipeline import run_pipeline
    from seg.infer.sources import VideoSource

    seg = Segmenter(onnx_model, provider="cpu", imgsz=64)
    src = VideoSource(str(real_video))
    period = 1 / src.fps
    keeps_up = run_pipeline(seg, src, max_frames=20, realtime=True)
    assert keeps_up.dropped == 0 and keeps_up.frames == 20
    assert keeps_up.wall_s >= 19 * period * 0.9  # played at its frame rate, not decoded flat out
    slow = run_pipeline(seg, VideoSource(str(real_video)), max_frames=40, realtime=True,
                        on_frame=lambda n: time.sleep(3 * period))
    assert slow.dropped > 0 and slow.frames + slow.dropped == 40


# ---- CPU session tuning ----------------------------------------------------------------------------

def test_saved_optimized_graph_is_reused_and_equivalent(onnx_model, tmp_path):
    import shutil

    from seg.infer.session import create_session, optimized_cache_path

    path = tmp_path / "m.onnx"
    shutil.copy(onnx_model, path)
    cached = optimized_cache_path(path)
    assert not cached.exists()
    first, _ = create_session(path, "cpu", save_optimized=True)
    assert cached.is_file() and not list(cached.parent.glob(".*tmp*"))  # saved under its final name only
    second, _ = create_session(path, "cpu", save_optimized=True)
    x = np.random.default_rng(0).standard_normal((1, 3, 64, 96), dtype=np.float32)
    plain, _ = create_session(path, "cpu")
    ref = plain.run(None, {"image": x})[0]
    for s in (first, second):
        assert np.abs(s.run(None, {"image": x})[0] - ref).max() < 1e-4
    # the metadata survives, so a Segmenter works from the saved graph
    seg = Segmenter(path, provider="cpu", imgsz=64, save_optimized=True)
    assert seg.meta["model"] == "baseline_fcn" and seg.predict(np.zeros((48, 64, 3), np.uint8)).shape == (48, 64)
    # a changed model file gets a new cache entry, never the stale graph
    path.touch()
    assert optimized_cache_path(path) != cached


def test_opt_levels_and_bad_level(onnx_model):
    from seg.infer.session import create_session

    x = np.random.default_rng(1).standard_normal((1, 3, 64, 64), dtype=np.float32)
    outs = [create_session(onnx_model, "cpu", opt_level=lvl)[0].run(None, {"image": x})[0]
            for lvl in ("disable", "basic", "extended", "all")]
    for o in outs[1:]:
        assert np.abs(o - outs[0]).max() < 1e-3
    with pytest.raises(SegError, match="unknown optimisation level 'max'"):
        create_session(onnx_model, "cpu", opt_level="max")


@settings(max_examples=examples(25), deadline=None)
@given(h=st.integers(1, 70), w=st.integers(1, 90), alpha=st.floats(0.0, 1.0), seed=st.integers(0, 2**16))
def test_overlay_blend_matches_the_formula(h, w, alpha, seed):
    """alpha of the class colour over foreground pixels, rounded; background untouched."""
    from seg.classes import voc_palette
    from seg.infer.overlay import blend

    palette = voc_palette()[:21][:, ::-1].copy()
    rng = np.random.default_rng(seed)
    frame = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    labels = rng.integers(0, 21, (h, w)).astype(np.uint8)
    out = blend(frame, labels, palette, alpha)
    fg = labels > 0
    expected = frame[fg] * (1 - alpha) + palette[labels[fg]] * alpha
    assert out.shape == frame.shape and out.dtype == np.uint8
    assert np.abs(out[fg] - expected).max(initial=0) <= 0.5 + 1e-6 and (out[~fg] == frame[~fg]).all()
