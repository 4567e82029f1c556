"""int8 / fp16 / end-to-end variants: files, metadata, the guardrail, and parity with the plain model."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seg.data import VOCSegmentation
from seg.data.voc import read_image
from seg.errors import SegError
from seg.export import export_checkpoint
from seg.infer.preprocess import normalise
from seg.layout import variant_path
from seg.metadata import read_meta
from seg.variants import make_variant
from seg.variants.quantize import Int8Config

from conftest import examples


@pytest.fixture(scope="module")
def runs(trained_runs, tmp_path_factory):
    """baseline_fcn trained for one epoch on the tiny synthetic set (conftest), in a runs folder
    of this module's own: no other module's exports land beside these files, whatever the order."""
    import shutil

    own = tmp_path_factory.mktemp("variants_runs")
    (own / "baseline_fcn").mkdir()
    shutil.copy2(trained_runs / "baseline_fcn" / "best.pt", own / "baseline_fcn" / "best.pt")
    return own


@pytest.fixture(scope="module")
def int8(runs):
    report = export_checkpoint("baseline_fcn", runs=runs, precision="int8", verify_shapes=((1, 3, 64, 64),),
                               simplify=False)
    return report


def sess(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def miou_numpy(preds, masks, n=21):
    """Independent mIoU: per-class intersection/union summed over images, classes that occur."""
    inter, union = np.zeros(n), np.zeros(n)
    for p, m in zip(preds, masks):
        keep = m != 255
        for c in range(n):
            a, b = (p == c) & keep, (m == c) & keep
            inter[c] += (a & b).sum()
            union[c] += (a | b).sum()
    return float((inter[union > 0] / union[union > 0]).mean())


def test_int8_file_next_to_fp32_with_metadata(runs, int8):
    path = variant_path(runs, "baseline_fcn", "int8")
    assert int8["path"] == str(path) and path.is_file()
    fp32 = variant_path(runs, "baseline_fcn")
    assert fp32.is_file()  # the verified fp32 export it was built from
    meta = read_meta(path)
    assert meta["precision"] == "int8" and meta["weights"] == "checkpoint"
    q = meta["quantization"]
    assert q["format"] == "qoperator" and q["per_channel"] and q["calib_images"] == 12  # the whole tiny train split
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert "QLinearConv" in ops
    # int8 weights: the file shrinks to about a quarter
    assert path.stat().st_size < 0.4 * fp32.stat().st_size


def test_guardrail_matches_an_independent_computation(runs, synth_root, int8):
    g = read_meta(variant_path(runs, "baseline_fcn", "int8"))["guardrail"]
    val = VOCSegmentation(synth_root, "2007", "val")
    assert g["images"] == len(val) and g["split"] == "val"
    preds = {}
    for key, path in (("fp32", variant_path(runs, "baseline_fcn")), ("int8", variant_path(runs, "baseline_fcn", "int8"))):
        s = sess(path)
        preds[key] = [s.run(None, {"image": normalise(val.load(i)[0], (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))})[0]
                      [0].argmax(0) for i in range(len(val))]
    masks = [val.load(i)[1] for i in range(len(val))]
    assert g["fp32_miou"] == pytest.approx(miou_numpy(preds["fp32"], masks), abs=1e-9)
    assert g["miou"] == pytest.approx(miou_numpy(preds["int8"], masks), abs=1e-9)
    assert g["drop_points"] == pytest.approx((g["fp32_miou"] - g["miou"]) * 100)
    agree = np.mean(np.concatenate([(a == b).ravel() for a, b in zip(preds["fp32"], preds["int8"])]))
    assert g["label_agreement"] == pytest.approx(agree)
    assert g["passed"] == (g["drop_points"] <= 1.0)


def test_guardrail_refuses_and_leaves_nothing(runs, synth_root, tmp_path):
    fp32 = variant_path(runs, "baseline_fcn")
    train_split, val = VOCSegmentation(synth_root, "2007", "train"), VOCSegmentation(synth_root, "2007", "val")
    out = tmp_path / "m.int8.onnx"
    # An impossible bar (the int8 model would have to gain 100 points) must refuse.
    with pytest.raises(SegError, match="not written; pass --force"):
        make_variant(fp32, out, precision="int8", calib=train_split, heldout=val, max_drop=-100,
                     int8=Int8Config(calib_n=4))
    assert list(tmp_path.iterdir()) == []
    report = make_variant(fp32, out, precision="int8", calib=train_split, heldout=val, max_drop=-100, force=True,
                          int8=Int8Config(calib_n=4))
    assert out.is_file() and not report["guardrail"]["passed"]
    assert read_meta(out)["guardrail"]["passed"] is False and read_meta(out)["quantization"]["calib_images"] == 4


@pytest.fixture(scope="module")
def e2e(runs, synth_root):
    fp32 = variant_path(runs, "baseline_fcn")
    if not fp32.is_file():  # made by the int8 fixture when that ran first; this fixture must not depend on it
        export_checkpoint("baseline_fcn", runs=runs, verify_shapes=((1, 3, 64, 64),), simplify=False)
    out = variant_path(runs, "baseline_fcn", "fp32", e2e=True)
    report = make_variant(fp32, out, e2e=True, heldout=VOCSegmentation(synth_root, "2007", "val"))
    return fp32, out, report


def test_e2e_graph_interface(e2e):
    _, path, report = e2e
    assert path.name == "baseline_fcn.e2e.onnx"
    g = onnx.load(str(path)).graph
    (inp,), (out,) = g.input, g.output
    assert inp.name == "frames" and inp.type.tensor_type.elem_type == onnx.TensorProto.UINT8
    assert out.name == "labels" and out.type.tensor_type.elem_type == onnx.TensorProto.UINT8
    in_dims = [d.dim_param for d in inp.type.tensor_type.shape.dim]
    assert all(in_dims[:3]) and inp.type.tensor_type.shape.dim[3].dim_value == 3  # N, H, W symbolic; 3 channels
    assert len(out.type.tensor_type.shape.dim) == 3 and all(d.dim_param for d in out.type.tensor_type.shape.dim)
    meta = read_meta(path)
    assert meta["e2e"] is True and meta["precision"] == "fp32" and meta["e2e_check"]["label_agreement"] >= 0.999
    assert report["e2e_label_agreement"] >= 0.999


@settings(max_examples=examples(8), deadline=None)
@given(n=st.integers(1, 2), h=st.integers(32, 120), w=st.integers(32, 120), seed=st.integers(0, 2**16))
def test_e2e_labels_equal_plain_argmax(e2e, n, h, w, seed):
    fp32, path, _ = e2e
    frames = np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)
    labels = sess(path).run(None, {"frames": frames})[0]
    assert labels.shape == (n, h, w) and labels.dtype == np.uint8
    x = np.concatenate([normalise(f[..., ::-1], (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)) for f in frames])
    ref = sess(fp32).run(None, {"image": x})[0].argmax(1)
    assert (labels == ref).mean() >= 0.999


def test_e2e_int8_name_and_metadata(runs, int8):
    report = export_checkpoint("baseline_fcn", runs=runs, precision="int8", e2e=True, simplify=False,
                               verify_shapes=((1, 3, 64, 64),))
    path = variant_path(runs, "baseline_fcn", "int8", e2e=True)
    assert path.name == "baseline_fcn.e2e.int8.onnx" and report["path"] == str(path)
    meta = read_meta(path)
    assert meta["e2e"] is True and meta["precision"] == "int8" and "miou" in meta["guardrail"]
    assert report["e2e_label_agreement"] >= 0.999
    assert report["fp32"] is None  # the fp32 export of the same checkpoint was fresh: reused, not redone


def test_segmenter_runs_e2e_models_transparently(e2e, real_voc):
    from seg.infer import Segmenter

    fp32, path, _ = e2e
    image = read_image(sorted((real_voc / "VOCdevkit" / "VOC2012" / "JPEGImages").glob("*.jpg"))[0])
    frame = np.ascontiguousarray(image[..., ::-1])
    plain, end2end = Segmenter(fp32, provider="cpu", imgsz=160), Segmenter(path, provider="cpu", imgsz=160)
    assert end2end.e2e and not plain.e2e
    x = end2end.preprocess(frame)
    assert x.dtype == np.uint8 and x.shape[0] == 1 and x.shape[3] == 3
    a, b = plain.predict(frame), end2end.predict(frame)
    assert a.shape == b.shape == frame.shape[:2] and (a == b).mean() >= 0.999


def test_fp16_variant_keeps_float32_io(runs, tmp_path):
    out = tmp_path / "m.fp16.onnx"
    report = make_variant(variant_path(runs, "baseline_fcn"), out, precision="fp16")
    model = onnx.load(str(out))
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert model.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    convs = {i for n in model.graph.node if n.op_type == "Conv" for i in n.input[1:2]}
    assert convs and all(t.data_type == onnx.TensorProto.FLOAT16 for t in model.graph.initializer if t.name in convs)
    assert report["guardrail"] == {"skipped": "no held-out data"} and read_meta(out)["precision"] == "fp16"


def test_cli_int8_prints_the_guardrail(cli, runs, int8, tmp_path):
    # --out: the fixture's int8 file (12 calibration images) stays as the other tests read it
    code, out, err = cli("export", "--model", "baseline_fcn", "--runs", runs, "--precision", "int8", "--calib-n", "4",
                         "--no-verify", "--out", tmp_path / "m.int8.onnx")
    assert code == 0, err
    assert "guardrail on 4 held-out images" in out and "label agreement" in out


@pytest.mark.parametrize("args, code_, message", [
    (["--precision", "int4"], 2, "'int4' is not one of fp32, int8, fp16, auto"),
    (["--precision", "int8", "--random-init"], 1, "--calib-data"),
])
def test_cli_variant_bad_input(cli, tmp_path, args, code_, message):
    code, _, err = cli("export", "--model", "baseline_fcn", "--runs", tmp_path, "--random-init", *args)
    assert code == code_ and message in err and err.count("\n") == 1
    assert not list(tmp_path.rglob("*.onnx"))


def test_seg_run_with_an_e2e_model(cli, e2e, real_voc, tmp_path):
    """`seg run` feeds an e2e model frames and writes the same kind of masks."""
    from seg.data import read_mask

    _, path, _ = e2e
    folder = real_voc / "VOCdevkit" / "VOC2012" / "JPEGImages"
    code, out, err = cli("run", "--model", path, "--folder", folder, "--imgsz", "96", "--out", tmp_path / "o",
                         "--save-masks", tmp_path / "m", "--provider", "cpu")
    assert code == 0, err
    masks = sorted((tmp_path / "m").glob("*.png"))
    assert len(masks) == len(list(folder.glob("*.jpg")))
    image = read_image(folder / f"{masks[0].stem}.jpg")
    assert read_mask(masks[0]).shape == image.shape[:2]


@settings(max_examples=examples(25), deadline=None)
@given(k=st.sampled_from([2, 3]), cin=st.integers(1, 5), cout=st.integers(1, 5), h=st.integers(1, 9),
       w=st.integers(1, 9), bias=st.booleans(), seed=st.integers(0, 2**16))
def test_subpixel_weights_equal_a_transposed_conv(k, cin, cout, h, w, bias, seed):
    """The sub-pixel identity against torch's own conv_transpose2d, at odd sizes too."""
    import torch
    import torch.nn.functional as F

    from seg.variants.subpixel import subpixel_weights

    g = torch.Generator().manual_seed(seed)
    x, wt = torch.randn(2, cin, h, w, generator=g), torch.randn(cin, cout, k, k, generator=g)
    b = torch.randn(cout, generator=g) if bias else None
    pad, out_pad = (0, 0) if k == 2 else (1, 1)
    ref = F.conv_transpose2d(x, wt, b, stride=2, padding=pad, output_padding=out_pad)
    wc, bc = subpixel_weights(wt.numpy(), None if b is None else b.numpy())
    y = F.conv2d(F.pad(x, (0, 1, 0, 1)) if k == 3 else x, torch.from_numpy(wc), None if bc is None else torch.from_numpy(bc))
    got = F.pixel_shuffle(y, 2)
    assert got.shape == ref.shape == (2, cout, 2 * h, 2 * w)
    assert torch.allclose(got, ref, atol=1e-5)


