"""torchvision's pretrained VOC-class models as seg models: contract, weights, preset, parity.

Nothing here downloads: published weights are stood in for by state dicts saved locally (the
file torchvision would fetch, put where torch's hub cache looks, or passed as a path).
"""

from __future__ import annotations

import json
import urllib.error

import cv2
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from seg.classes import VOC_CLASSES
from seg.errors import SegError
from seg.infer.preprocess import input_size, resize_antialias
from seg.models import MODELS, SEED_MODELS, get_model
from seg.models.pretrained import PRETRAINED, published

from conftest import examples

LIGHT = ("lraspp_mobilenet_v3_large", "deeplabv3_mobilenet_v3_large")  # the two cheap enough to run often
LRASPP = "lraspp_mobilenet_v3_large"


def test_the_registry_lists_the_seed_models_then_torchvisions():
    assert list(MODELS) == [*SEED_MODELS, *PRETRAINED]
    assert set(PRETRAINED) >= {"lraspp_mobilenet_v3_large", "deeplabv3_mobilenet_v3_large", "fcn_resnet50",
                               "deeplabv3_resnet50"}


@pytest.mark.parametrize("name", list(PRETRAINED))
def test_published_weights_are_vocs_classes_in_segs_order(name):
    p = published(name)
    assert p["categories"][1:] == list(VOC_CLASSES[1:]) and len(p["categories"]) == len(VOC_CLASSES)
    assert 0.5 < p["metrics"]["miou"] < 0.7 and p["url"].endswith(".pth")
    assert p["preprocess"] == {"resize": "shorter", "size": 520, "interpolation": "bilinear", "antialias": True}


@pytest.mark.parametrize("name", list(PRETRAINED))
def test_forward_keeps_the_input_size_at_odd_sizes(name):
    model = get_model(name).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, 33, 47)).shape == (2, 21, 33, 47)


@settings(max_examples=examples(6), deadline=None)
@given(name=st.sampled_from(LIGHT), h=st.integers(32, 120), w=st.integers(32, 120), n=st.integers(1, 2))
def test_light_models_keep_any_size(name, h, w, n):
    model = _light(name)
    with torch.no_grad():
        assert model(torch.randn(n, 3, h, w)).shape == (n, 21, h, w)


_CACHE: dict[str, torch.nn.Module] = {}


def _light(name: str) -> torch.nn.Module:
    if name not in _CACHE:
        _CACHE[name] = get_model(name).eval()
    return _CACHE[name]


def _torchvision_state(name: str, seed: int, aux: bool = False) -> dict[str, torch.Tensor]:
    """A state dict as torchvision's own builder makes it (what its published file holds)."""
    torch.manual_seed(seed)
    net = PRETRAINED[name].builder(weights=None, weights_backbone=None, num_classes=21, aux_loss=aux)
    return net.state_dict()


def _lively_state(name: str, seed: int, images: list, num_classes: int = 21) -> dict[str, torch.Tensor]:
    """Random weights whose outputs depend on the input, at a trained model's scale: with fresh
    batch-norm statistics a random torchvision model gives one constant label map (its activations
    vanish), against which any preprocessing would agree. Statistics from seg's synthetic images
    (put through the preset) give 7-18 classes on each real photo, logits within 1e-5 of their
    range between ONNX Runtime and PyTorch. (Statistics from plain noise blow the logits up to
    +-600 and the export's own check then fails at 1.8e-4 of them: not a model anyone trains.)"""
    from PIL import Image

    torch.manual_seed(seed)
    net = PRETRAINED[name].builder(weights=None, weights_backbone=None, num_classes=num_classes, aux_loss=False)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None  # a cumulative average over the batches below
    preset = PRETRAINED[name].coco_voc.transforms()
    x = torch.stack([preset(Image.open(p).convert("RGB").resize((256, 256))) for p in images])
    net.train()
    with torch.no_grad():
        for batch in x.split(2):
            net(batch)
    return net.eval().state_dict()


def test_a_local_state_dict_loads_with_or_without_wrapping(tmp_path):
    state = _torchvision_state(LRASPP, 1)
    torch.save(state, tmp_path / "plain.pth")
    torch.save({"model": state, "epoch": 3}, tmp_path / "reference.pth")  # torchvision's reference scripts
    for f in ("plain.pth", "reference.pth"):
        model = get_model(LRASPP, weights=tmp_path / f)
        key = "classifier.cbr.0.weight"
        assert torch.equal(model.net.state_dict()[key], state[key])


