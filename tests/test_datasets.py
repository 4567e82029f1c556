"""Issue 20: your data, your classes. One labelled set with classes that are not VOC's, written in
the four layouts users bring (tests/layouts.py), read the same; COCO's rasterisation rule; `seg data
check` on deliberately broken sets; N classes from training to the ONNX file and `seg run`'s legend;
fine-tuning torchvision's weights to other classes; a 2-class LR-ASPP state dict exported."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from layouts import CLASSES, LAYOUT_NAMES, make_labels, write_all, write_images_masks
from seg.data import open_dataset
from seg.errors import SegError

LRASPP = "lraspp_mobilenet_v3_large"


@pytest.fixture(scope="module")
def samples():
    return make_labels()


@pytest.fixture(scope="module")
def layouts(tmp_path_factory, samples) -> dict[str, Path]:
    return write_all(tmp_path_factory.mktemp("layouts"), samples)


# ---- one set, four layouts, the same masks ----------------------------------------------------------

def _all_masks(root: Path) -> tuple[dict[str, np.ndarray], dict[str, list[str]], object]:
    masks, splits, classes = {}, {}, None
    for split in ("train", "val"):
        ds = open_dataset(root, split)
        classes = ds.classes
        splits[split] = list(ds.ids)
        for i in range(len(ds)):
            image, mask = ds.load(i)
            assert image.shape[:2] == mask.shape
            masks[ds.ids[i]] = mask
    return masks, splits, classes


def test_the_four_layouts_give_identical_masks_classes_and_splits(layouts, samples):
    source = {stem: mask for stem, _, mask in samples}
    seen = {}
    for name in LAYOUT_NAMES:
        masks, splits, classes = _all_masks(layouts[name])
        assert list(classes.names) == CLASSES, name
        assert masks.keys() == source.keys() and all(np.array_equal(masks[k], source[k]) for k in source), name
        seen[name] = splits
    assert all(s == seen["cvat"] for s in seen.values())  # one seeded split whatever the layout
    assert len(seen["cvat"]["val"]) == 1 and len(seen["cvat"]["train"]) == 11


def test_each_layout_says_what_it_found(layouts):
    for name in LAYOUT_NAMES:
        ds = open_dataset(layouts[name], "train")
        assert ds.layout == name and any("held out for val" in n for n in ds.notes)


def test_cvat_colours_come_from_the_labelmap(layouts):
    ds = open_dataset(layouts["cvat"], "train")
    assert ds.classes.palette[1] == [250, 50, 83] and ds.classes.source == "labelmap.txt"


def test_dataset_yaml_names_the_classes(tmp_path, samples):
    root = write_images_masks(tmp_path / "d", samples)
    (root / "classes.txt").unlink()
    (root / "dataset.yaml").write_text("names:\n  0: background\n  1: road\n  2: crack\n  3: kelp\n")
    assert list(open_dataset(root, "val").classes.names) == CLASSES


def test_split_subfolders_are_the_splits(tmp_path, samples):
    root = write_images_masks(tmp_path / "d", samples)
    for sub in ("images", "masks"):
        for split, part in (("train", samples[:9]), ("val", samples[9:])):
            (root / sub / split).mkdir()
            for stem, _, _ in part:
                (root / sub / f"{stem}.png").rename(root / sub / split / f"{stem}.png")
    assert len(open_dataset(root, "train")) == 9 and len(open_dataset(root, "val")) == 3


# ---- COCO: the rule, the cache ----------------------------------------------------------------------

def _coco(tmp_path: Path, anns: list[dict], cats=((1, "road"), (2, "crack"))) -> Path:
    root = tmp_path / "coco"
    (root / "annotations").mkdir(parents=True)
    Image.fromarray(np.zeros((10, 10, 3), np.uint8)).save(root / "a.png")
    doc = {"images": [{"id": 1, "file_name": "a.png", "height": 10, "width": 10}],
           "annotations": anns, "categories": [{"id": i, "name": n} for i, n in cats]}
    (root / "annotations" / "instances_val.json").write_text(json.dumps(doc))
    return root


def _rle(mask: np.ndarray) -> dict:
    from pycocotools import mask as mask_utils

    r = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": r["size"], "counts": r["counts"].decode()}


def test_coco_overlaps_of_two_categories_and_crowds_are_void(tmp_path):
    a, b, crowd = (np.zeros((10, 10), bool) for _ in range(3))
    a[0:5, 0:5] = True
    b[3:8, 3:8] = True
    crowd[8:10, :] = True
    root = _coco(tmp_path, [{"id": 1, "image_id": 1, "category_id": 1, "segmentation": _rle(a), "iscrowd": 0},
                            {"id": 2, "image_id": 1, "category_id": 2, "segmentation": _rle(b), "iscrowd": 0},
                            {"id": 3, "image_id": 1, "category_id": 1, "segmentation": _rle(crowd), "iscrowd": 1}])
    ds = open_dataset(root, "val")
    m = ds.read_mask(0)
    assert list(ds.classes.names) == ["background", "road", "crack"]
    assert (m[0:3, 0:3] == 1).all() and (m[5:8, 5:8] == 2).all()
    assert (m[3:5, 3:5] == 255).all()  # road and crack overlap: neither is known to be right
    assert (m[8:10, :] == 255).all() and m[9, 9] == 255 and m[2, 8] == 0


def test_coco_polygons_rasterise_to_the_region(tmp_path):
    """A 6x6 square polygon (and an uncompressed RLE beside it): its inside is the category, the
    outside background, its area 36 pixels give or take the edge pixels pycocotools assigns."""
    square = [2.0, 2.0, 8.0, 2.0, 8.0, 8.0, 2.0, 8.0]
    root = _coco(tmp_path, [{"id": 1, "image_id": 1, "category_id": 1, "segmentation": [square], "iscrowd": 0}])
    m = open_dataset(root, "val").read_mask(0)
    assert (m[3:7, 3:7] == 1).all() and m[0, 0] == 0 and m[9, 9] == 0 and 25 <= (m == 1).sum() <= 49


def test_coco_category_not_in_categories_is_one_line(tmp_path):
    root = _coco(tmp_path, [{"id": 7, "image_id": 1, "category_id": 9, "segmentation": _rle(np.ones((10, 10))),
                             "iscrowd": 0}])
    with pytest.raises(SegError, match="annotation 7 has category_id 9, which is not in categories"):
        open_dataset(root, "val")


def test_coco_masks_are_cached_and_rebuilt_when_the_json_changes(tmp_path):
    a = np.zeros((10, 10), bool)
    a[:4] = True
    root = _coco(tmp_path, [{"id": 1, "image_id": 1, "category_id": 1, "segmentation": _rle(a), "iscrowd": 0}])
    first = open_dataset(root, "val")
    cached = first.masks[0]
    assert cached.is_file() and ".seg-masks" in str(cached) and (first.read_mask(0)[:4] == 1).all()
    doc = json.loads((root / "annotations" / "instances_val.json").read_text())
    doc["annotations"][0]["category_id"] = 2
    (root / "annotations" / "instances_val.json").write_text(json.dumps(doc))
    second = open_dataset(root, "val")
    assert (second.read_mask(0)[:4] == 2).all() and not cached.parent.exists()  # the stale masks are gone
    assert not [p for p in (root / "annotations" / ".seg-masks").iterdir() if ".tmp-" in p.name]


# ---- bad input: one line ----------------------------------------------------------------------------

def test_a_folder_in_no_layout_names_what_was_looked_for(cli, tmp_path):
    (tmp_path / "stuff").mkdir()
    code, _, err = cli("data", "check", tmp_path / "stuff")
    assert code == 1 and "in no layout seg reads" in err and "images/ + masks/" in err and "COCO" in err


def test_images_masks_without_a_class_list_is_one_line(tmp_path, samples):
    root = write_images_masks(tmp_path / "d", samples)
    (root / "classes.txt").unlink()
    with pytest.raises(SegError, match="no class list: add a classes.txt"):
        open_dataset(root, "train")


def test_an_empty_split_is_one_line(tmp_path, samples):
    root = write_images_masks(tmp_path / "d", samples)
    (root / "images" / "val").mkdir()
    (root / "masks" / "val").mkdir()
    (root / "images" / "train").mkdir()
    with pytest.raises(SegError, match="split .* is empty"):
        open_dataset(root, "val")


# ---- seg data check: one test per problem ------------------------------------------------------------

@pytest.fixture
def broken(tmp_path, samples) -> Path:
    return write_images_masks(tmp_path / "broken", samples)


def _check(cli, root: Path) -> tuple[int, str]:
    code, out, err = cli("data", "check", root)
    return code, out + err


def test_check_of_a_good_set_reports_classes_and_sizes(cli, layouts):
    code, out = _check(cli, layouts["coco"])
    assert code == 0 and "4 classes" in out and "kelp" in out and "width 64/64/64" in out and "0 errors" in out


def test_check_finds_a_value_that_is_no_class(cli, broken):
    m = np.array(Image.open(broken / "masks" / "img_004.png"))
    m[0, 0] = 9
    Image.fromarray(m, mode="L").save(broken / "masks" / "img_004.png")
    code, out = _check(cli, broken)
    assert code == 1 and "values that are no class (0..3) and not 255 (1): " in out and "img_004.png (9)" in out


def test_check_finds_a_mask_of_another_size(cli, broken):
    Image.fromarray(np.zeros((10, 10), np.uint8), mode="L").save(broken / "masks" / "img_002.png")
    code, out = _check(cli, broken)
    assert code == 1 and "masks of another size than their image (1)" in out and "10x10 vs 64x48" in out


def test_check_finds_images_without_masks_and_names_three_then_counts(cli, broken):
    for i in range(5):
        (broken / "masks" / f"img_00{i}.png").unlink()
    code, out = _check(cli, broken)
    line = next(ln for ln in out.splitlines() if "images without a mask" in ln)
    assert code == 1 and "(5)" in line and line.count("images/img_00") == 3 and "and 2 more" in line


def test_check_warns_of_a_mask_without_an_image(cli, broken):
    shutil.copy(broken / "masks" / "img_000.png", broken / "masks" / "orphan.png")
    code, out = _check(cli, broken)
    assert code == 0 and "warning: masks without an image (1)" in out and "orphan.png" in out


def test_check_finds_unreadable_files(cli, broken):
    (broken / "images" / "img_003.png").write_bytes(b"not an image")
    (broken / "masks" / "img_005.png").write_bytes(b"not a mask")
    code, out = _check(cli, broken)
    assert code == 1 and "unreadable images (1)" in out and "unreadable masks" in out


def test_check_warns_of_a_class_with_no_pixels_in_a_split(cli, tmp_path, samples):
    cleared = [(s, im, np.where(m == 3, 0, m).astype(np.uint8)) for s, im, m in samples]
    root = write_images_masks(tmp_path / "d", cleared)
    code, out = _check(cli, root)
    assert code == 0 and "classes with no pixels in the train split (1): kelp" in out


def test_check_finds_duplicate_stems(cli, broken):
    shutil.copy(broken / "images" / "img_001.png", broken / "images" / "img_001.jpg")
    code, out = _check(cli, broken)
    assert code == 1 and "images sharing one stem" in out and "img_001.jpg" in out


def test_train_refuses_a_set_with_errors_before_any_step(cli, broken, tmp_path):
    m = np.array(Image.open(broken / "masks" / "img_007.png"))
    m[1, 1] = 12
    Image.fromarray(m, mode="L").save(broken / "masks" / "img_007.png")
    code, out, err = cli("train", "--model", "baseline_fcn", "--data", broken, "--out", tmp_path / "runs",
                         "--epochs", 1, "--batch-size", 4, "--crop-size", 32)
    assert code == 1 and "values that are no class" in err and not (tmp_path / "runs").exists()


# ---- N classes end to end, in each layout ----------------------------------------------------------

@pytest.mark.parametrize("layout", LAYOUT_NAMES)
@pytest.mark.slow
def test_train_export_run_eval_with_the_datas_classes(layout, layouts, cli, tmp_path, monkeypatch):
    root, runs = layouts[layout], tmp_path / "runs"
    code, out, err = cli("train", "--model", "baseline_fcn", "--data", root, "--out", runs, "--epochs", 1,
                         "--batch-size", 4, "--crop-size", 32, "--amp", "off")
    assert code == 0, err
    assert f"{layout} layout" in out and "held out for val" in out
    ckpt = torch.load(runs / "baseline_fcn" / "best.pt", weights_only=False)
    assert ckpt["class_names"] == CLASSES and ckpt["num_classes"] == 4
    code, out, err = cli("export", "--model", "baseline_fcn", "--runs", runs, "--no-simplify")
    assert code == 0, err
    onnx_path = runs / "baseline_fcn" / "baseline_fcn.onnx"
    from seg.metadata import read_meta

    meta = read_meta(onnx_path)
    assert meta["class_names"] == CLASSES and meta["num_classes"] == 4 and len(meta["palette"]) == 4
    _, out_ckpt, err = cli("eval", "--checkpoint", runs / "baseline_fcn" / "best.pt", "--data", root, "--json",
                           tmp_path / "c.json")
    _, out_onnx, err = cli("eval", "--model", onnx_path, "--data", root, "--json", tmp_path / "o.json")
    a, b = (json.loads((tmp_path / f).read_text()) for f in ("c.json", "o.json"))
    assert abs(a["miou"] - b["miou"]) <= 1e-3 and "kelp" in out_onnx
    drawn = []
    import seg.infer.overlay as overlay

    real = overlay.cv2.putText
    monkeypatch.setattr(overlay.cv2, "putText", lambda img, text, *a, **k: (drawn.append(text), real(img, text, *a, **k))[1])
    images = next(p for p in (root / "JPEGImages", root / "images") if p.is_dir())
    code, _, err = cli("run", "--model", onnx_path, "--folder", images, "--legend", "--out", tmp_path / "o",
                       "--max-frames", 2)
    assert code == 0, err
    assert drawn and set(drawn) <= set(CLASSES)  # the legend names the model's own classes


@pytest.mark.slow
def test_a_model_of_other_classes_is_refused_on_a_dataset(cli, layouts, tmp_path):
    from seg.export import to_onnx
    from seg.models import get_model

    torch.manual_seed(0)
    path = tmp_path / "voc.onnx"
    to_onnx(get_model("baseline_fcn"), path, name="baseline_fcn", verify_shapes=None, simplify=False)
    code, _, err = cli("eval", "--model", path, "--data", layouts["labelme"])
    assert code == 1 and "predicts 21 classes" in err and "the data has 4" in err


# ---- fine-tuning torchvision's weights to other classes -----------------------------------------------

def _tv_state(num_classes: int, seed: int) -> dict[str, torch.Tensor]:
    from seg.models.pretrained import PRETRAINED

    torch.manual_seed(seed)
    return PRETRAINED[LRASPP].builder(weights=None, weights_backbone=None, num_classes=num_classes,
                                      aux_loss=False).state_dict()


def test_fine_tuning_keeps_every_tensor_but_the_final_classifier(tmp_path):
    from seg.models import get_model

    state = _tv_state(21, 3)
    torch.save(state, tmp_path / "tv21.pth")
    model = get_model(LRASPP, num_classes=4, weights=tmp_path / "tv21.pth")
    own = model.net.state_dict()
    new = {k for k in own if not torch.equal(own[k], state[k]) if own[k].shape == state[k].shape} | \
        {k for k in own if own[k].shape != state[k].shape}
    assert new == {"classifier.low_classifier.weight", "classifier.low_classifier.bias",
                   "classifier.high_classifier.weight", "classifier.high_classifier.bias"}
    assert own["classifier.low_classifier.weight"].shape[0] == 4
    assert model.notes and "classifier.high_classifier, classifier.low_classifier" in model.notes[0]


def test_train_from_21_class_weights_on_a_4_class_set_says_which_layers_are_new(cli, layouts, tmp_path):
    torch.save(_tv_state(21, 4), tmp_path / "tv21.pth")
    code, out, err = cli("train", "--model", LRASPP, "--weights", tmp_path / "tv21.pth", "--data", layouts["cvat"],
                         "--out", tmp_path / "runs", "--epochs", 1, "--batch-size", 4, "--crop-size", 32, "--amp", "off")
    assert code == 0, err
    assert "new classifier layers for 4 classes: classifier.high_classifier, classifier.low_classifier" in out


@pytest.mark.slow
def test_a_2_class_state_dict_exports_with_its_names_and_matches_torchvision(cli, tmp_path, real_voc, synth_root):
    """A torchvision LR-ASPP fine-tuned elsewhere to background/kelp: exported with --classes, its ONNX
    follows torchvision's own inference (preset, PyTorch model, argmax) on the real photos."""
    from test_pretrained import _lively_state, _reference_logits

    from seg.infer import Segmenter
    from seg.metadata import read_meta
    from seg.models.pretrained import PRETRAINED

    images = sorted((synth_root / "VOCdevkit" / "VOC2007" / "JPEGImages").glob("*.jpg"))[:8]
    state = _lively_state(LRASPP, 11, images, num_classes=2)
    torch.save(state, tmp_path / "kelp.pth")
    code, _, err = cli("export", "--model", LRASPP, "--weights", tmp_path / "kelp.pth", "--out", tmp_path / "k.onnx")
    assert code == 1 and "predict 2 classes: name them with --classes" in err
    code, _, err = cli("export", "--model", LRASPP, "--weights", tmp_path / "kelp.pth", "--classes", "a,b,c",
                       "--out", tmp_path / "k.onnx")
    assert code == 1 and "--classes names 3 classes (a, b, c) but weights" in err and "predict 2" in err
    # --no-verify: the export's own check feeds noise, on which these stand-in weights' logits run to
    # the hundreds; the comparison below, on real photos, is the stronger check.
    code, _, err = cli("export", "--model", LRASPP, "--weights", tmp_path / "kelp.pth", "--classes", "background,kelp",
                       "--out", tmp_path / "k.onnx", "--no-simplify", "--no-verify")
    assert code == 0, err
    meta = read_meta(tmp_path / "k.onnx")
    assert meta["class_names"] == ["background", "kelp"] and meta["num_classes"] == 2
    net = PRETRAINED[LRASPP].builder(weights=None, weights_backbone=None, num_classes=2, aux_loss=False)
    net.load_state_dict(state)
    net.eval()
    seg = Segmenter(tmp_path / "k.onnx", provider="cpu")
    agree = pixels = 0
    labels = set()
    for path in sorted((real_voc / "VOCdevkit" / "VOC2012" / "JPEGImages").glob("*.jpg")):
        ref = _reference_logits(net, path)
        ours = seg.infer(seg.preprocess(cv2.imread(str(path))))[0]
        assert ours.shape == ref.shape
        assert np.abs(ours - ref).max() <= 1e-4 * (ref.max() - ref.min()), path.name
        labels |= set(np.unique(ref.argmax(0)).tolist())
        agree, pixels = agree + int((ours.argmax(0) == ref.argmax(0)).sum()), pixels + ref[0].size
    assert labels == {0, 1}, "degenerate reference"  # both classes appear, or agreement proves nothing
    assert agree / pixels >= 0.999
