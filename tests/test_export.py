"""ONNX export: dynamic dims, one file, metadata, parity with PyTorch, and the failure paths."""

from __future__ import annotations

import json
import shutil

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from seg.errors import SegError
from seg.export import onnx as seg_onnx
from seg.export import to_onnx, verify
from seg.metadata import from_props
from seg.models import get_model

NAMES = ["baseline_fcn", "simple_unet", "resnet_fcn", "unet"]
SMALL = ((2, 3, 64, 64), (1, 3, 97, 131))  # batch 2 and an odd size, small enough for CI


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Each architecture, random init, exported and verified once for the module."""
    out = {}
    for name in NAMES:
        torch.manual_seed(0)
        model = get_model(name).eval()
        path = tmp_path_factory.mktemp(name) / f"{name}.onnx"
        report = to_onnx(model, path, name=name, verify_shapes=SMALL, simplify=name == "simple_unet",
                         metadata={"weights": "random-init"})
        out[name] = (model, path, report)
    return out


def cpu_checks(report):
    return [c for c in report["checks"] if c["provider"] == "CPUExecutionProvider"]


def session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.slow
def test_graph_has_dynamic_batch_height_width(exported, name):
    _, path, _ = exported[name]
    g = onnx.load(str(path)).graph
    assert [i.name for i in g.input] == ["image"] and [o.name for o in g.output] == ["logits"]
    dims = [d for d in g.input[0].type.tensor_type.shape.dim]
    assert dims[1].dim_value == 3 and all(dims[i].dim_param and not dims[i].dim_value for i in (0, 2, 3))
    assert g.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.slow
def test_one_self_contained_file(exported, name):
    _, path, report = exported[name]
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no .onnx.data, no temp file
    model = onnx.load(str(path), load_external_data=False)
    assert all(t.data_location != onnx.TensorProto.EXTERNAL for t in model.graph.initializer)
    assert report["bytes"] == path.stat().st_size


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.slow
def test_metadata_reads_back(exported, name):
    _, path, _ = exported[name]
    meta = from_props(session(path).get_modelmeta().custom_metadata_map)
    assert meta["format"] == "seg-onnx/1" and meta["model"] == name and meta["num_classes"] == 21
    assert meta["class_names"][0] == "background" and meta["class_names"][20] == "tvmonitor"
    assert meta["palette"][1] == [128, 0, 0] and len(meta["palette"]) == 21
    assert meta["mean"] == pytest.approx([0.485, 0.456, 0.406]) and meta["std"] == pytest.approx([0.229, 0.224, 0.225])
    assert meta["weights"] == "random-init" and int(meta["opset"]) >= 18
    assert meta["verification"]["passed"] is True and meta["verification"]["min_argmax_agreement"] >= 0.999


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.slow
def test_ort_matches_torch_at_other_sizes_and_batches(exported, name):
    model, path, _ = exported[name]
    sess = session(path)
    for shape in [(1, 3, 32, 32), (3, 3, 50, 61), (2, 3, 77, 40)]:
        x = torch.randn(*shape)
        out = sess.run(["logits"], {"image": x.numpy()})[0]
        with torch.no_grad():
            ref = model(x).numpy()
        assert out.shape == (shape[0], 21, shape[2], shape[3])
        assert np.abs(out - ref).max() <= 1e-4 + 1e-4 * np.abs(ref).max()
        assert (out.argmax(1) == ref.argmax(1)).mean() >= 0.999


@pytest.mark.slow
def test_report_covers_each_shape(exported):
    report = exported["unet"][2]["verification"]
    cpu = cpu_checks(report)  # a CUDA machine adds its own checks of the same shapes
    assert report["passed"] and [c["shape"] for c in cpu] == [list(s) for s in SMALL]
    assert all(c["output_shape"] == [s[0], 21, s[2], s[3]] for c, s in zip(cpu, SMALL))


@pytest.mark.slow
def test_simplified_graph_is_kept_only_after_passing(exported):
    assert exported["simple_unet"][2]["simplified"] is True
    assert exported["simple_unet"][2]["verification"]["passed"]


@pytest.mark.slow
def test_a_simplified_graph_that_fails_parity_is_discarded(tmp_path, monkeypatch):
    """onnxslim's graph is kept only if it passes the same check: here the "simplified" graph
    adds 1 to one class's logit (the classifier's bias), so the exporter's own graph must be the
    one written."""
    from onnx import numpy_helper

    from seg.metadata import read_meta

    def broken_slim(proto):
        p = onnx.ModelProto()
        p.CopyFrom(proto)
        bias = next(t for t in p.graph.initializer if t.name == "classifier.bias")
        values = numpy_helper.to_array(bias).copy()
        values[3] += 1.0
        bias.CopyFrom(numpy_helper.from_array(values, bias.name))
        return p

    monkeypatch.setattr(seg_onnx, "_simplify", broken_slim)
    torch.manual_seed(0)
    model = get_model("baseline_fcn").eval()
    report = to_onnx(model, tmp_path / "m.onnx", name="baseline_fcn", verify_shapes=((1, 3, 64, 64),))
    assert report["simplified"] is False and report["verification"]["passed"]
    assert read_meta(tmp_path / "m.onnx")["simplified"] is False
    x = np.random.default_rng(0).standard_normal((1, 3, 64, 64), dtype=np.float32)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    assert np.abs(session(tmp_path / "m.onnx").run(None, {"image": x})[0] - ref).max() < 1e-3


@pytest.mark.slow
def test_verify_catches_a_perturbed_model(exported):
    model, path, _ = exported["baseline_fcn"]
    perturbed = get_model("baseline_fcn").eval()
    perturbed.load_state_dict(model.state_dict())
    with torch.no_grad():
        perturbed.classifier.bias[3] += 0.5
    report = verify(path, perturbed, SMALL)
    assert not report["passed"] and all(c["max_abs_diff"] >= 0.49 for c in report["checks"])


@pytest.mark.slow
def test_failed_verification_writes_nothing(exported, tmp_path, monkeypatch):
    """The exported graph (of another model) disagrees with the model it claims to be."""
    other, _, _ = exported["baseline_fcn"]
    graph = seg_onnx.export_proto(other)
    monkeypatch.setattr(seg_onnx, "export_proto", lambda model, opset=None: graph)
    torch.manual_seed(1)
    with pytest.raises(SegError, match=r"verification failed, nothing written: .*max \|diff\|"):
        to_onnx(get_model("baseline_fcn"), tmp_path / "m.onnx", name="baseline_fcn", verify_shapes=SMALL, simplify=False)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_interrupt_mid_export_leaves_no_file(tmp_path, monkeypatch):
    def interrupted(*a, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(seg_onnx, "verify", interrupted)
    with pytest.raises(KeyboardInterrupt):
        to_onnx(get_model("baseline_fcn"), tmp_path / "m.onnx", name="baseline_fcn", verify_shapes=SMALL)
    assert list(tmp_path.iterdir()) == []


# ---- the CLI ---------------------------------------------------------------------------------------

@pytest.mark.slow
def test_cli_exports_the_default_checkpoint_with_its_metrics(cli, trained_runs, tmp_path):
    code, out, err = cli("export", "--model", "baseline_fcn", "--runs", trained_runs, "--report", tmp_path / "r.json")
    assert code == 0, err
    path = trained_runs / "baseline_fcn" / "baseline_fcn.onnx"
    meta = from_props(session(path).get_modelmeta().custom_metadata_map)
    assert meta["weights"] == "checkpoint" and "best.pt (epoch 1)" in meta["checkpoint"]
    assert 0 <= meta["val_metrics"]["val_miou"] <= 1 and meta["val_metrics"]["epoch"] == 1
    assert meta["imgsz"] == "64"  # the tiny synthetic set's images are 64 px wide: seg run's default input size
    from seg.infer import Segmenter

    assert Segmenter(path, provider="cpu").input_size(480, 640) == (64, 64)  # longer side 64, sides in multiples of 32
    assert Segmenter(path, provider="cpu", imgsz=0).input_size(480, 640) == (480, 640)
    import json

    report = json.loads((tmp_path / "r.json").read_text())
    cpu = cpu_checks(report["verification"])
    assert report["verification"]["passed"] and len(cpu) == 3
    assert {tuple(c["shape"]) for c in cpu} == set(seg_onnx.DEFAULT_SHAPES)
    assert out.count(" yes ") == 3 and " NO " not in out


def test_cli_missing_checkpoint_says_how_to_get_one(cli, tmp_path):
    code, _, err = cli("export", "--model", "unet", "--runs", tmp_path)
    assert code == 1 and "seg train --model unet --data DIR" in err and "--random-init" in err
    assert err.count("\n") == 1


def test_cli_checkpoint_of_another_architecture(cli, trained_runs, tmp_path):
    code, _, err = cli("export", "--model", "unet", "--checkpoint", trained_runs / "baseline_fcn" / "best.pt",
                       "--out", tmp_path / "u.onnx")
    assert code == 1 and "holds a baseline_fcn model, not unet" in err
    assert not (tmp_path / "u.onnx").exists()


def test_cli_corrupt_checkpoint(cli, tmp_path):
    (tmp_path / "bad.pt").write_bytes(b"\x00" * 64)
    code, _, err = cli("export", "--model", "unet", "--checkpoint", tmp_path / "bad.pt", "--out", tmp_path / "u.onnx")
    assert code == 1 and "cannot read checkpoint" in err and not (tmp_path / "u.onnx").exists()


def test_cli_unwritable_output(cli, tmp_path):
    (tmp_path / "file").write_text("x")
    code, _, err = cli("export", "--model", "baseline_fcn", "--random-init", "--out", tmp_path / "file" / "m.onnx")
    assert code == 1 and err == f"error: cannot create output file {tmp_path / 'file' / 'm.onnx'}: {tmp_path / 'file'} is a file, not a folder\n"


@pytest.mark.parametrize("opset", ["13", "99"])
def test_cli_opset_the_exporter_cannot_produce(cli, tmp_path, opset):
    code, _, err = cli("export", "--model", "baseline_fcn", "--random-init", "--opset", opset, "--out", tmp_path / "m.onnx")
    assert code == 1 and f"opset {opset} cannot be produced by the installed exporter" in err
    assert not (tmp_path / "m.onnx").exists()


@pytest.mark.parametrize("args, message", [
    (["--model", "fcn8s", "--random-init"], "unknown model 'fcn8s'"),
    ([], "pass either --model NAME, --all or --onnx FILE.onnx"),
    (["--model", "unet", "--all"], "pass either --model NAME, --all or --onnx FILE.onnx"),
    (["--model", "unet", "--random-init", "--out", "x.pt"], "must end in .onnx"),
])
def test_cli_bad_arguments(cli, tmp_path, args, message):
    code, _, err = cli("export", "--runs", tmp_path, *args)
    assert code == 1 and message in err


@pytest.mark.slow
def test_cli_no_verify_still_writes_a_checked_file(cli, tmp_path):
    code, out, _ = cli("export", "--model", "simple_unet", "--random-init", "--no-verify", "--out", tmp_path / "s.onnx")
    assert code == 0 and "not verified" in out
    meta = from_props(session(tmp_path / "s.onnx").get_modelmeta().custom_metadata_map)
    assert "verification" not in meta and meta["weights"] == "random-init"
    shutil.rmtree(tmp_path)


@pytest.mark.slow
def test_eval_of_the_onnx_file_matches_its_checkpoint(cli, trained_runs, synth_root, tmp_path):
    """`seg eval --model x.onnx` (ONNX Runtime, numpy preprocessing) = `seg eval --checkpoint` (PyTorch)."""
    onnx_path = tmp_path / "m.onnx"
    ckpt = trained_runs / "baseline_fcn" / "best.pt"
    assert cli("export", "--model", "baseline_fcn", "--checkpoint", ckpt, "--out", onnx_path, "--no-verify")[0] == 0
    assert cli("eval", "--checkpoint", ckpt, "--data", synth_root, "--json", tmp_path / "a.json")[0] == 0
    assert cli("eval", "--model", onnx_path, "--data", synth_root, "--provider", "cpu", "--json", tmp_path / "b.json")[0] == 0
    a, b = (json.loads((tmp_path / f).read_text()) for f in ("a.json", "b.json"))
    assert a["model"] == b["model"] == "baseline_fcn" and a["pixels"] == b["pixels"]
    assert abs(a["miou"] - b["miou"]) <= 1e-3 and abs(a["pixel_acc"] - b["pixel_acc"]) <= 1e-3
    for name, iou in a["iou"].items():
        assert (iou is None) == (b["iou"][name] is None) and (iou is None or abs(iou - b["iou"][name]) <= 1e-3)


def test_eval_needs_exactly_one_of_checkpoint_and_model(cli, synth_root, tmp_path):
    code, _, err = cli("eval", "--data", synth_root)
    assert code == 1 and "pass either --checkpoint FILE.pt or --model FILE.onnx" in err


@pytest.mark.slow
def test_exported_output_dims_are_named_like_the_input(tmp_path):
    import onnx

    torch.manual_seed(0)
    to_onnx(get_model("simple_unet"), tmp_path / "m.onnx", name="simple_unet", verify_shapes=((1, 3, 64, 64),),
            simplify=False)
    m = onnx.load(str(tmp_path / "m.onnx"), load_external_data=False)
    dims = [d.dim_param or d.dim_value for d in m.graph.output[0].type.tensor_type.shape.dim]
    assert dims == ["batch", 21, "height", "width"]