def test_the_auxiliary_head_of_published_files_is_dropped(tmp_path):
    torch.save(_torchvision_state("fcn_resnet50", 0, aux=True), tmp_path / "fcn.pth")
    model = get_model("fcn_resnet50", weights=tmp_path / "fcn.pth")
    assert not any(k.startswith("aux_classifier") for k in model.net.state_dict())


def test_another_architectures_weights_are_one_line(tmp_path):
    torch.save(_torchvision_state(LRASPP, 0), tmp_path / "lraspp.pth")
    with pytest.raises(SegError, match=r"do not fit deeplabv3_mobilenet_v3_large: \d+ missing") as e:
        get_model("deeplabv3_mobilenet_v3_large", weights=tmp_path / "lraspp.pth")
    assert "\n" not in str(e.value)


def test_offline_download_names_the_alternatives(monkeypatch):
    w = PRETRAINED[LRASPP].coco_voc

    def offline(*a, **k):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(type(w), "get_state_dict", lambda self, *a, **k: offline())
    with pytest.raises(SegError) as e:
        get_model(LRASPP, weights="coco-voc")
    msg = str(e.value)
    assert "offline?" in msg and "--weights none" in msg and w.url in msg and "hub" in msg and "\n" not in msg


def test_weights_for_a_seed_model_are_refused(cli, synth_root, tmp_path):
    code, _, err = cli("export", "--model", "unet", "--weights", "coco-voc", "--out", tmp_path / "u.onnx")
    assert code == 1 and "--weights is for torchvision's pretrained models" in err
    code, _, err = cli("train", "--model", "unet", "--weights", "coco-voc", "--data", synth_root, "--out", tmp_path)
    assert code == 1 and "--weights is for torchvision's pretrained models" in err
    code, _, err = cli("export", "--model", LRASPP, "--weights", tmp_path / "missing.pth", "--out", tmp_path / "l.onnx")
    assert code == 1 and "neither 'coco-voc', 'none' nor an existing file" in err


@settings(max_examples=examples(40), deadline=None)
@given(h=st.integers(1, 4000), w=st.integers(1, 4000))
def test_the_preset_resizes_the_shorter_side_as_torchvision_does(h, w):
    from torchvision.transforms.v2 import functional as F

    meta = {"preprocess": {"resize": "shorter", "size": 520}}
    got = input_size(h, w, meta)
    if max(got) < 4096:  # torchvision's own rule, beyond seg's cap
        assert got == tuple(F.resize(torch.empty(1, h, w), [520]).shape[1:])
    assert min(got) == 520 or max(got) == 4096
    assert input_size(h, w, meta, imgsz=256) == input_size(h, w, {}, imgsz=256)  # --imgsz wins


@settings(max_examples=examples(25), deadline=None)
@given(h=st.integers(2, 300), w=st.integers(2, 300), oh=st.integers(1, 400), ow=st.integers(1, 400),
       seed=st.integers(0, 2**16))
