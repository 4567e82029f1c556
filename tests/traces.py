"""The suite's export memo: the dynamo exporter's trace (6-25 s a model on 2 cores) once per
architecture per session, in this process and in the ``seg`` subprocesses of the tests.

:func:`seg.export.onnx.trace` gives an unoptimised graph whose initializers are the model's
parameters and buffers under their own names: it depends on the architecture, not on the values.
So a later export of the same architecture (same class, ``repr``, tensor shapes, opset) gets a
copy of that graph with its own weights put in by ``ONNXProgram.apply_weights`` (torch's own way
to fill a graph traced with other weights). Everything after the trace runs as in any export:
the optimisation (constant folding, batch norm into the convolutions, which computes from the
new weights), metadata, saving, ``onnx.checker``, the parity check against PyTorch, onnxslim.

The graphs are files in one folder for the whole run (``SEG_TEST_TRACES``, made by conftest's
``pytest_configure``), so pytest-xdist's workers and ``seg`` started by tests/seg_traced.py share
them; a lock per graph makes the others wait while one process traces it. Tests that stop an
export midway (tests/test_signals.py) start ``python -m seg.cli``, which always traces. The run
ends with a count and a line per trace (``summary``).
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.abc
import importlib.util
import os
import sys
import time
from pathlib import Path

ENV = "SEG_TEST_TRACES"
LOG = "log.txt"  # a line per export: "reused", or "traced <class> <seconds> s (<test>)"


def _log(folder: Path, line: str) -> None:
    with open(folder / LOG, "a") as f:  # one short append per line: whole lines from every process
        f.write(line + "\n")


def summary(folder: Path) -> list[str]:
    """The session's exports: a count line, then one line per trace."""
    try:
        lines = (folder / LOG).read_text().splitlines()
    except OSError:
        return []
    traced = [ln.removeprefix("traced ") for ln in lines if ln.startswith("traced ")]
    return [f"exports: {len(traced)} traced, {len(lines) - len(traced)} reused a traced graph (tests/traces.py)",
            *(f"  traced {t}" for t in traced)]


def _tensors(model) -> dict:
    """Every tensor an initializer can be: parameters and buffers (persistent or not)."""
    return {**dict(model.named_parameters()), **dict(model.named_buffers())}


def _key(model, opset: int | None) -> str:
    import onnxscript
    import torch

    shapes = sorted((k, tuple(v.shape), str(v.dtype)) for k, v in _tensors(model).items())
    parts = (type(model).__module__, type(model).__qualname__, repr(model), opset, shapes, torch.__version__,
             onnxscript.__version__)
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:32]


def patch(exporter, folder: Path) -> None:
    """Replace ``exporter.trace`` (the module :mod:`seg.export.onnx`) by the memo over ``folder``."""
    import onnx
    from onnx_ir import serde
    from torch.onnx import ONNXProgram

    real = exporter.trace

    def trace(model, opset=None):
        model.eval()  # as the exporter leaves it
        path = folder / f"{_key(model, opset)}.onnx"
        with open(path.with_suffix(".lock"), "w") as lock:
            # one process traces a key while the others (pytest-xdist's workers, seg subprocesses) wait
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not path.is_file():
                start = time.perf_counter()
                program = real(model, opset)
                onnx.save(program.model_proto, str(path))
                _log(folder, f"traced {type(model).__name__} {time.perf_counter() - start:.1f} s "
                             f"({os.environ.get('PYTEST_CURRENT_TEST', 'a seg subprocess')})")
                return program
        _log(folder, "reused")
        program = ONNXProgram(serde.deserialize_model(onnx.load(str(path))), None)
        tensors = _tensors(model)
        program.apply_weights({name: tensors[name].detach() for name in program.model.graph.initializers
                               if name in tensors})  # the others are constants of the code, not weights
        return program

    exporter.trace = trace


class _PatchOnImport(importlib.abc.MetaPathFinder):
    """Patches seg.export.onnx when something imports it: commands that export nothing never
    import torch for the memo."""

    def __init__(self, folder: Path):
        self.folder = folder

    def find_spec(self, name, path=None, target=None):
        if name != "seg.export.onnx":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        exec_module = spec.loader.exec_module

        def exec_and_patch(module):
            exec_module(module)
            patch(module, self.folder)

        spec.loader.exec_module = exec_and_patch
        return spec


def patch_on_import() -> None:
    """For a script the suite or .ci/run starts: the memo over the folder ``SEG_TEST_TRACES``
    names (if it names one), put in when ``seg.export.onnx`` is first imported."""
    if os.environ.get(ENV):
        sys.meta_path.insert(0, _PatchOnImport(Path(os.environ[ENV])))
