"""Where benchmark results live: one folder per CPU class, so that figures from different
classes sit side by side and a run on one class never overwrites another's.

    benchmarks/results/<class>/<name>.json      e.g. results/amx/bench.json, results/avx2/train_budget.json

The class is ``seg.machine.cpu_class`` of the machine that ran it; a PyTorch-only benchmark run
under ``ONEDNN_MAX_CPU_ISA`` (this project's way to emulate an older class) is filed under the
emulated class, and says so in its ``machine`` record. Runs on a GPU are filed under
``gpu-<gpu name>/`` (e.g. ``results/gpu-nvidia-h200/bench.json``) and kept out of the CPU tables.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from seg._io import write_json
from seg.machine import figure_class

RESULTS = Path(__file__).resolve().parent / "results"
# The order classes are shown in: newest first, then what most machines have.
CLASS_ORDER = ("amx", "avx512-bf16", "avx512-vnni", "avx512", "avx2", "arm64", "baseline")


def path_for(name: str, machine: dict[str, Any], torch_side: bool = False, suffix: str = ".json") -> Path:
    return RESULTS / figure_class(machine, torch_side) / f"{name}{suffix}"


def save(name: str, result: dict[str, Any], torch_side: bool = False) -> Path:
    """Write ``result`` (which holds its ``machine`` record) under its class; return the path."""
    path = path_for(name, result["machine"], torch_side)
    write_json(path, result)
    print(f"wrote {path}")
    return path


def load(pattern: str, gpu: bool = False) -> list[tuple[str, Path, dict[str, Any]]]:
    """Every saved result matching ``pattern`` (e.g. "bench.json"), as (class, path, result), in
    CLASS_ORDER; from the CPU classes' folders, or with ``gpu`` from the ``gpu-*`` folders."""
    found = [(p.parent.name, p, json.loads(p.read_text())) for p in RESULTS.glob(f"*/{pattern}")
             if p.parent.name.startswith("gpu-") == gpu]
    return sorted(found, key=lambda t: (CLASS_ORDER.index(t[0]) if t[0] in CLASS_ORDER else 99, t[1].name))
