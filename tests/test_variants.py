"""int8 / fp16 / end-to-end variants: files, metadata, the guardrail, and parity with the plain model."""

from __future__ import annotations

import functools
from pathlib import Path

import cv2
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
from seg.infer.preprocess import SizeRule, graph_rule, normalise, resize_antialias, size_rule
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


@pytest.mark.slow
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


@pytest.mark.slow
def test_guardrail_refuses_and_leaves_nothing(runs, synth_root, tmp_path, int8):
    fp32 = variant_path(runs, "baseline_fcn")  # exported by the int8 fixture, whatever order the tests run in
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
    fp32, path, report = e2e
    assert path.name == "baseline_fcn.e2e.onnx"
    g = onnx.load(str(path)).graph
    (inp, size), (out, at_model) = g.input, g.output
    # the rule's size: an input with a default (an overridable initializer), so ORT lists one input
    assert size.name == "size" and any(i.name == "size" for i in g.initializer)
    assert [i.name for i in sess(path).get_inputs()] == ["frames"]
    assert inp.name == "frames" and inp.type.tensor_type.elem_type == onnx.TensorProto.UINT8
    assert (out.name, at_model.name) == ("labels", "labels_model")
    assert all(o.type.tensor_type.elem_type == onnx.TensorProto.UINT8 for o in (out, at_model))
    in_dims = [d.dim_param for d in inp.type.tensor_type.shape.dim]
    assert all(in_dims[:3]) and inp.type.tensor_type.shape.dim[3].dim_value == 3  # N, H, W symbolic; 3 channels
    # labels at the frame's size: the same symbols as the input's; at the model's: others
    assert [d.dim_param for d in out.type.tensor_type.shape.dim] == in_dims[:3]
    assert [d.dim_param for d in at_model.type.tensor_type.shape.dim][1:] != in_dims[1:3]
    meta = read_meta(path)
    assert meta["e2e"] is True and meta["precision"] == "fp32" and meta["e2e_check"]["label_agreement"] >= 0.995
    # the rule seg run applies to the plain model, antialiased (the one resize ONNX shares with a host library)
    assert meta["e2e_resize"] == {**size_rule(read_meta(fp32)).as_meta(), "antialias": True}
    assert report["e2e_label_agreement"] >= 0.995


def _host_labels(fp32: Path, frame_bgr: np.ndarray, rule) -> tuple[np.ndarray, np.ndarray]:
    """What the graph replaces, written out with Pillow, numpy and OpenCV: (labels at the model's size, at the frame's)."""
    rgb = frame_bgr[..., ::-1]
    x = resize_antialias(rgb, rule.of(*rgb.shape[:2]))
    small = sess(fp32).run(None, {"image": normalise(x, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))})[0].argmax(1)[0]
    big = cv2.resize(small.astype(np.uint8), rgb.shape[1::-1], interpolation=cv2.INTER_NEAREST)
    return small, big


@settings(max_examples=examples(8), deadline=None)
@given(n=st.integers(1, 2), h=st.integers(20, 300), w=st.integers(20, 300), seed=st.integers(0, 2**16))
def test_e2e_labels_follow_the_host_path(e2e, n, h, w, seed):
    """Frames of any size: the graph's resize, model and resize back agree with the host's."""
    fp32, path, _ = e2e
    rule = graph_rule(read_meta(path))
    rng = np.random.default_rng(seed)
    # smooth frames (a photo's statistics, not noise): a 1-level resize difference rarely flips a pixel
    frames = np.stack([cv2.resize(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8), (w, h),
                                  interpolation=cv2.INTER_CUBIC) for _ in range(n)])
    labels, at_model = sess(path).run(None, {"frames": frames})
    assert labels.shape == (n, h, w) and labels.dtype == np.uint8
    assert at_model.shape == (n, *rule.of(h, w))
    for k in range(n):
        small, big = _host_labels(fp32, frames[k], rule)
        assert (at_model[k] == small).mean() >= 0.99
        # the resize back is OpenCV's INTER_NEAREST exactly
        assert np.array_equal(labels[k], cv2.resize(at_model[k], (w, h), interpolation=cv2.INTER_NEAREST))


@settings(max_examples=examples(200), deadline=None)
@given(h=st.integers(1, 9000), w=st.integers(1, 9000),
       rule=st.sampled_from([SizeRule("shorter", 520, True), SizeRule("shorter", 32), SizeRule("longer", 512),
                             SizeRule("longer", 0), SizeRule("longer", 160), SizeRule("longer", 4096)]))
def test_the_graphs_size_rule_is_the_pythons(h, w, rule):
    """The model's input size computed by ONNX ops from the frame's shape equals SizeRule.of exactly
    (rounding half to even, truncation, the 4096 cap) for any frame."""
    got = tuple(_rule_session(rule).run(None, {"hw": np.array([h, w], np.int64)})[0])
    assert got == rule.of(h, w)


