"""seg bench and seg demo, on tiny sizes with few runs."""

from __future__ import annotations

import json

import cv2
import pytest
from PIL import Image

from seg import bench as bench_mod
from seg.bench_entries import prepare

REQUIRED = {"model", "engine", "provider", "precision", "size", "latency_ms_p50", "latency_ms_p90", "latency_ms_p99",
            "fps", "miou", "pixel_acc"}


@pytest.fixture(scope="module")
def bench_outputs(tmp_path_factory):
    """seg bench of two untrained models, every kind of row. Its data has 4 training images: the
    int8 variant calibrates on all of them at seg run's default size for a file that records none
    (512), the fixture's longest step with the 12 of the shared set."""
    from seg.cli import main
    from seg.data.synth import SynthConfig, generate

    out = tmp_path_factory.mktemp("bench")
    data = out / "data"
    generate(data, SynthConfig(train=4, val=4, size=64, seed=3), progress=False)
    try:
        main(["bench", "--models", "baseline_fcn,simple_unet", "--random-init", "--runs-dir", str(out / "runs"),
              "--data", str(data), "--size", "64", "64", "--runs", "3", "--warmup", "1",
              "--variants", "fp32,e2e,int8", "--torch-bf16",
              "--json", str(out / "b.json"), "--csv", str(out / "b.csv"), "--md", str(out / "b.md"), "--plot", str(out / "b.png")])
    except SystemExit as e:
        assert e.code in (0, None)
    return out


def rows_and_skips(path):
    result = json.loads(path.read_text())
    return result["rows"], {(sk["model"], sk["variant"]) for sk in result["header"]["skipped"]}


@pytest.mark.slow
def test_json_schema_and_every_row(bench_outputs):
    result = json.loads((bench_outputs / "b.json").read_text())
    h = result["header"]
    assert h["size"] == [64, 64] and h["runs"] == 3 and h["cores"] >= 1 and "onnxruntime" in h and "cpu" in h
    assert h["variants"] == ["fp32", "e2e", "int8"] and h["torch_bf16"] is True
    rows, skipped = rows_and_skips(bench_outputs / "b.json")
    got = {(r["model"], r["engine"], r["variant"]) for r in rows}
    for m in ("baseline_fcn", "simple_unet"):
        assert {(m, "onnxruntime", "fp32"), (m, "onnxruntime", "e2e"), (m, "torch", "fp32"),
                (m, "torch", "bf16+channels_last")} <= got
        # int8 of untrained weights may fail its guardrail: then it is listed as skipped, with the reason
        assert ((m, "onnxruntime", "int8") in got) != ((m, "int8") in skipped)
    for r in rows:
        assert REQUIRED <= set(r)
        assert r["fps"] > 0 and 0 <= r["miou"] <= 1 and 0 <= r["pixel_acc"] <= 1 and r["weights"] == "random-init"
        assert r["latency_ms_p50"] <= r["latency_ms_p90"] <= r["latency_ms_p99"]
        assert r["fps"] == pytest.approx(1e3 / r["latency_ms_p50"])
        assert r["precision"] == {"fp32": "fp32", "e2e": "fp32", "int8": "int8", "bf16+channels_last": "bf16"}[r["variant"]]
        assert r["e2e"] == (r["variant"] == "e2e")


@pytest.mark.slow
def test_engines_agree_on_accuracy(bench_outputs):
    """The same weights through ORT (plain and e2e) and PyTorch: same mIoU (the export was verified)."""
    rows, _ = rows_and_skips(bench_outputs / "b.json")
    for m in ("baseline_fcn", "simple_unet"):
        a, e, b = (next(r for r in rows if r["model"] == m and r["engine"] == eng and r["variant"] == v)
                   for eng, v in (("onnxruntime", "fp32"), ("onnxruntime", "e2e"), ("torch", "fp32")))
        assert a["miou"] == pytest.approx(b["miou"], abs=1e-3) and e["miou"] == pytest.approx(a["miou"], abs=1e-3)
        assert b["speedup_vs_torch"] == 1.0 and a["speedup_vs_torch"] == pytest.approx(a["fps"] / b["fps"])
        best = max(r["fps"] for r in rows if r["model"] == m and r["engine"] == "torch")
        assert a["speedup_vs_torch_best"] == pytest.approx(a["fps"] / best)


