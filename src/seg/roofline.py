"""The machine's arithmetic peak, measured, so that every bench row can say how close it runs.

A model's FLOPs x its FPS is what it achieves; divided by what this CPU reaches on a large
matrix multiply through the same libraries the models use, it says whether a model already sits
at the machine's limit (only fewer operations or a cheaper precision can help) or loses its time
outside the arithmetic (layout changes, memory-bound ops: there the graph can be fixed).

- fp32: ONNX Runtime's MatMul (MLAS, what its Conv kernels use), and PyTorch's (oneDNN) where
  installed; the higher counts.
- int8: ONNX Runtime's MatMulInteger, uint8 x int8 (the same MLAS QGEMM as QLinearConv).
- bf16: PyTorch's bf16 matmul, only where the CPU has native bf16 (AVX-512 BF16, AMX).

Multiply-adds count 2 operations, as the models' FLOPs do. Torch-free when torch is absent.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np

SIZE = 1024  # a GEMM large enough to reach the peak, small enough to measure in a second


def _best_gops(run: Callable[[], Any], ops: float, repeats: int) -> float:
    """Operations per second (G) of the fastest of ``repeats`` calls, after two warm-up calls."""
    run()
    run()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - t)
    return ops / best / 1e9


def _ort_gemm(dtype: str, threads: int | None, repeats: int) -> float:
    from onnx import TensorProto, helper

    from seg.infer.session import create_session

    n = SIZE
    if dtype == "fp32":
        node = helper.make_node("MatMul", ["a", "b"], ["y"])
        ins = [helper.make_tensor_value_info("a", TensorProto.FLOAT, [n, n]),
               helper.make_tensor_value_info("b", TensorProto.FLOAT, [n, n])]
        out = helper.make_tensor_value_info("y", TensorProto.FLOAT, [n, n])
        feed = {"a": np.random.default_rng(0).standard_normal((n, n), dtype=np.float32),
                "b": np.random.default_rng(1).standard_normal((n, n), dtype=np.float32)}
    else:
        node = helper.make_node("MatMulInteger", ["a", "b"], ["y"])
        ins = [helper.make_tensor_value_info("a", TensorProto.UINT8, [n, n]),
               helper.make_tensor_value_info("b", TensorProto.INT8, [n, n])]
        out = helper.make_tensor_value_info("y", TensorProto.INT32, [n, n])
        rng = np.random.default_rng(0)
        feed = {"a": rng.integers(0, 256, (n, n), dtype=np.uint8), "b": rng.integers(-128, 128, (n, n), dtype=np.int8)}
    graph = helper.make_graph([node], "peak", ins, [out])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=9).SerializeToString()
    sess, _ = create_session(model, "cpu", threads, spinning=False)
    return _best_gops(lambda: sess.run(None, feed), 2.0 * n**3, repeats)


def _torch_gemm(dtype: str, repeats: int) -> float | None:
    from seg.machine import installed

    if not installed("torch"):
        return None
    import torch

    if dtype == "bf16":
        from seg.machine import cpu_has_bf16

        if not cpu_has_bf16():
            return None
    t = torch.bfloat16 if dtype == "bf16" else torch.float32
    a, b = torch.randn(SIZE, SIZE, dtype=t), torch.randn(SIZE, SIZE, dtype=t)
    with torch.inference_mode():
        return _best_gops(lambda: torch.matmul(a, b), 2.0 * SIZE**3, repeats)


def measure_peaks(threads: int | None = None, repeats: int = 8) -> dict[str, Any]:
    """{"fp32", "int8", "bf16" (None where not native or no torch): GOP/s, and how each was measured}."""
    ort_fp32 = _ort_gemm("fp32", threads, repeats)
    torch_fp32 = _torch_gemm("fp32", repeats)
    return {
        "fp32": max(ort_fp32, torch_fp32 or 0.0), "int8": _ort_gemm("int8", threads, repeats),
        "bf16": _torch_gemm("bf16", repeats),
        "how": {"fp32": f"max of ONNX Runtime MatMul ({ort_fp32:.0f}) and PyTorch matmul "
                        f"({'-' if torch_fp32 is None else f'{torch_fp32:.0f}'}), {SIZE}^3",
                "int8": f"ONNX Runtime MatMulInteger u8 x s8, {SIZE}^3", "bf16": f"PyTorch bf16 matmul, {SIZE}^3"},
    }


def peak_for(row: dict[str, Any], peaks: dict[str, Any] | None) -> float | None:
    """The peak a bench row is measured against: its arithmetic's, on the CPU only."""
    if not peaks or row.get("provider") not in ("cpu", None):
        return None
    kind = {"int8": "int8", "bf16": "bf16"}.get(row.get("precision"), "fp32")
    return peaks.get(kind)
