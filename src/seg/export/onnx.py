"""Export a model to one self-contained ONNX file and prove it computes what PyTorch computes.

After timm's ``utils/onnx.py``: export, ``onnx.checker`` (full check), then ONNX Runtime against
PyTorch on inputs of several shapes. The graph has dynamic batch, height and width (the models
pad with shape arithmetic, so nothing is frozen at the export size). The file is written under
a temporary name and renamed only once it has passed, so a failed check, an error or Ctrl-C
never leaves a partial ``.onnx`` behind.
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import onnx
import torch
from torch import nn

from seg import __version__
from seg._io import atomic_path, writable_dir
from seg.classes import IMAGENET_MEAN, IMAGENET_STD, VOC_CLASSES, ClassList
from seg.errors import SegError
from seg.infer.providers import SHORT
from seg.infer.session import create_session
from seg.metadata import FORMAT, INPUT_LAYOUT, INPUT_NAME, OUTPUT_LAYOUT, OUTPUT_NAME, opset_of, write_props


# Verification inputs: batch 2, and odd sizes unlike the export size (the example input below).
DEFAULT_SHAPES: tuple[tuple[int, int, int, int], ...] = ((2, 3, 256, 256), (1, 3, 333, 257), (1, 3, 97, 131))
EXAMPLE_SHAPE = (2, 3, 128, 160)  # batch 2: an example batch of 1 would let torch.export specialise N to 1
MIN_OPSET = 18  # the dynamo exporter's floor: it silently produces 18 when asked for less

# Parity tolerances. fp32 CPU kernels of ORT and PyTorch differ by reassociation only
# (~1e-6 measured on all four models), so |ORT - torch| <= ATOL + RTOL * max|torch| leaves
# ~100x headroom; a wrong op or a frozen shape misses it by orders of magnitude. The label
# maps must agree on at least MIN_AGREEMENT of the pixels (ties may flip a handful).
ATOL, RTOL, MIN_AGREEMENT = 1e-4, 1e-4, 0.999
# The CUDA provider may use TF32 convolutions (10-bit mantissa): compare labels, loosen values.
CUDA_ATOL, CUDA_RTOL = 1e-2, 1e-2


def _quiet_exporter():
    """The dynamo exporter logs progress and warnings meant for its developers."""
    for name in ("torch.onnx", "torch.export", "torch._dynamo", "onnxscript"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module=r"torch\.onnx.*|onnxscript.*|torch\.export.*")


def trace(model: nn.Module, opset: int | None = None) -> "torch.onnx.ONNXProgram":
    """The dynamo exporter's graph of ``model``, unoptimised: the slow step of an export (6-25 s a
    model on 2 cores). Its initializers are the model's parameters and buffers under their own
    names, so the graph depends on the architecture, not on the weights' values."""
    max_opset = onnx.defs.onnx_opset_version()
    if opset is not None and not MIN_OPSET <= opset <= max_opset:
        raise SegError(f"opset {opset} cannot be produced by the installed exporter (torch {torch.__version__}, "
                       f"onnx {onnx.__version__}): choose {MIN_OPSET}..{max_opset}")
    _quiet_exporter()
    dims = {0: torch.export.Dim("batch", min=1, max=1024),
            2: torch.export.Dim("height", min=32, max=8192), 3: torch.export.Dim("width", min=32, max=8192)}
    x = torch.randn(*EXAMPLE_SHAPE)
    try:
        return torch.onnx.export(model.eval(), (x,), None, dynamo=True, opset_version=opset, input_names=[INPUT_NAME],
                                 output_names=[OUTPUT_NAME], dynamic_shapes={"x": dims}, verbose=False, optimize=False)
    except Exception as e:  # the exporter raises many types; the first line says what failed
        raise SegError(f"ONNX export failed: {type(e).__name__}: {str(e).strip().splitlines()[0]}") from None


def export_proto(model: nn.Module, opset: int | None = None) -> onnx.ModelProto:
    """Trace ``model`` with the dynamo exporter into an in-memory ModelProto (weights inline)."""
    program = trace(model, opset)
    # What torch.onnx.export(optimize=True) runs (constant folding, batch norm into the convolutions),
    # as a step of its own: the same graph, up to node names.
    try:
        program.optimize()
    except Exception as e:
        raise SegError(f"ONNX export failed: optimising the graph: {type(e).__name__}: "
                       f"{str(e).strip().splitlines()[0]}") from None
    proto = program.model_proto
    got = opset_of(proto)
    if opset is not None and got != opset:
        raise SegError(f"asked for opset {opset}, but the exporter produced {got}; "
                       f"choose {MIN_OPSET}..{onnx.defs.onnx_opset_version()}")
    return proto