@pytest.mark.slow
def test_csv_markdown_and_plot(bench_outputs):
    rows, _ = rows_and_skips(bench_outputs / "b.json")
    lines = (bench_outputs / "b.csv").read_text().splitlines()
    assert lines[0].startswith("model,engine,provider,precision") and len(lines) == len(rows) + 1
    md = (bench_outputs / "b.md").read_text()
    assert md.count("| simple_unet |") == sum(r["model"] == "simple_unet" for r in rows) and "random-init" in md
    assert "| fp32 e2e |" in md and "| bf16+channels_last |" in md
    assert Image.open(bench_outputs / "b.png").format == "PNG"


def test_no_models_says_how_to_get_them(cli, tmp_path):
    code, _, err = cli("bench", "--runs-dir", tmp_path, "--models", "unet")
    assert code == 1 and "no models to bench" in err and "--random-init" in err and "seg demo" in err and ".onnx" in err


@pytest.mark.parametrize("args, message", [
    (["--providers", "npu"], "unknown provider 'npu'"),
    (["--engines", "tflite"], "unknown engine 'tflite'"),
    (["--models", "fcn8s"], "unknown model 'fcn8s'"),
    (["--variants", "int4"], "unknown variant 'int4'"),
])
@pytest.mark.slow
def test_bad_options(cli, bench_outputs, args, message):
    code, _, err = cli("bench", "--runs-dir", bench_outputs / "runs", "--random-init", "--models", "baseline_fcn", *args)
    assert code == 1 and message in err


@pytest.mark.slow
def test_data_without_val_split(cli, bench_outputs, synth_root, tmp_path):
    import shutil

    shutil.copytree(synth_root, tmp_path / "d")
    (tmp_path / "d" / "VOCdevkit" / "VOC2007" / "ImageSets" / "Segmentation" / "val.txt").unlink()
    code, _, err = cli("bench", "--runs-dir", bench_outputs / "runs", "--random-init", "--models", "baseline_fcn",
                       "--data", tmp_path / "d")
    assert code == 1 and "no val split" in err


@pytest.mark.slow
def test_ctrl_c_returns_what_was_measured(bench_outputs, synth_root):
    """Ctrl-C in the middle of the second model's timing: the first model complete, the second's
    runners with the runs they finished (unscored). It used to return no row at all."""

    def interrupt(msg):
        if msg == "simple_unet run 2/3":  # sent after the second interleaved round
            raise KeyboardInterrupt

    prepared = prepare(["baseline_fcn", "simple_unet"], bench_outputs / "runs", variants=("fp32",), random_init=True,
                       log=lambda m: None)
    result = bench_mod.bench(prepared, size=(64, 64), n_runs=3, warmup=0, data=synth_root, on_progress=interrupt)
    assert result["header"]["interrupted"] is True
    rows = result["rows"]
    first = [r for r in rows if r["model"] == "baseline_fcn"]
    second = [r for r in rows if r["model"] == "simple_unet"]
    assert {r["model"] for r in rows} == {"baseline_fcn", "simple_unet"}
    assert len(first) == len(second) >= 2 and all(r["runs"] == 3 and r["miou"] is not None for r in first)
    assert all(r["runs"] == 2 and r["miou"] is None and r["fps"] > 0 for r in second)


