"""The CUDA/TensorRT paths, checked where they can be without a GPU.

This machine has onnxruntime-gpu but no usable CUDA: with the NVIDIA-driver check bypassed it is
exactly a GPU box whose CUDA or cuDNN libraries are missing, where ONNX Runtime quietly runs on
the CPU. The GPU itself is exercised by tests/test_gpu.py (skipped here).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import seg.infer.session as session_mod
from seg.errors import SegError
from seg.export import to_onnx, verify
from seg.infer.providers import ShapeRange, content_key, provider_options
from seg.infer.session import create_session
from seg.models import get_model

from conftest import examples, recording_imgsz


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("gpu") / "simple_unet.onnx"
    net = get_model("simple_unet").eval()
    to_onnx(net, path, name="simple_unet", verify_shapes=None, simplify=False)
    return path, net


@pytest.fixture
def gpu_box_without_cuda(monkeypatch):
    """An NVIDIA driver is 'there', but CUDA cannot load (as on this machine)."""
    monkeypatch.setattr(session_mod, "has_nvidia_gpu", lambda: True)


@pytest.mark.slow
def test_an_unusable_cuda_is_refused_not_run_on_the_cpu(model_file, gpu_box_without_cuda):
    attempts = []
    with pytest.raises(SegError, match=r"provider cuda is not usable on this machine: ONNX Runtime could not load it: "
                                       r"\S+\.so"):
        create_session(model_file[0], "cuda", attempts=attempts)
    assert [a.provider for a in attempts] == ["cuda"] and not attempts[0].ok


def test_a_missing_tensorrt_is_one_line_naming_the_library_and_the_fix(model_file, gpu_box_without_cuda):
    """On an H200 with onnxruntime-gpu and no TensorRT, ONNX Runtime's own error was a truncated C++
    signature; seg names the missing library and what to install instead."""
    attempts = []
    with pytest.raises(SegError) as e:
        create_session(model_file[0], "tensorrt", attempts=attempts)
    msg = str(e.value)
    assert "\n" not in msg and "libnvinfer.so" in msg and "tensorrt-cu13-libs" in msg and "LD_LIBRARY_PATH" in msg
    assert "onnxruntime_src" not in msg and not attempts[0].ok


def test_auto_reports_why_the_gpu_providers_were_passed_over(model_file, gpu_box_without_cuda):
    from seg.infer import Segmenter

    seg = Segmenter(model_file[0], provider="auto", imgsz=64)
    assert seg.provider == "cpu" and [a.provider for a in seg.attempts] == ["tensorrt", "cuda", "cpu"]
    verdict = seg.provider_verdict()
    assert verdict.startswith("cpu (tensorrt: ") and "cuda: ONNX Runtime could not load it: " in verdict


def test_export_parity_never_labels_a_cpu_run_cuda(model_file, gpu_box_without_cuda, monkeypatch):
    """The exporter's CUDA check used to run on the CPU (ONNX Runtime's fallback) and report CUDA."""
    from seg.export import onnx as exporter

    path, net = model_file
    with pytest.raises(SegError, match="provider cuda is not usable"):  # asked for explicitly
        verify(path, net, [(1, 3, 64, 64)], providers=["CUDAExecutionProvider"])
    monkeypatch.setattr(exporter, "verification_providers", lambda: ["CPUExecutionProvider", "CUDAExecutionProvider"])
    report = verify(path, net, [(1, 3, 64, 64)])  # CUDA merely listed: skipped, with the reason
    assert report["passed"] and {c["provider"] for c in report["checks"]} == {"CPUExecutionProvider"}
    assert [s["provider"] for s in report["skipped"]] == ["CUDAExecutionProvider"]
    assert "could not load it" in report["skipped"][0]["reason"]


@pytest.mark.slow
def test_tensorrt_engines_are_keyed_by_the_weights(model_file, tmp_path):
    """ORT names cached engines by file name, node names and versions: new weights, same path, old engine."""
    path = tmp_path / "m.onnx"
    torch.manual_seed(1)
    to_onnx(get_model("simple_unet"), path, name="simple_unet", verify_shapes=None, simplify=False)
    opts = dict(fp16=False, cache_dir=tmp_path / "trt", shapes=None, input_name="image", nhwc=False, tf32=True,
                conv_search="EXHAUSTIVE")
    first = provider_options("tensorrt", str(path), **opts)
    assert provider_options("tensorrt", str(path), **opts) == first  # unchanged file: the cached engine is reused
    torch.manual_seed(2)
    to_onnx(get_model("simple_unet"), path, name="simple_unet", verify_shapes=None, simplify=False)  # retrained
    second = provider_options("tensorrt", str(path), **opts)
    assert second["trt_engine_cache_path"] != first["trt_engine_cache_path"]
    assert second["trt_timing_cache_path"] == first["trt_timing_cache_path"]  # layer timings stay shared
    assert content_key(path.read_bytes()) == content_key(path)


def test_an_unwritable_engine_cache_is_one_line(model_file, readonly_dir):
    with pytest.raises(SegError, match="cannot create the TensorRT engine cache"):
        provider_options("tensorrt", str(model_file[0]), False, readonly_dir / "trt", None, "image", False, True,
                          "EXHAUSTIVE")


def test_tensorrt_profiles_cover_imgsz_and_batch():
    p = ShapeRange.for_imgsz(500).profile("image", nhwc=False)
    assert p == {"trt_profile_min_shapes": "image:1x3x32x32", "trt_profile_opt_shapes": "image:1x3x512x512",
                 "trt_profile_max_shapes": "image:1x3x512x512"}
    p = ShapeRange((288, 512), (256, 256), batch=4).profile("frames", nhwc=True)  # e2e: uint8 NHWC frames
    assert p["trt_profile_max_shapes"] == "frames:4x288x512x3" and p["trt_profile_opt_shapes"] == "frames:1x256x256x3"


PRESET = {"preprocess": {"resize": "shorter", "size": 520}, "imgsz": 160}
sides = st.integers(32, 4096)


@settings(max_examples=examples(60), deadline=None)
@given(frames=st.lists(st.tuples(sides, sides), min_size=1, max_size=5),
       meta_imgsz=st.sampled_from([(PRESET, None), (PRESET, 0), ({"imgsz": 160}, 0), ({"imgsz": 160}, None),
                                   (PRESET, 320)]))
def test_the_tensorrt_profile_covers_every_frame_it_is_told_of(frames, meta_imgsz):
    """No frame may need an input beyond TensorRT's profile (a rebuild or a refusal mid-run): a folder
    of photos more elongated than 16:9 used to exceed the preset models' profile."""
    from seg.infer.preprocess import input_size
    from seg.infer.segmenter import _profile

    meta, imgsz = meta_imgsz
    profile = _profile(meta, imgsz, lambda: frames)
    for h, w in frames:
        ih, iw = input_size(h, w, meta, imgsz)
        assert ih <= profile.max_hw[0] and iw <= profile.max_hw[1], (h, w, ih, iw, profile)
    assert profile.max_hw[0] % 32 == 0 and profile.max_hw[0] <= 4096