@functools.lru_cache(maxsize=None)
def _rule_session(rule) -> ort.InferenceSession:
    from onnx import TensorProto, helper

    from seg.variants.e2e import _model_hw, _Ops

    o = _Ops("t")
    out = _model_hw(o, "hw", rule)
    g = helper.make_graph(o.nodes, "rule", [helper.make_tensor_value_info("hw", TensorProto.INT64, [2])],
                          [helper.make_tensor_value_info(out, TensorProto.INT64, [2])], initializer=o.consts)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)], ir_version=9)
    onnx.checker.check_model(model, full_check=True)
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def test_older_e2e_graphs_still_run(e2e, real_voc, tmp_path):
    """An e2e graph of the older form (frames at the model's size, no seg.e2e_resize) is sized on the host."""
    from seg.infer import Segmenter
    from seg.metadata import to_props
    from seg.variants.e2e import wrap_e2e

    fp32, _, _ = e2e
    meta = read_meta(fp32)
    old = wrap_e2e(onnx.load(str(fp32)), meta["mean"], meta["std"])
    props = {p.key: p.value for p in old.metadata_props} | to_props({"e2e": True})
    del old.metadata_props[:]
    for k, v in props.items():
        old.metadata_props.add(key=k, value=v)
    onnx.save(old, str(tmp_path / "old.e2e.onnx"))
    assert [o.name for o in old.graph.output] == ["labels"] and "e2e_resize" not in read_meta(tmp_path / "old.e2e.onnx")
    frame = cv2.imread(str(sorted((real_voc / "VOCdevkit" / "VOC2012" / "JPEGImages").glob("*.jpg"))[0]))
    seg_old, plain = Segmenter(tmp_path / "old.e2e.onnx", provider="cpu"), Segmenter(fp32, provider="cpu")
    assert seg_old.e2e and seg_old.graph_rule is None
    assert seg_old.preprocess(frame).shape[1:3] == plain.input_size(*frame.shape[:2])  # resized on the host
    assert (seg_old.predict(frame) == plain.predict(frame)).mean() >= 0.999


@pytest.mark.slow
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
    plain, end2end = Segmenter(fp32, provider="cpu"), Segmenter(path, provider="cpu")
    assert end2end.e2e and not plain.e2e
    x = end2end.preprocess(frame)  # the frame as it is: the graph sizes it
    assert x.dtype == np.uint8 and x.shape == (1, *frame.shape)
    a, b = plain.predict(frame), end2end.predict(frame)
    # today's host path (OpenCV's INTER_AREA) vs the graph's antialiased resize: the bar
    assert a.shape == b.shape == frame.shape[:2] and (a == b).mean() >= 0.995
    # --imgsz goes in as the graph's size input: the same labels as the plain model fed that size
    small_plain, small_e2e = Segmenter(fp32, provider="cpu", imgsz=96), Segmenter(path, provider="cpu", imgsz=96)
    assert small_e2e.size_rule() == "96 px, in the graph"
    assert (small_plain.predict(frame) == small_e2e.predict(frame)).mean() >= 0.995
    with pytest.raises(SegError, match="sizes frames itself .* --imgsz 0"):  # the frame's own size: another rule
        Segmenter(path, provider="cpu", imgsz=0)


def test_fp16_variant_keeps_float32_io(runs, tmp_path):
    out = tmp_path / "m.fp16.onnx"
    report = make_variant(variant_path(runs, "baseline_fcn"), out, precision="fp16")
    model = onnx.load(str(out))
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert model.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    convs = {i for n in model.graph.node if n.op_type == "Conv" for i in n.input[1:2]}
    assert convs and all(t.data_type == onnx.TensorProto.FLOAT16 for t in model.graph.initializer if t.name in convs)
    assert report["guardrail"] == {"skipped": "no held-out data"} and read_meta(out)["precision"] == "fp16"


@pytest.mark.slow
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
    code, out, err = cli("run", "--model", path, "--folder", folder, "--out", tmp_path / "o",
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


def test_int8_builds_sharing_a_folder_calibrate_once_and_equal_unshared_ones(runs, int8, synth_root, tmp_path):
    """--precision auto's two int8 candidates differ only in the ops left in float: sharing a folder,
    the second reuses the first's prepared graph and calibrated ranges (the calibration images are
    read once, where ORT has its calibration cache), and comes out as it does alone."""
    import inspect

    from onnxruntime.quantization import quantize_static

    from seg.variants.auto import MERGE_OPS
    from seg.variants.quantize import quantize_int8

    class Counted(list):
        reads = 0  # images handed to the calibration

        def __iter__(self):
            for image in super().__iter__():
                Counted.reads += 1
                yield image

    fp32 = runs / "baseline_fcn" / "baseline_fcn.onnx"
    train = VOCSegmentation(synth_root, "2007", "train")
    images = Counted(train.load(i)[0] for i in range(4))
    meta, plain = read_meta(fp32), Int8Config(calib_n=4)
    merges = Int8Config(calib_n=4, exclude_ops=MERGE_OPS)
    shared = tmp_path / "shared"
    shared.mkdir()
    first = quantize_int8(fp32, tmp_path / "a.onnx", images, meta, merges, shared)
    second = quantize_int8(fp32, tmp_path / "b.onnx", images, meta, plain, shared)
    cached = "calibration_cache_path" in inspect.signature(quantize_static).parameters
    assert Counted.reads == (4 if cached else 8)
    alone = quantize_int8(fp32, tmp_path / "c.onnx", images, meta, plain)
    assert first["subpixel_deconvs"] == second["subpixel_deconvs"] == alone["subpixel_deconvs"] == 5
    b, c = onnx.load(str(tmp_path / "b.onnx")).graph, onnx.load(str(tmp_path / "c.onnx")).graph
    assert [n.op_type for n in b.node] == [n.op_type for n in c.node]
    assert {i.name: i.raw_data for i in b.initializer} == {i.name: i.raw_data for i in c.initializer}
    scales = [i for i in c.initializer if i.name.endswith("_scale")]  # the ranges' mark on the graph
    assert len(scales) > 10


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


@pytest.mark.slow
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