@pytest.mark.slow
def test_demo_quick_runs_end_to_end(tmp_path):
    """In an 80-column terminal, as the README's main job is first seen: its closing bench table is
    drawn by seg bench's code, fitted to the terminal (it was a ~300-character Markdown table)."""
    from terminal import run_in_terminal, screen_lines

    code, out = run_in_terminal("demo", "--quick", "--minutes", "0.3", "--root", tmp_path, cols=80, timeout=600)
    assert code == 0, out[-3000:]
    models = ("baseline_fcn", "simple_unet", "resnet_fcn", "unet")
    rows = [ln for ln in screen_lines(out) if ln.split()[:1] and ln.split()[0] in models]
    assert any(ln.split()[:2] == ["unet", "onnxruntime"] for ln in rows), out[-3000:]
    assert all(len(ln) <= 80 for ln in rows), [ln for ln in rows if len(ln) > 80]  # log lines with paths may wrap
    assert "| unet | onnxruntime |" not in out  # no Markdown in a terminal
    result = json.loads((tmp_path / "bench.json").read_text())
    assert all(r["weights"] == "checkpoint" for r in result["rows"])
    got = {(r["model"], r["engine"], r["variant"]) for r in result["rows"]}
    for m in ("baseline_fcn", "simple_unet", "resnet_fcn", "unet"):  # auto always has a winner: fp32 competes
        assert {(m, "onnxruntime", "fp32"), (m, "torch", "fp32"), (m, "onnxruntime", "e2e.auto")} <= got
    assert all(r["precision"] in ("fp32", "int8") for r in result["rows"] if r["variant"] == "e2e.auto")
    for m in ("baseline_fcn", "simple_unet", "resnet_fcn", "unet"):
        assert (tmp_path / "runs" / m / f"{m}.onnx").is_file() and (tmp_path / "runs" / m / "best.pt").is_file()
    cap = cv2.VideoCapture(str(tmp_path / "runs" / "predict" / "demo" / "demo.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 12
    trained = json.loads((tmp_path / "runs" / "simple_unet" / "results.json").read_text())["best_val_miou"]
    torch_row = next(r for r in result["rows"] if r["model"] == "simple_unet" and r["engine"] == "torch")
    assert torch_row["miou"] == pytest.approx(trained, abs=0.01)  # bench's mIoU = training's eval
    assert "5/5 bench" in out and "outputs: checkpoints" in out


@pytest.mark.slow
def test_a_skipped_variant_names_the_bench_option_once(cli, tmp_path):
    """It said "pass --calib-data DIR" (an export option bench does not have), and said it twice."""
    code, out, err = cli("bench", "--models", "baseline_fcn", "--random-init", "--runs-dir", tmp_path, "--size", 64, 64,
                         "--runs", 1, "--warmup", 0, "--variants", "fp32,int8", "--engines", "onnxruntime")
    assert code == 0, err
    lines = [ln for ln in (out + err).splitlines() if "int8" in ln and "calibration" in ln]
    assert len(lines) == 1 and "pass --data DIR" in lines[0] and "--calib-data" not in lines[0], out + err


@pytest.mark.slow
def test_int8_calibrates_on_bench_data_when_the_checkpoints_data_is_gone(cli, trained_runs, synth_root, tmp_path):
    import shutil

    import torch

    runs = tmp_path / "runs"
    shutil.copytree(trained_runs / "baseline_fcn", runs / "baseline_fcn")
    ckpt = torch.load(runs / "baseline_fcn" / "best.pt", weights_only=True)
    ckpt["config"]["data"] = str(tmp_path / "moved-away")
    torch.save(ckpt, runs / "baseline_fcn" / "best.pt")
    args = ["bench", "--models", "baseline_fcn", "--runs-dir", runs, "--size", 64, 64, "--runs", 1, "--warmup", 0,
            "--variants", "int8", "--engines", "onnxruntime", "--json", tmp_path / "b.json"]
    code, out, err = cli(*args)
    assert code == 0, err
    skipped = json.loads((tmp_path / "b.json").read_text())["header"]["skipped"]
    assert len(skipped) == 1 and "moved-away is not here; pass --data DIR" in skipped[0]["reason"]
    code, out, err = cli(*args, "--data", synth_root)
    assert code == 0, err
    result = json.loads((tmp_path / "b.json").read_text())
    reasons = [sk["reason"] for sk in result["header"]["skipped"]]
    # calibrated on --data: a row, unless the guardrail (not the lack of data) refused the model
    assert [r["variant"] for r in result["rows"]] == ["int8"] or (reasons and "mIoU points" in reasons[0])
    assert not any("calibration" in x for x in reasons)