def test_the_profile_without_frames_and_with_a_fixed_size():
    from seg.infer.segmenter import _profile

    def never():
        raise AssertionError("a fixed input size needs no frame sizes")

    assert _profile({"imgsz": 160}, None, never).max_hw == (160, 160)
    assert _profile(PRESET, 320, never).max_hw == (320, 320)
    assert _profile(PRESET, None, None).max_hw == (544, 928)  # a 16:9 frame at shorter side 520: 520x924
    assert _profile(PRESET, None, lambda: [(400, 1600)]).max_hw == (544, 2080)  # 4:1 -> 520x2080
    assert _profile(PRESET, None, lambda: [(400, 1600)]).opt_hw == (544, 2080)  # warmed up there, not at a square


def test_a_folder_tells_its_frame_sizes_from_the_headers(tmp_path):
    import cv2

    from seg.infer.sources import folder_source, open_source

    for i, (h, w) in enumerate([(40, 300), (97, 61), (120, 160)]):
        cv2.imwrite(str(tmp_path / f"{i}.png"), np.zeros((h, w, 3), np.uint8))
    (tmp_path / "3.png").write_bytes(b"not an image")
    assert sorted(folder_source(tmp_path).frame_sizes()) == [(40, 300), (97, 61), (120, 160)]
    video = tmp_path / "v.avi"
    vw = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 5, (64, 48))
    for _ in range(2):
        vw.write(np.zeros((48, 64, 3), np.uint8))
    vw.release()
    src = open_source(video=video)
    assert src.frame_sizes() == [(48, 64)]
    src.close()


