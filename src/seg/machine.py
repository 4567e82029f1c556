"""What produced a figure: CPU, cores, relevant flags, GPU, versions and threads (torch optional)."""

from __future__ import annotations

import importlib.util
import os
import platform


def cpu_info() -> dict:
    """CPU model, class, cores and the SIMD flags that matter for inference: read from /proc,
    importing nothing (seg run's plan cache and int8's weight range ask on every start)."""
    flags, model = set(), platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and model in ("", platform.machine(), platform.processor()):
                    model = line.split(":", 1)[1].strip()
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return {
        "cpu": model,
        "cpu_class": cpu_class(flags, platform.machine()),
        "cores": os.cpu_count(),
        "cpu_flags": sorted(flags & {"avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8", "neon"}),
    }


def machine_info() -> dict:
    """What produced a figure: :func:`cpu_info`, GPU, Python and library versions. Imports torch
    where it is installed (seconds, and CUDA's initialisation): for bench results and reports."""
    info = {**cpu_info(), "python": platform.python_version()}
    try:
        import torch

        info["torch"] = str(torch.__version__)
        info["torch_threads"] = torch.get_num_threads()
        info["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except ImportError:
        pass
    try:
        import onnxruntime

        info["onnxruntime"] = onnxruntime.__version__
    except ImportError:
        pass
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA")
    if cap and ONEDNN_ISA.get(cap.upper()) and ONEDNN_ISA[cap.upper()] != info["cpu_class"]:
        # PyTorch's oneDNN kernels capped to an older class (how this project emulates one): the
        # PyTorch figures are that class's, ONNX Runtime's (MLAS, not capped) stay this CPU's.
        info["emulated_class"] = ONEDNN_ISA[cap.upper()]
        info["emulation"] = f"ONEDNN_MAX_CPU_ISA={cap} (PyTorch only; ONNX Runtime ran at {info['cpu_class']})"
    return info


# oneDNN's ISA caps -> seg's classes (ONEDNN_MAX_CPU_ISA, the documented way to emulate an older CPU)
ONEDNN_ISA = {"AVX2": "avx2", "AVX2_VNNI": "avx2", "AVX512_CORE": "avx512", "AVX512_CORE_VNNI": "avx512-vnni",
              "AVX512_CORE_BF16": "avx512-bf16", "AVX512_CORE_AMX": "amx"}


def figure_class(info: dict, torch_side: bool = False) -> str:
    """The class a figure belongs to: the CPU's, or for PyTorch figures the emulated one; derived
    from the flags for results saved before the class was recorded."""
    if torch_side and info.get("emulated_class"):
        return info["emulated_class"]
    return info.get("cpu_class") or cpu_class(set(info.get("cpu_flags", [])))


def cpu_class(flags: set[str], arch: str = "x86_64") -> str:
    """The instruction-set class that decides CPU speed here: ``amx``, ``avx512-bf16``,
    ``avx512-vnni``, ``avx512``, ``avx2``, ``arm64`` or ``baseline`` (the best the flags show)."""
    if arch.lower() in ("aarch64", "arm64"):
        return "arm64"
    for name, needs in (("amx", "amx_int8"), ("avx512-bf16", "avx512_bf16"), ("avx512-vnni", "avx512_vnni"),
                        ("avx512", "avx512f"), ("avx2", "avx2")):
        if needs in flags:
            return name
    return "baseline"


def describe(info: dict, torch_side: bool = False) -> str:
    """One line for a table caption: the CPU, its class (for PyTorch figures the emulated one, if
    any), GPU, versions."""
    gpu = f", GPU {info['gpu']}" if info.get("gpu") else ", no GPU"
    flags = "/".join(info.get("cpu_flags", [])) or "no AVX-512"
    emulated = f"; {info['emulation']}" if info.get("emulation") else ""
    return (f"class {figure_class(info, torch_side)}: {info['cpu']}, {info['cores']} cores ({flags}){gpu}{emulated}; "
            f"torch {info.get('torch', '-')}, {info.get('torch_threads', '-')} threads; Python {info['python']}")


def installed(module: str) -> bool:
    """Whether ``module`` can be imported here, without importing it (torch takes seconds)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # ValueError: blocked with sys.modules[module] = None
        return False


def have_torch() -> bool:
    """Whether the training extra's torch is installed (an edge box has none)."""
    return installed("torch")


# The bf16 probes: training turns bf16 autocast on with them, and the bench's PyTorch rows and the
# roofline use the same ones. They need torch (imported here, only when called).
def cpu_has_bf16() -> bool:
    """Whether oneDNN has native bf16 kernels here (AVX-512 BF16 or AMX); elsewhere bf16 is slower."""
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def cuda_native_bf16() -> bool:
    """bf16 in the GPU's hardware (Ampere and later), not emulated."""
    import torch

    try:
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))
    except TypeError:  # a torch without the argument
        return bool(torch.cuda.is_bf16_supported())
