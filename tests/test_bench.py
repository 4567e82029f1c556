"""seg bench and seg demo, on tiny sizes with few runs."""

from __future__ import annotations

import json

import cv2
import pytest
from PIL import Image

from seg import bench as bench_mod

REQUIRED = {"model", "engine", "provider", "precision", "size", "latency_ms_p50", "latency_ms_p90", "latency_ms_p99",
            "fps", "miou", "pixel_acc"}


@pytest.fixture(scope="module")
def bench_outputs(synth_root, tmp_path_factory):
    from seg.cli import main

    out = tmp_path_factory.mktemp("bench")
    try:
        main(["bench", "--models", "baseline_fcn,simple_unet", "--random-init", "--runs-dir", str(out / "runs"),
              "--data", str(synth_root), "--size", "64", "64", "--runs", "3", "--warmup", "1",
              "--json", str(out / "b.json"), "--csv", str(out / "b.csv"), "--md", str(out / "b.md"), "--plot", str(out / "b.png")])
    except SystemExit as e:
        assert e.code in (0, None)
    return out


def test_json_schema_and_every_row(bench_outputs):
    result = json.loads((bench_outputs / "b.json").read_text())
    h = result["header"]
    assert h["size"] == [64, 64] and h["runs"] == 3 and h["cores"] >= 1 and "onnxruntime" in h and "cpu" in h
    rows = result["rows"]
    assert {(r["model"], r["engine"]) for r in rows} == {(m, e) for m in ("baseline_fcn", "simple_unet")
                                                          for e in ("onnxruntime", "torch")}
    for r in rows:
        assert REQUIRED <= set(r)
        assert r["fps"] > 0 and 0 <= r["miou"] <= 1 and 0 <= r["pixel_acc"] <= 1 and r["weights"] == "random-init"
        assert r["latency_ms_p50"] <= r["latency_ms_p90"] <= r["latency_ms_p99"]
        assert r["fps"] == pytest.approx(1e3 / r["latency_ms_p50"])


def test_engines_agree_on_accuracy(bench_outputs):
    """The same weights through ORT and PyTorch: same mIoU (the export was verified)."""
    rows = json.loads((bench_outputs / "b.json").read_text())["rows"]
    for m in ("baseline_fcn", "simple_unet"):
        a, b = (next(r for r in rows if r["model"] == m and r["engine"] == e) for e in ("onnxruntime", "torch"))
        assert a["miou"] == pytest.approx(b["miou"], abs=1e-3)
        assert b["speedup_vs_torch"] == 1.0 and a["speedup_vs_torch"] == pytest.approx(a["fps"] / b["fps"])


def test_csv_markdown_and_plot(bench_outputs):
    lines = (bench_outputs / "b.csv").read_text().splitlines()
    assert lines[0].startswith("model,engine,provider,precision") and len(lines) == 5
    md = (bench_outputs / "b.md").read_text()
    assert md.count("| simple_unet |") == 2 and "random-init" in md
    assert Image.open(bench_outputs / "b.png").format == "PNG"


def test_no_models_says_how_to_get_them(cli, tmp_path):
    code, _, err = cli("bench", "--runs-dir", tmp_path, "--models", "unet")
    assert code == 1 and "no trained models" in err and "--random-init" in err and "seg demo" in err


@pytest.mark.parametrize("args, message", [
    (["--providers", "npu"], "unknown provider 'npu'"),
    (["--engines", "tflite"], "unknown engine 'tflite'"),
    (["--models", "fcn8s"], "unknown model 'fcn8s'"),
])
def test_bad_options(cli, bench_outputs, args, message):
    code, _, err = cli("bench", "--runs-dir", bench_outputs / "runs", "--random-init", "--models", "baseline_fcn", *args)
    assert code == 1 and message in err


def test_data_without_val_split(cli, bench_outputs, synth_root, tmp_path):
    import shutil

    shutil.copytree(synth_root, tmp_path / "d")
    (tmp_path / "d" / "VOCdevkit" / "VOC2007" / "ImageSets" / "Segmentation" / "val.txt").unlink()
    code, _, err = cli("bench", "--runs-dir", bench_outputs / "runs", "--random-init", "--models", "baseline_fcn",
                       "--data", tmp_path / "d")
    assert code == 1 and "no val split" in err


def test_ctrl_c_returns_what_was_measured(bench_outputs, monkeypatch):
    calls = []

    def interrupt_on_second_model(msg):
        calls.append(msg)
        if msg.startswith("simple_unet"):
            raise KeyboardInterrupt

    result = bench_mod.bench(["baseline_fcn", "simple_unet"], runs=bench_outputs / "runs", size=(64, 64), n_runs=2,
                             warmup=0, random_init=True, log=lambda m: None, on_progress=interrupt_on_second_model)
    assert result["header"]["interrupted"] is True
    assert {r["model"] for r in result["rows"]} == {"baseline_fcn"}


def test_demo_quick_runs_end_to_end(cli, tmp_path):
    code, out, err = cli("demo", "--quick", "--minutes", "0.3", "--root", tmp_path)
    assert code == 0, err
    result = json.loads((tmp_path / "bench.json").read_text())
    assert len(result["rows"]) == 8 and all(r["weights"] == "checkpoint" for r in result["rows"])
    for m in ("baseline_fcn", "simple_unet", "resnet_fcn", "unet"):
        assert (tmp_path / "runs" / m / f"{m}.onnx").is_file() and (tmp_path / "runs" / m / "best.pt").is_file()
    cap = cv2.VideoCapture(str(tmp_path / "runs" / "predict" / "demo" / "demo.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 24
    trained = json.loads((tmp_path / "runs" / "simple_unet" / "results.json").read_text())["best_val_miou"]
    torch_row = next(r for r in result["rows"] if r["model"] == "simple_unet" and r["engine"] == "torch")
    assert torch_row["miou"] == pytest.approx(trained, abs=0.01)  # bench's mIoU = training's eval
    assert "| unet | onnxruntime |" in out and "5/5 bench" in out