def test_cuda_options_for_parity_and_changing_sizes(model_file):
    o = provider_options("cuda", str(model_file[0]), False, None, None, "image", False, tf32=False,
                          conv_search="HEURISTIC")
    assert o == {"cudnn_conv_algo_search": "HEURISTIC", "use_tf32": 0}


def test_emulated_bf16_gpus_train_in_fp16(monkeypatch):
    """is_bf16_supported() counts emulation: a V100/T4 would have trained in slow emulated bf16."""
    from seg.train.device import amp_dtype

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: including_emulation)
    assert amp_dtype("auto", torch.device("cuda")) == torch.float16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)
    assert amp_dtype("auto", torch.device("cuda")) == torch.bfloat16


def test_bench_runs_pytorch_where_onnx_runtime_runs():
    from seg.bench import _torch_device

    assert _torch_device(torch, ["cpu"]) == "cpu"
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert _torch_device(torch, ["tensorrt"]) == expected and _torch_device(torch, ["cuda"]) == expected


def test_doctor_on_this_machine(cli):
    code, out, err = cli("doctor", "--json")
    assert code == 0, err
    d = json.loads(out)
    providers = {p["provider"]: p for p in d["providers"]}
    assert providers["cpu"]["works"] and providers["cpu"]["ms"] > 0
    assert providers["cpu"]["placement"] == {}  # placement is read for GPU providers only
    assert d["machine"]["cpu_class"] in ("amx", "avx512-bf16", "avx512-vnni", "avx512", "avx2", "arm64", "baseline")
    assert d["versions"]["onnxruntime"] and "tensorrt_library" in d["versions"]
    if not session_mod.has_nvidia_gpu():
        assert providers["cuda"]["detail"].startswith("no NVIDIA driver on this machine")
    code, out, _ = cli("doctor")
    assert code == 0 and "| cpu | yes |" in out and "class " in out


def test_the_gpu_fallback_of_onnx_runtime_is_off(model_file, gpu_box_without_cuda, monkeypatch):
    """No session seg makes for a GPU provider may re-create itself on the CPU at run() time."""
    import onnxruntime as ort

    made = []
    real = ort.InferenceSession

    def spy(*a, **k):
        made.append(k.get("enable_fallback"))
        return real(*a, **k)

    monkeypatch.setattr(ort, "InferenceSession", spy)
    monkeypatch.setattr(session_mod, "library_problem", lambda name: None)  # the library loads; the session fails
    with pytest.raises(SegError):
        create_session(model_file[0], "cuda")
    assert 0 in made
    x = np.zeros((1, 3, 64, 64), np.float32)
    sess, used = create_session(model_file[0], "cpu")
    assert used == "cpu" and sess.run(None, {"image": x})[0].shape == (1, 21, 64, 64)


# ---- issue 26, rows 4-6 ------------------------------------------------------------------------------