def verification_providers() -> list[str]:
    """CPU always; CUDA too where both ONNX Runtime and torch can actually use a GPU."""
    import onnxruntime as ort

    providers = ["CPUExecutionProvider"]
    if "CUDAExecutionProvider" in ort.get_available_providers() and torch.cuda.is_available():
        providers.append("CUDAExecutionProvider")
    return providers


def verify(
    onnx_path: str | os.PathLike | bytes,
    model: nn.Module,
    shapes: Sequence[Sequence[int]] = DEFAULT_SHAPES,
    providers: Sequence[str] | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Run ONNX Runtime and PyTorch (fp32, CPU) on the same random inputs and compare.

    Returns a report: per provider and shape, the max absolute difference, the max |logit|
    (the scale the tolerance is relative to), and the fraction of pixels whose argmax agrees;
    ``passed`` is False if any check misses its tolerance. Does not raise on a mismatch.
    """
    model = model.eval().cpu()
    gen = torch.Generator().manual_seed(seed)
    inputs = [torch.randn(*s, generator=gen) for s in shapes]
    with torch.no_grad():
        refs = [model(x).numpy() for x in inputs]
    checks = []
    skipped = []
    for provider in providers or verification_providers():
        # The one session factory: it refuses a provider that would silently fall back to the CPU
        # (onnxruntime-gpu lists CUDA even where cuDNN is missing), so no check runs under a false label.
        try:
            # tf32=False: CUDA convolutions in full fp32 (TF32's 10-bit mantissa alone can flip labels
            # of a random-init model, whose logits are nearly tied)
            sess = create_session(onnx_path if isinstance(onnx_path, bytes) else str(onnx_path), SHORT[provider],
                                  spinning=False, tf32=False)[0]
        except SegError as e:
            if providers or provider == "CPUExecutionProvider":
                raise  # asked for explicitly, or the CPU itself: a real failure
            skipped.append({"provider": provider, "reason": str(e)})
            continue
        atol, rtol = (CUDA_ATOL, CUDA_RTOL) if provider == "CUDAExecutionProvider" else (ATOL, RTOL)
        for x, ref in zip(inputs, refs):
            out = sess.run([OUTPUT_NAME], {INPUT_NAME: x.numpy()})[0]
            shape_ok = out.shape == ref.shape
            diff = float(np.abs(out - ref).max()) if shape_ok else float("inf")
            scale = float(np.abs(ref).max())
            agree = float((out.argmax(1) == ref.argmax(1)).mean()) if shape_ok else 0.0
            checks.append({
                "provider": provider, "shape": list(x.shape), "output_shape": list(out.shape),
                "max_abs_diff": diff, "max_abs_logit": scale, "tolerance": atol + rtol * scale,
                "argmax_agreement": agree,
                "passed": shape_ok and diff <= atol + rtol * scale and agree >= MIN_AGREEMENT,
            })
    return {
        "passed": all(c["passed"] for c in checks),
        "skipped": skipped,
        "criteria": {"atol": ATOL, "rtol": RTOL, "cuda_atol": CUDA_ATOL, "cuda_rtol": CUDA_RTOL,
                     "min_argmax_agreement": MIN_AGREEMENT},
        "checks": checks,
    }


def _summary(report: dict[str, Any]) -> dict[str, Any]:
    return {
        "passed": report["passed"],
        "providers": sorted({c["provider"] for c in report["checks"]}),
        "shapes": [c["shape"] for c in report["checks"] if c["provider"] == "CPUExecutionProvider"],
        "max_abs_diff": max(c["max_abs_diff"] for c in report["checks"]),
        "min_argmax_agreement": min(c["argmax_agreement"] for c in report["checks"]),
    }


def _failure(report: dict[str, Any]) -> str:
    bad = next(c for c in report["checks"] if not c["passed"])
    return (f"ONNX Runtime ({bad['provider']}) disagrees with PyTorch at input {bad['shape']}: output "
            f"{bad['output_shape']}, max |diff| {bad['max_abs_diff']:.3g} (tolerance {bad['tolerance']:.3g}), "
            f"argmax agreement {bad['argmax_agreement']:.4%} (needs {MIN_AGREEMENT:.1%})")


def _size_meta(model: nn.Module, name: str) -> dict[str, Any]:
    """``params`` and ``flops_per_pixel`` (FLOPs of one forward pass at 512x512, per input pixel;
    the models are fully convolutional, so FLOPs scale with the area): what a bench without torch
    reports for the file."""
    from seg.models import MODELS, count_parameters, model_flops

    meta: dict[str, Any] = {"params": count_parameters(model)}
    if name in MODELS:
        meta["flops_per_pixel"] = model_flops(name, 512, 512) / 512**2
    return meta


def _simplify(proto: onnx.ModelProto) -> onnx.ModelProto | None:
    try:
        import onnxslim
    except ImportError:
        return None
    try:
        return onnxslim.slim(proto)
    except Exception:  # a simplifier failure only means we keep the exporter's graph
        return None


def to_onnx(
    model: nn.Module,
    path: str | os.PathLike,
    *,
    name: str,
    metadata: dict[str, Any] | None = None,
    opset: int | None = None,
    verify_shapes: Sequence[Sequence[int]] | None = DEFAULT_SHAPES,
    simplify: bool = True,
    providers: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Export ``model`` (registry name ``name``) to ``path``; return the export report.

    ``metadata`` adds to/overrides the ``seg.*`` keys (see :mod:`seg.metadata`).
    ``verify_shapes=None`` skips the ONNX Runtime parity check (``onnx.checker`` still runs).
    With ``simplify``, the graph is passed through onnxslim and the simpler graph is kept only
    if it passes the same parity check. Raises :class:`SegError` (and writes nothing) when
    the check fails.
    """
    path = Path(path)
    writable_dir(path.parent, "output folder")
    t0 = time.perf_counter()
    proto = export_proto(model, opset)
    names = list((metadata or {}).get("class_names") or VOC_CLASSES)  # the model's classes: its data's
    meta = {
        "format": FORMAT, "model": name, "num_classes": len(names), "class_names": names,
        "palette": ClassList(names).palette, "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD),
        "input": INPUT_LAYOUT, "output": OUTPUT_LAYOUT, "version": __version__, "torch": str(torch.__version__),
        "opset": opset_of(proto),
        **_size_meta(model, name),
        **(metadata or {}),
    }
    meta["palette"] = meta["palette"][: int(meta["num_classes"])]
    report: dict[str, Any] = {"model": name, "path": str(path), "export_s": time.perf_counter() - t0,
                              "simplified": False, "verification": None}

    def save(p: onnx.ModelProto, dest: Path, extra: dict[str, Any]) -> None:
        # The exporter names the output's H and W by the padding arithmetic ("Min(height, 8*(...))");
        # the contract (checked below at odd sizes) is that they are the input's: say so.
        for i, dim in enumerate(("batch", None, "height", "width")):
            if dim is not None:
                p.graph.output[0].type.tensor_type.shape.dim[i].dim_param = dim
        write_props(p, {**meta, **extra})
        onnx.save(p, str(dest), save_as_external_data=False)  # one file: weights inline (< 2 GB)

    with atomic_path(path) as tmp:
        save(proto, tmp, {})
        try:
            onnx.checker.check_model(str(tmp), full_check=True)
        except Exception as e:
            raise SegError(f"onnx.checker rejects the exported graph: {str(e).strip().splitlines()[0]}") from None
        if verify_shapes:
            result = verify(tmp, model, verify_shapes, providers)
            if not result["passed"]:
                raise SegError(f"verification failed, nothing written: {_failure(result)}")
            report["verification"] = result
        # Simplify only what can be re-verified: the simpler graph must pass the same check.
        slim = _simplify(proto) if simplify and verify_shapes else None
        if slim is not None:
            slim_result = verify(slim.SerializeToString(), model, verify_shapes, providers)
            if slim_result["passed"]:
                proto, report["simplified"], report["verification"] = slim, True, slim_result
        extra = {"simplified": report["simplified"]}
        if report["verification"]:
            extra["verification"] = _summary(report["verification"])
        save(proto, tmp, extra)
    report["bytes"] = path.stat().st_size
    report["total_s"] = time.perf_counter() - t0
    return report