def test_antialiased_resize_is_torchvisions_filter(h, w, oh, ow, seed):
    """Within the rounding bound of the exact (float64) result, and close to torchvision's uint8
    result: the same filter, rounded (a resize without antialiasing misses by tens of levels on noise)."""
    from torchvision.transforms.v2 import functional as F

    img = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    ours = resize_antialias(img, (oh, ow)).astype(float)
    t = torch.from_numpy(img).permute(2, 0, 1)
    ref8 = F.resize(t, [oh, ow], antialias=True).permute(1, 2, 0).numpy()
    # The exact result in float64: torchvision's float32 kernel is itself off by up to ~0.002 at
    # these sizes (262x2 -> 348x4: 1.0016 from ours in float32, 1.0000000000038 in float64), which
    # is what made a bound of 1 + 1e-3 fail on an AMD machine.
    ref = F.resize(t.double(), [oh, ow], antialias=True).permute(1, 2, 0).numpy().clip(0, 255)
    # The bound, from the algorithms: Pillow resizes in two separable passes, rounding to uint8
    # after each (0.5 each; the first pass's error is carried through the second's weights, which
    # sum to 1), with each weight in 22-bit fixed point (at most 2**-23 off, times a value <= 255,
    # per tap; at most 2 * ceil(input / output) + 2 taps per output pixel and axis).
    taps = sum(2 * -(-a // b) + 2 for a, b in ((h, oh), (w, ow)))
    tol = 1 + taps * 255 * 2.0**-23 + 1e-9
    assert ours.shape == (oh, ow, 3) and np.abs(ours - ref).max() <= tol
    # torchvision's uint8 kernel rounds its own way (int16 weights on AVX2 CPUs): each result is
    # within ~1 level of the exact one, so the two are within 2 (55x84 -> 154x154 on an AVX2 AMD
    # machine: one value off by 2), and rarely off by more than 1.
    off = np.abs(ours - ref8)
    assert off.max() <= 2 and (off > 1).mean() < 0.01


def test_antialiased_resize_of_a_photo_differs_from_torchvision_on_few_values(real_voc):
    from torchvision.transforms.v2 import functional as F

    img = cv2.imread(str(real_voc / "VOCdevkit" / "VOC2012" / "JPEGImages" / "2007_000032.jpg"))[..., ::-1].copy()
    for size in ((520, 925), (150, 267), (700, 1246)):
        ref = F.resize(torch.from_numpy(img).permute(2, 0, 1), list(size), antialias=True).permute(1, 2, 0).numpy()
        diff = np.abs(resize_antialias(img, size).astype(int) - ref.astype(int))
        assert diff.max() <= 1 and (diff > 0).mean() < 0.01, size


@pytest.fixture(scope="module")
def lraspp_exports(tmp_path_factory, synth_root):
    """lraspp exported from random weights (--weights none, seed 0: the full export, onnxslim
    and verification) and from a saved state dict (the exporter's graph without onnxslim: the
    tests below compare it with torchvision anyway)."""
    from seg.cli import main

    d = tmp_path_factory.mktemp("lraspp")
    images = sorted((synth_root / "VOCdevkit" / "VOC2007" / "JPEGImages").glob("*.jpg"))[:8]
    torch.save(_lively_state(LRASPP, 7, images), d / "tv.pth")
    for args in (("--weights", "none", "--out", d / "none.onnx"),
                 ("--weights", d / "tv.pth", "--out", d / "file.onnx", "--no-simplify")):
        try:
            main(["export", "--model", LRASPP, *map(str, args)])
        except SystemExit as e:
            assert not e.code
    return d


def _reference_logits(model: torch.nn.Module, path) -> np.ndarray:
    """torchvision's documented inference: the image, the weights' preset, the model (argmax: the labels). The
    image is opened with Pillow (the preset converts it to a uint8 tensor: what torchvision's
    deprecated read_image gave)."""
    from PIL import Image

    preset = PRETRAINED[LRASPP].coco_voc.transforms()
    with torch.no_grad():
        return model(preset(Image.open(path).convert("RGB")).unsqueeze(0))["out"][0].numpy()


@pytest.mark.slow
def test_segs_onnx_pipeline_matches_torchvisions_reference_on_real_photos(lraspp_exports, real_voc):
    """seg's path (Pillow resize, numpy normalisation, ONNX Runtime) against torchvision's reference on
    the 13 real photos: logits within 1e-4 of their range, labels on >= 99.9% of the pixels. The weights
    give input-dependent outputs (see _lively_state); OpenCV's bilinear resize in place of Pillow's
    fails this (86-97% agreement, measured with such weights)."""
    from seg.infer import Segmenter

    net = PRETRAINED[LRASPP].builder(weights=None, weights_backbone=None, num_classes=21, aux_loss=False)
    net.load_state_dict(torch.load(lraspp_exports / "tv.pth"))
    net.eval()
    seg = Segmenter(lraspp_exports / "file.onnx", provider="cpu")
    agree, pixels, classes = 0, 0, set()
    for path in sorted((real_voc / "VOCdevkit" / "VOC2012" / "JPEGImages").glob("*.jpg")):
        ref = _reference_logits(net, path)
        ours = seg.infer(seg.preprocess(cv2.imread(str(path))))[0]
        assert ours.shape == ref.shape  # same preset size: shorter side 520
        assert np.abs(ours - ref).max() <= 1e-4 * (ref.max() - ref.min()), path.name
        classes |= set(np.unique(ref.argmax(0)).tolist())
        agree, pixels = agree + int((ours.argmax(0) == ref.argmax(0)).sum()), pixels + ref[0].size
    assert len(classes) >= 5, f"degenerate reference: labels {classes}"  # else agreement proves nothing
    assert agree / pixels >= 0.999, f"label agreement {agree / pixels:.4%}"


@pytest.mark.slow
def test_the_export_records_weights_and_preset(lraspp_exports, cli):
    from seg.metadata import read_meta

    meta = read_meta(lraspp_exports / "file.onnx")
    assert meta["weights"] == "file" and meta["pretrained"]["file"].endswith("tv.pth")
    assert meta["preprocess"]["size"] == 520 and meta["preprocess"]["antialias"] is True
    assert read_meta(lraspp_exports / "none.onnx")["weights"] == "random-init"
    code, out, _ = cli("info", lraspp_exports / "file.onnx")
    assert code == 0 and "shorter side 520 px" in out and "tv.pth" in out


@pytest.mark.slow
def test_cached_published_weights_are_used_offline(tmp_path, monkeypatch, cli):
    """What the docs tell an offline user to do: the published file, under its own name, in
    torch's hub cache. Its contents here are a stand-in; torch only hashes files it downloads."""
    w = PRETRAINED[LRASPP].coco_voc
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    cache = tmp_path / "torch" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    torch.save(_torchvision_state(LRASPP, 5), cache / published(LRASPP)["file"])
    code, out, err = cli("export", "--model", LRASPP, "--weights", "coco-voc", "--out", tmp_path / "p.onnx",
                         "--no-verify", "--no-simplify")
    assert code == 0, err
    from seg.metadata import read_meta

    meta = read_meta(tmp_path / "p.onnx")
    assert meta["weights"] == "pretrained" and meta["pretrained"]["url"] == w.url
    assert meta["pretrained"]["metrics"] == {"miou": 0.579, "pixel_acc": 0.912}
    code, out, _ = cli("info", tmp_path / "p.onnx")
    assert "57.9%" in out and "COCO" in out


@pytest.mark.slow
def test_int8_e2e_of_a_pretrained_model_runs_on_a_real_video(lraspp_exports, real_voc, cli, tmp_path):
    """The issue's offline path: --weights none -> int8 e2e -> seg run on a real clip."""
    images = real_voc / "VOCdevkit" / "VOC2012" / "JPEGImages"
    code, out, err = cli("export", "--onnx", lraspp_exports / "none.onnx", "--precision", "int8", "--e2e",
                         "--calib-data", images, "--calib-n", 8, "--force", "--out", tmp_path / "e2e.int8.onnx")
    assert code == 0, err
    video = real_voc / "video" / "bikes.mp4"
    code, out, err = cli("run", "--model", tmp_path / "e2e.int8.onnx", "--video", video, "--max-frames", 3,
                         "--out", tmp_path / "out.avi", "--provider", "cpu")
    assert code == 0, err
    assert "shorter side 520 px" in err
    cap = cv2.VideoCapture(str(tmp_path / "out.avi"))
    ok, frame = cap.read()
    src = cv2.VideoCapture(str(video))
    assert ok and frame.shape[:2] == (int(src.get(cv2.CAP_PROP_FRAME_HEIGHT)), int(src.get(cv2.CAP_PROP_FRAME_WIDTH)))


@pytest.mark.slow
def test_fine_tuning_from_local_weights_then_exporting_the_checkpoint(synth_root, tmp_path, cli):
    torch.save(_torchvision_state(LRASPP, 5), tmp_path / "tv.pth")  # the weights of the offline test above: one trace
    code, out, err = cli("train", "--model", LRASPP, "--weights", tmp_path / "tv.pth", "--data", synth_root,
                         "--out", tmp_path / "runs", "--epochs", 1, "--batch-size", 4, "--crop-size", 64)
    assert code == 0, err
    results = json.loads((tmp_path / "runs" / LRASPP / "results.json").read_text())
    assert results["config"]["weights"] == str(tmp_path / "tv.pth")
    code, out, err = cli("export", "--model", LRASPP, "--runs", tmp_path / "runs", "--no-simplify")
    assert code == 0, err
    from seg.metadata import read_meta

    meta = read_meta(tmp_path / "runs" / LRASPP / f"{LRASPP}.onnx")
    # A checkpoint trained by seg is run at its training images' size, not torchvision's preset.
    assert meta["weights"] == "checkpoint" and "preprocess" not in meta and meta["imgsz"] == "64"
    # Published (here: local) weights over the fine-tuned export: done, but said.
    code, out, err = cli("export", "--model", LRASPP, "--runs", tmp_path / "runs", "--weights", tmp_path / "tv.pth",
                         "--no-verify", "--no-simplify")
    assert code == 0, err
    assert "warning: replacing" in err and "from checkpoint weights" in err and "best.pt" in err, err
    assert read_meta(tmp_path / "runs" / LRASPP / f"{LRASPP}.onnx")["weights"] == "file"


@pytest.mark.slow
def test_seg_models_lists_sources_and_published_metrics_at_80_columns():
    from terminal import run_in_terminal, screen_lines

    code, out = run_in_terminal("models", cols=80)
    assert code == 0
    lines = screen_lines(out)
    assert all(len(line) <= 80 for line in lines)
    text = " ".join(lines)
    for name in PRETRAINED:
        assert name in text.replace(" ", "") or name[:20] in text
    assert "mIoU 57.9%" in text and "seed: seg train" in text