def test_preload_dlls_prints_nothing_to_stdout(model_file, gpu_box_without_cuda, monkeypatch, capsys):
    """onnxruntime.preload_dlls() print()s "Failed to load ..." where CUDA libraries are missing:
    that broke `seg doctor --json`, whose stdout must be JSON only."""
    monkeypatch.setattr(session_mod.ort, "preload_dlls", lambda *a, **k: print("Failed to load libcublasLt.so.13"))
    with pytest.raises(SegError):
        create_session(model_file[0], "cuda")
    assert "Failed to load" not in capsys.readouterr().out


def test_wsl2_counts_as_an_nvidia_machine(monkeypatch):
    import seg.infer.providers as providers

    monkeypatch.setattr(providers.sys, "platform", "linux")
    monkeypatch.setattr(providers.os.path, "exists", lambda p: p == "/dev/dxg")
    assert providers.has_nvidia_gpu()
    monkeypatch.setattr(providers.os.path, "exists", lambda p: False)
    assert not providers.has_nvidia_gpu()


@pytest.fixture(scope="module")
def int8_file(model_file, synth_root, tmp_path_factory):
    from seg.variants import calibration_sets, make_variant

    folder = tmp_path_factory.mktemp("q")
    out = folder / "simple_unet.int8.onnx"
    # calibrated at 64 px, not seg run's default 512: any int8 file will do
    fp32 = recording_imgsz(model_file[0], folder / "simple_unet.onnx", 64)
    calib, _ = calibration_sets(synth_root, 4)
    make_variant(fp32, out, precision="int8", calib=calib, heldout=None)
    return out


@pytest.mark.slow
def test_an_int8_qoperator_file_is_refused_on_gpu_providers(int8_file, gpu_box_without_cuda):
    """No QLinearConv kernel in the CUDA provider, Q/DQ only in TensorRT: such a file would run on the
    CPU under a 'cuda' label. Asked for, one line; under auto, the CPU, saying why."""
    for provider in ("cuda", "tensorrt"):
        with pytest.raises(SegError, match="QOperator form .* runs on the CPU only") as e:
            create_session(int8_file, provider)
        assert "\n" not in str(e.value)
    attempts = []
    _, used = create_session(int8_file, "auto", attempts=attempts)
    assert used == "cpu" and all("QOperator" in a.reason for a in attempts if not a.ok)


# ---- issue 26, rows 1-3 with ONNX Runtime's session faked where no GPU can answer ---------------------

class _FakeGpuSession:
    """A session whose placement and errors are what ONNX Runtime gives on a GPU box."""

    placement: dict = {}
    error: str | None = None
    real = None

    def __init__(self, model, opts=None, providers=None, **kw):
        names = [p[0] if isinstance(p, tuple) else p for p in (providers or [])]
        if names == ["CPUExecutionProvider"]:
            self._s = _FakeGpuSession.real(model, opts, providers=providers)
            return
        if _FakeGpuSession.error:
            raise RuntimeError(_FakeGpuSession.error)
        self._s = _FakeGpuSession.real(model, providers=["CPUExecutionProvider"])
        self._names = names

    def __getattr__(self, item):
        return getattr(self._s, item)

    def get_providers(self):
        return getattr(self, "_names", None) or self._s.get_providers()

    def get_provider_graph_assignment_info(self):
        class Sub:
            def __init__(self, ep, n):
                self.ep_name, self._n = ep, n

            def get_nodes(self):
                return list(range(self._n))
        return [Sub(ep, n) for ep, n in _FakeGpuSession.placement.items()]


@pytest.fixture
def fake_gpu(monkeypatch):
    _FakeGpuSession.real = session_mod.ort.InferenceSession
    monkeypatch.setattr(session_mod, "has_nvidia_gpu", lambda: True)
    monkeypatch.setattr(session_mod, "library_problem", lambda name: None)
    monkeypatch.setattr(session_mod.ort, "InferenceSession", _FakeGpuSession)
    monkeypatch.setattr(_FakeGpuSession, "placement", {})
    monkeypatch.setattr(_FakeGpuSession, "error", None)
    return _FakeGpuSession


