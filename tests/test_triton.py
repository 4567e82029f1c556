"""Issue 23: `seg export --format triton`. The config parses as Triton's own ModelConfig protobuf
and agrees with the ONNX graph (names, types, ranks, the batch axis); bad input is one line."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest

model_config_pb2 = pytest.importorskip("tritonclient.grpc.model_config_pb2",
                                       reason="tritonclient parses Triton's config: pip install 'tritonclient[grpc]'")

ONNX_TO_TRITON = {onnx.TensorProto.FLOAT: model_config_pb2.TYPE_FP32, onnx.TensorProto.UINT8: model_config_pb2.TYPE_UINT8,
                  onnx.TensorProto.FLOAT16: model_config_pb2.TYPE_FP16}


def _config(path: Path):
    from google.protobuf import text_format

    return text_format.Parse(path.read_text(), model_config_pb2.ModelConfig())


@pytest.fixture(scope="module")
def e2e_file(fcn_onnx, tmp_path_factory) -> Path:
    from seg.variants import make_variant

    out = tmp_path_factory.mktemp("triton") / "baseline_fcn.e2e.onnx"
    make_variant(fcn_onnx, out, e2e=True)
    return out


@pytest.mark.parametrize("which", ["plain", "e2e"])
def test_the_config_is_the_graphs(cli, fcn_onnx, e2e_file, tmp_path, which):
    path = fcn_onnx if which == "plain" else e2e_file
    code, out, err = cli("export", "--onnx", path, "--format", "triton", "--repository", tmp_path / "repo",
                         "--max-batch", 8, "--instances", 2, "--trt-fp16")
    assert code == 0, err
    name = path.name.removesuffix(".onnx").replace(".", "_")
    folder = tmp_path / "repo" / name
    c = _config(folder / "config.pbtxt")
    assert c.name == name and c.platform == "onnxruntime_onnx" and c.max_batch_size == 8
    assert c.dynamic_batching.max_queue_delay_microseconds > 0
    assert c.instance_group[0].count == 2 and c.instance_group[0].kind == model_config_pb2.ModelInstanceGroup.KIND_GPU
    (acc,) = c.optimization.execution_accelerators.gpu_execution_accelerator
    assert acc.name == "tensorrt" and acc.parameters["precision_mode"] == "FP16"
    graph = onnx.load(str(path)).graph
    inits = {i.name for i in graph.initializer}
    for tensors, values in ((c.input, [v for v in graph.input if v.name not in inits]), (c.output, graph.output)):
        assert [t.name for t in tensors] == [v.name for v in values]
        for t, v in zip(tensors, values):
            dims = v.type.tensor_type.shape.dim
            assert dims[0].dim_param  # the batch axis, dynamic, is Triton's: left out of dims
            assert len(t.dims) == len(dims) - 1
            assert list(t.dims) == [d.dim_value if d.HasField("dim_value") else -1 for d in dims[1:]]
            assert t.data_type == ONNX_TO_TRITON[v.type.tensor_type.elem_type]
    assert c.output[0].label_filename == "labels.txt"
    from seg.metadata import read_meta

    assert (folder / "labels.txt").read_text().splitlines() == read_meta(path)["class_names"]
    assert (folder / "1" / "model.onnx").read_bytes() == path.read_bytes()
    assert "tritonserver --model-repository" in out


def test_a_fixed_batch_is_refused_with_the_way_out(cli, fcn_onnx, tmp_path):
    model = onnx.load(str(fcn_onnx))
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 1  # as a hand-made export often is
    fixed = tmp_path / "fixed.onnx"
    onnx.save(model, str(fixed))
    code, _, err = cli("export", "--onnx", fixed, "--format", "triton", "--repository", tmp_path / "repo")
    assert code == 1 and "has a fixed batch of 1" in err and "dynamic batch axis" in err and "--max-batch 0" in err
    assert err.count("\n") == 1 and not (tmp_path / "repo" / "fixed").exists()
    code, _, err = cli("export", "--onnx", fixed, "--format", "triton", "--repository", tmp_path / "repo",
                       "--max-batch", 0, "--kind", "cpu")
    assert code == 0, err
    c = _config(tmp_path / "repo" / "fixed" / "config.pbtxt")
    assert c.max_batch_size == 0 and list(c.input[0].dims)[:2] == [1, 3] and not c.HasField("dynamic_batching")


def test_untrusted_names_stay_inside_their_strings():
    from google.protobuf import text_format

    from seg.triton import _quoted

    for name in ['a"b', "back\\slash", "two\nlines", 'x" } max_batch_size: 99 name: "y']:
        c = text_format.Parse(f"name: {_quoted(name)}", model_config_pb2.ModelConfig())
        assert c.name == name and c.max_batch_size == 0


def test_trt_fp16_on_cpu_instances_is_one_line(cli, fcn_onnx, tmp_path):
    code, _, err = cli("export", "--onnx", fcn_onnx, "--format", "triton", "--repository", tmp_path / "r",
                       "--kind", "cpu", "--trt-fp16")
    assert code == 1 and "--trt-fp16 is TensorRT's" in err and err.count("\n") == 1