def test_int8_quantises_the_decoder_too(runs, int8):
    """baseline_fcn's decoder is five stride-2 transposed convs: after the sub-pixel rewrite every
    conv of the int8 graph is a QLinearConv (none left in float)."""
    g = onnx.load(str(variant_path(runs, "baseline_fcn", "int8"))).graph
    ops = [n.op_type for n in g.node]
    assert "ConvTranspose" not in ops and "Conv" not in ops and ops.count("QLinearConv") >= 10
    assert read_meta(variant_path(runs, "baseline_fcn", "int8"))["quantization"]["subpixel_deconvs"] == 5


def test_seg_run_picks_a_variant_by_name(cli, runs, e2e, real_voc, tmp_path):
    folder = real_voc / "VOCdevkit" / "VOC2012" / "JPEGImages"
    code, out, err = cli("run", "--model", "baseline_fcn", "--runs", runs, "--variant", "e2e", "--folder", folder,
                         "--imgsz", "64", "--out", tmp_path / "o", "--provider", "cpu")
    assert code == 0, err
    assert "baseline_fcn.e2e.onnx" in out + err
    code, _, err = cli("run", "--model", "baseline_fcn", "--runs", runs, "--variant", "e2e.fp16", "--folder", folder)
    assert code == 1 and "seg export --model baseline_fcn --precision fp16 --e2e" in err
    code, _, err = cli("run", "--model", "baseline_fcn", "--runs", runs, "--variant", "int4", "--folder", folder)
    assert code == 2 and "'--variant': 'int4' is not one of fp32, int8, fp16, e2e, e2e.int8, e2e.fp16" in err