def test_tensorrt_that_took_no_node_is_not_reported_as_tensorrt(model_file, fake_gpu, tmp_path):
    fake_gpu.placement = {"CUDAExecutionProvider": 40, "CPUExecutionProvider": 2}
    with pytest.raises(SegError, match=r"tensorrt is not usable .*took no node of the model \(CUDA, CPU ran it all\)"):
        create_session(model_file[0], "tensorrt", cache_dir=tmp_path)
    fake_gpu.placement = {"TensorrtExecutionProvider": 30, "CUDAExecutionProvider": 10}
    _, used = create_session(model_file[0], "tensorrt", cache_dir=tmp_path)
    assert used == "tensorrt"


def test_tensorrt_on_part_of_a_graph_says_to_use_cuda(model_file, fake_gpu, tmp_path):
    fake_gpu.error = "[ONNXRuntimeError] : 1 : FAIL : Following input(s) has no associated shape profiles provided: /x"
    with pytest.raises(SegError, match="takes only part of this graph.*--provider cuda"):
        create_session(model_file[0], "tensorrt", cache_dir=tmp_path)


def test_one_profile_rule_covers_what_each_caller_feeds(monkeypatch, real_voc):
    """bench, eval and the Segmenter size TensorRT's profile from the model's own input rule: a preset
    model meets 520x520 for --size 512 512 and 520x693 for a 500x375 VOC photo (the bench and eval
    sized it from raw image sizes or the 512x512 default, and TensorRT failed at the first larger input)."""
    from seg.infer.providers import ShapeRange

    preset = {"preprocess": {"resize": "shorter", "size": 520}}
    r = ShapeRange.for_frames(preset, [(512, 512), (375, 500), (500, 375)])
    assert r.max_hw[0] >= 693 and r.max_hw[1] >= 693 and r.opt_hw == (544, 544)
    assert ShapeRange.for_frames({"imgsz": "512"}, [(720, 1280)]) == ShapeRange((288, 512), (288, 512))
    seen = []
    import seg.infer.evaluate as ev

    monkeypatch.setattr(ev, "create_session", lambda path, *a, **k: (seen.append(k.get("shapes")), (_ for _ in ()).throw(
        SegError("stop")))[1])
    monkeypatch.setattr("seg.metadata.read_meta", lambda p: preset)
    from seg.data import open_dataset

    with pytest.raises(SegError, match="stop"):
        ev.evaluate_onnx("m.onnx", open_dataset(real_voc, "val", "2012"), provider="tensorrt")
    assert seen[0].max_hw[0] >= 520 and max(seen[0].max_hw) >= 693


def test_engines_are_keyed_by_their_profile(tmp_path):
    from seg.infer.providers import ShapeRange

    a = provider_options("tensorrt", b"model", False, tmp_path, ShapeRange((544, 704)), "x", False, True, "HEURISTIC")
    b = provider_options("tensorrt", b"model", False, tmp_path, ShapeRange((512, 512)), "x", False, True, "HEURISTIC")
    assert a["trt_engine_cache_path"] != b["trt_engine_cache_path"]


def test_an_unusable_engine_cache_fails_tensorrt_only(model_file, fake_gpu, tmp_path):
    """A cache folder that cannot be created (under a file) or is read-only: TensorRT fails with that
    reason and auto goes on to CUDA, instead of aborting (or rebuilding engines at every start)."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    fake_gpu.placement = {"CUDAExecutionProvider": 40}
    attempts = []
    _, used = create_session(model_file[0], "auto", cache_dir=blocker / "trt", attempts=attempts)
    assert used == "cuda" and "cannot create the TensorRT engine cache" in attempts[0].reason
