"""Every CPU class: the class detector, emulation, the roofline in the bench, --precision auto,
and int8's 7-bit weights where the CPU has no VNNI."""

from __future__ import annotations

import json

import pytest
import torch

from seg.machine import cpu_class, figure_class, machine_info


@pytest.mark.parametrize("flags, arch, expected", [
    ({"avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_int8", "amx_bf16"}, "x86_64", "amx"),
    ({"avx2", "avx512f", "avx512_vnni", "avx512_bf16"}, "x86_64", "avx512-bf16"),  # the AMD EPYC of earlier results
    ({"avx2", "avx512f", "avx512_vnni"}, "x86_64", "avx512-vnni"),
    ({"avx2", "avx512f"}, "x86_64", "avx512"),
    ({"avx2", "fma"}, "x86_64", "avx2"),  # the AVX2-only AMD EPYC
    ({"sse4_2"}, "x86_64", "baseline"),
    ({"neon", "asimd"}, "aarch64", "arm64"),
])
def test_cpu_class(flags, arch, expected):
    assert cpu_class(flags, arch) == expected


def test_emulation_is_recorded_and_files_pytorch_figures_under_the_emulated_class(monkeypatch):
    real = machine_info()["cpu_class"]
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    info = machine_info()
    if real == "avx2":
        assert "emulated_class" not in info  # nothing to emulate
        return
    assert info["emulated_class"] == "avx2" and "ONEDNN_MAX_CPU_ISA=AVX2" in info["emulation"]
    assert figure_class(info, torch_side=True) == "avx2" and figure_class(info) == real