def test_cli_float_ops_leaves_those_ops_in_float(cli, runs, int8, tmp_path):
    out = tmp_path / "m.int8.onnx"
    code, _, err = cli("export", "--model", "baseline_fcn", "--runs", runs, "--precision", "int8", "--calib-n", "4",
                       "--no-verify", "--float-ops", "Relu,Pad", "--out", out)
    assert code == 0, err
    assert read_meta(out)["quantization"]["exclude_ops"] == ["Relu", "Pad"]
    assert "Pad" in {n.op_type for n in onnx.load(str(out)).graph.node}  # the input padding stays a float Pad


def test_a_video_calibrates_and_guards_int8(cli, runs, int8, tmp_path):
    """A camera owner has a clip, not a folder: frames spread over it calibrate, the others guard."""
    from seg.data.folder import VideoFrames
    from seg.data.synth import write_video
    from seg.variants.data import HELD_OUT_FRAMES, calibration_sets

    video = write_video(tmp_path / "clip.mp4", frames=40, width=96, height=64, progress=False)
    frames = VideoFrames.sample(video, 10)
    image, mask = frames.load(0)
    assert len(frames) == 10 and image.shape == (64, 96, 3) and image.dtype == np.uint8 and mask is None
    calib, held = frames.split_off(4)
    assert (len(calib), len(held), held.held_out) == (4, 6, True)
    calib, held = calibration_sets(video, 4)
    assert (len(calib), len(held)) == (4, min(40 - 4, HELD_OUT_FRAMES))
    fp32 = runs / "baseline_fcn" / "baseline_fcn.onnx"  # made by the int8 fixture
    code, out, err = cli("export", "--onnx", fp32, "--precision", "int8", "--calib-data", video, "--calib-n", 4,
                         "--force", "--out", tmp_path / "v.int8.onnx")
    assert code == 0, err
    assert f"guardrail on {len(held)} held-out images" in out, out
    from seg.metadata import read_meta

    assert read_meta(tmp_path / "v.int8.onnx")["quantization"]["calib_data"] == str(video)
    code, _, err = cli("export", "--onnx", fp32, "--precision", "int8", "--calib-data", tmp_path / "v.int8.onnx")
    assert code == 2 and "is a file but not a video" in err


def test_a_video_of_unknown_length_is_thinned_as_it_is_read(tmp_path, monkeypatch):
    """Streams and some containers report no frame count: frames are kept at a doubling stride."""
    import cv2

    from seg.data.folder import VideoFrames
    from seg.data.synth import write_video

    video = write_video(tmp_path / "clip.avi", frames=100, width=64, height=48, progress=False)
    real = cv2.VideoCapture

    class NoCount:
        def __init__(self, path):
            self.cap = real(path)

        def get(self, prop):
            return 0 if prop == cv2.CAP_PROP_FRAME_COUNT else self.cap.get(prop)

        def __getattr__(self, name):
            return getattr(self.cap, name)

    monkeypatch.setattr(cv2, "VideoCapture", NoCount)
    frames = VideoFrames.sample(video, 5)
    assert len(frames) == 5 and frames.load(4)[0].shape == (48, 64, 3)