def test_the_cpu_class_is_read_without_importing_torch():
    """seg run's plan cache key and int8's weight range ask for the CPU class on every start: where
    torch is installed (a GPU server) asking used to import it (~3 s here, plus CUDA's start-up)."""
    import subprocess
    import sys

    code = ("import sys; from seg.variants.quantize import needs_reduce_range; from seg.infer.plan import _key; "
            "from seg.machine import cpu_info; needs_reduce_range(); _key(sys.executable, 1, None); "
            "print(cpu_info()['cpu_class'], 'torch' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.stdout.split() == [machine_info()["cpu_class"], "False"], r.stderr[-2000:]


def test_results_saved_before_the_class_was_recorded_get_it_from_their_flags():
    old = {"cpu": "AMD EPYC", "cpu_flags": ["avx2", "avx512_bf16", "avx512_vnni", "avx512f"]}
    assert figure_class(old) == "avx512-bf16"


def test_peaks_are_measured_for_each_arithmetic():
    from seg.roofline import measure_peaks, peak_for

    p = measure_peaks(repeats=2)
    assert p["fp32"] > 1 and p["int8"] > 1
    assert peak_for({"provider": "cpu", "precision": "int8"}, p) == p["int8"]
    assert peak_for({"provider": "cpu", "precision": "fp32"}, p) == p["fp32"]
    assert peak_for({"provider": "cuda", "precision": "fp32"}, p) is None  # no GPU roofline


@pytest.mark.slow
def test_bench_rows_say_how_close_to_the_peak_they_run(cli, tmp_path):
    code, out, err = cli("bench", "--models", "baseline_fcn", "--random-init", "--runs-dir", tmp_path, "--size", 64, 64,
                         "--runs", 2, "--warmup", 0, "--variants", "fp32", "--json", tmp_path / "b.json")
    assert code == 0, err
    result = json.loads((tmp_path / "b.json").read_text())
    peaks = result["header"]["peaks"]
    assert result["header"]["cpu_class"] == machine_info()["cpu_class"]
    for r in result["rows"]:
        assert r["gops"] == pytest.approx(r["gflops"] * r["fps"])
        kind = "bf16" if r["precision"] == "bf16" else "fp32"
        assert r["pct_peak"] == pytest.approx(100 * r["gops"] / peaks[kind])
    assert "| % peak |" in out and f"class {machine_info()['cpu_class']}:" in out


# ---- --precision auto ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fp32_file(tmp_path_factory, trained_runs):
    from seg.export import export_checkpoint

    out = tmp_path_factory.mktemp("auto") / "baseline_fcn.onnx"
    export_checkpoint("baseline_fcn", trained_runs / "baseline_fcn" / "best.pt", out, verify_shapes=None, simplify=False)
    return out


def _auto(fp32_file, synth_root, tmp_path, ms: dict[str, float], **kw):
    """auto_variant with a fake clock: the candidates' times are ``ms`` by name (deterministic)."""
    from seg.data import VOCSegmentation
    from seg.metadata import read_meta
    from seg.variants.auto import auto_variant

    def timer(path, imgsz, runs):
        q = read_meta(path).get("quantization") or {}
        name = "fp32" if not q else ("int8, merge ops in float" if q.get("exclude_ops") else "int8")
        return ms[name]

    return auto_variant(fp32_file, tmp_path / "m.auto.onnx", calib=VOCSegmentation(synth_root, "2007", "train"),
                        heldout=VOCSegmentation(synth_root, "2007", "val"), timer=timer, max_drop=100, **kw)


@pytest.mark.slow
def test_auto_keeps_a_slower_passing_int8_out_and_says_why(fp32_file, synth_root, tmp_path):
    """Where int8 does not pay on this CPU, the model stays fp32 instead of shipping a slower int8 file."""
    from seg.metadata import read_meta

    r = _auto(fp32_file, synth_root, tmp_path, {"fp32": 10.0, "int8": 12.0, "int8, merge ops in float": 15.0})
    assert r["auto"]["chosen"] == "fp32" and r["precision"] == "fp32"
    cands = {c["name"]: c for c in read_meta(r["path"])["auto"]["candidates"]}
    assert cands["int8"]["passed"] and cands["int8"]["why"] == "slower: 12.0 ms vs 10.0 ms per frame"
    assert cands["fp32"]["why"] == "fastest that passed" and cands["fp32"]["ms"] == 10.0


@pytest.mark.slow
def test_auto_takes_the_fastest_int8_that_passes(fp32_file, synth_root, tmp_path):
    r = _auto(fp32_file, synth_root, tmp_path, {"fp32": 10.0, "int8": 6.0, "int8, merge ops in float": 5.0})
    assert r["auto"]["chosen"] == "int8, merge ops in float" and r["precision"] == "int8"
    from seg.metadata import read_meta

    meta = read_meta(r["path"])
    assert meta["quantization"]["exclude_ops"] == ["Add", "Concat", "Resize"] and meta["auto"]["cpu_class"]


@pytest.mark.slow
def test_auto_calls_a_tie_within_timing_noise_for_the_simpler_candidate(fp32_file, synth_root, tmp_path):
    """Identical graphs time 36.6 vs 36.6 ms: the first of the tied candidates (int8 before int8
    with float merges) is kept, and the record says it was a tie rather than "slower"."""
    r = _auto(fp32_file, synth_root, tmp_path, {"fp32": 80.0, "int8": 36.7, "int8, merge ops in float": 36.2})
    cands = {c["name"]: c for c in r["auto"]["candidates"]}
    assert r["auto"]["chosen"] == "int8" and cands["int8"]["why"].startswith("within 3% of the fastest (36.2 ms)")
    # the faster one it tied with is not called "slower" (it said "slower: 36.2 ms vs 36.7 ms")
    assert cands["int8, merge ops in float"]["why"] == "the fastest, but within 3% of the simpler int8 (36.7 ms): a tie"
    assert cands["fp32"]["why"] == "slower: 80.0 ms vs 36.7 ms per frame"
    r = _auto(fp32_file, synth_root, tmp_path, {"fp32": 80.0, "int8": 40.0, "int8, merge ops in float": 36.2})
    assert r["auto"]["chosen"] == "int8, merge ops in float"  # 10% apart: not a tie


@pytest.mark.slow
def test_auto_never_takes_a_refused_candidate(fp32_file, synth_root, tmp_path):
    from seg.data.folder import ImageFolder
    from seg.variants.auto import auto_variant

    photos = ImageFolder(synth_root / "VOCdevkit" / "VOC2007" / "JPEGImages")
    calib, heldout = photos.split_off(4)
    r = auto_variant(fp32_file, tmp_path / "m.auto.onnx", calib=calib, heldout=heldout, min_agreement=1.01,
                     timer=lambda p, s, n: 1.0)  # int8 would win on time, but no int8 can agree on 101% of pixels
    cands = {c["name"]: c for c in r["auto"]["candidates"]}
    assert r["auto"]["chosen"] == "fp32" and not cands["int8"]["passed"] and "label on only" in cands["int8"]["why"]


@pytest.mark.slow
def test_seg_export_and_run_with_auto(cli, trained_runs, synth_root, tmp_path):
    import shutil

    runs = tmp_path / "runs"
    shutil.copytree(trained_runs / "baseline_fcn", runs / "baseline_fcn")
    code, out, err = cli("export", "--model", "baseline_fcn", "--runs", runs, "--precision", "auto", "--e2e",
                         "--no-verify")
    assert code == 0, err
    assert (runs / "baseline_fcn" / "baseline_fcn.e2e.auto.onnx").is_file() and "auto: chose" in err
    assert out.count("  auto: ") == 3 and "baseline_fcn auto: " in out
    code, _, err = cli("run", "--model", "baseline_fcn", "--runs", runs, "--variant", "e2e.auto", "--folder",
                       synth_root / "VOCdevkit" / "VOC2007" / "JPEGImages", "--imgsz", 64)
    assert code == 0 and "baseline_fcn.e2e.auto.onnx" in err, err


@pytest.mark.slow
def test_int8_uses_7_bit_weights_on_cpus_without_vnni(fp32_file, synth_root, tmp_path, monkeypatch):
    from seg.data import VOCSegmentation
    from seg.metadata import read_meta
    from seg.variants import quantize
    from seg.variants.build import make_variant

    def build(name):
        make_variant(fp32_file, tmp_path / name, precision="int8", calib=VOCSegmentation(synth_root, "2007", "train"),
                     max_drop=100)
        return read_meta(tmp_path / name)["quantization"]["reduce_range"]

    monkeypatch.setattr(quantize, "needs_reduce_range", lambda: True)  # an AVX2-only CPU
    assert build("avx2.onnx") is True
    monkeypatch.setattr(quantize, "needs_reduce_range", lambda: False)  # VNNI, AMX, ARM
    assert build("vnni.onnx") is False


@pytest.mark.slow
def test_no_native_bf16_means_fp32_training_here_when_emulating_avx2():
    """The emulation this project uses for the AVX2 class turns bf16 autocast off, as that class would."""
    import subprocess
    import sys

    code = "import torch; from seg.machine import cpu_has_bf16; print(cpu_has_bf16())"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env={**__import__("os").environ, "ONEDNN_MAX_CPU_ISA": "AVX2"})
    assert r.stdout.strip() == "False", r.stderr
    assert torch.get_num_threads() >= 1


def test_auto_on_a_machine_that_runs_models_on_its_gpu_builds_no_int8(fp32_file, synth_root, tmp_path, monkeypatch):
    """Issue 26: on a GPU box seg run puts an fp32 file on CUDA and an int8 (QOperator) one on the CPU,
    so --precision auto must not pick int8 there, however fast it is on the CPU."""
    import seg.variants.auto as auto_mod

    monkeypatch.setattr(auto_mod, "gpu_runs_models", lambda: True)
    r = _auto(fp32_file, synth_root, tmp_path, {"fp32": 10.0, "int8": 1.0, "int8, merge ops in float": 1.0})
    cands = {c["name"]: c for c in r["auto"]["candidates"]}
    assert r["auto"]["chosen"] == "fp32" and "runs models on its GPU" in cands["int8"]["why"]
