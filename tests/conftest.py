"""Shared fixtures: the real VOC/video samples in ../shared (skipped when absent), a small
synthetic set, and an in-process runner for the ``seg`` CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from seg.cli import main

REAL_MEDIA = Path(__file__).resolve().parents[1].parent / "shared" / "real-media"

# Property tests must not fail at random: by default (CI included) hypothesis is derandomised (the
# same examples every run) with no example database. To flush out new failures, run once with
# random examples and many more of them:
#   HYPOTHESIS_PROFILE=thorough SEG_EXAMPLES_SCALE=40 .venv/bin/python -m pytest -q -k "given or resize"
EXAMPLES_SCALE = float(os.environ.get("SEG_EXAMPLES_SCALE", "1"))


def examples(n: int) -> int:
    """``n`` examples for a property test, scaled by SEG_EXAMPLES_SCALE."""
    return max(1, int(n * EXAMPLES_SCALE))


try:  # the runtime-only venv of CI has no hypothesis (its tests use none)
    from hypothesis import settings as _settings

    _settings.register_profile("ci", derandomize=True, database=None, deadline=None, print_blob=True)
    _settings.register_profile("thorough", deadline=None, print_blob=True)
    _settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
except ImportError:
    pass


def pytest_configure(config) -> None:
    """One folder of traced graphs for the whole run: pytest-xdist's workers and the ``seg``
    subprocesses inherit its name (tests/traces.py). Under pytest-xdist: the files handed out
    longest first, and the cores shared out among the workers."""
    import tempfile

    import traces

    if not os.environ.get(traces.ENV):  # the controller (or the only process); workers inherit it
        os.environ[traces.ENV] = config._seg_traces = tempfile.mkdtemp(prefix="seg-traces-")
    # pytest-xdist (>= 3.6) hands the files out in collection order: LONGEST_FIRST's
    config.option.loadscopereorder = False
    workers = getattr(config.option, "numprocesses", None)
    if isinstance(workers, int) and workers > 1 and "PYTEST_XDIST_WORKER" not in os.environ:
        # The cores shared out among the workers (and the seg subprocesses they start): PyTorch's
        # OpenMP threads spin-wait, so two workers with a thread per core each left both waiting
        # on the other (the demo test 163 -> 114 s on 2 cores). A value given from outside stands.
        os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // workers)))


# The test files that take longest (seconds summed over their tests and fixtures, 2 workers on the
# 2-core avx2 machine), started first: a worker that picks up one of them near the end would keep
# the other waiting (pytest-xdist's own order, most tests first, started test_bench.py late).
# Every other file follows, in collection order. Only the time of the run depends on this list.
LONGEST_FIRST = ("test_bench.py", "test_pretrained.py", "test_datasets.py", "test_terminal.py", "test_export.py",
                 "test_signals.py", "test_train.py", "test_batch.py", "test_runtime.py", "test_camera_owner.py")


def pytest_collection_modifyitems(config, items) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest keep their order


def pytest_unconfigure(config) -> None:
    if getattr(config, "_seg_traces", None):
        shutil.rmtree(config._seg_traces, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def _trace_each_architecture_once():
    """The exporter's trace once per architecture for the whole run, in every process
    (tests/traces.py says how, and what still runs)."""
    import traces

    try:
        import seg.export.onnx as exporter
    except ImportError:  # the runtime venv: no exporter
        yield
        return
    real = exporter.trace
    traces.patch(exporter, Path(os.environ[traces.ENV]))
    yield
    exporter.trace = real


@pytest.fixture(scope="session")
def real_voc() -> Path:
    root = REAL_MEDIA / "VOCdevkit" / "VOC2012"
    if not root.is_dir():
        pytest.skip("../shared/real-media is not beside the project")
    return REAL_MEDIA


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory) -> Path:
    """A tiny synthetic set (12 train, 4 val, 64 px) shared by the tests that only read it."""
    from seg.data.synth import SynthConfig, generate

    root = tmp_path_factory.mktemp("synth")
    generate(root, SynthConfig(train=12, val=4, size=64, seed=3), progress=False)
    return root


@pytest.fixture(scope="session")
def trained_runs(synth_root, tmp_path_factory) -> Path:
    """A runs folder holding baseline_fcn/best.pt, trained one epoch on the tiny synthetic set."""
    from seg.train import TrainConfig, train

    runs = tmp_path_factory.mktemp("runs")
    train(TrainConfig(model="baseline_fcn", data=str(synth_root), out=str(runs), epochs=1, batch_size=4, crop_size=64,
                      workers=0), progress=False, log=lambda *a: None)
    return runs


@pytest.fixture(scope="session")
def fcn_plain(tmp_path_factory) -> Path:
    """baseline_fcn, untrained (seed 0, flagged random-init), exported once for the whole suite
    without verification, with no recorded input size (seg run feeds it its default, 512)."""
    import torch

    from seg.export import to_onnx
    from seg.models import get_model

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("fcn_plain") / "baseline_fcn.onnx"
    to_onnx(get_model("baseline_fcn"), path, name="baseline_fcn", verify_shapes=None, simplify=False,
            metadata={"weights": "random-init"})
    return path


def recording_imgsz(src: Path, dst: Path, imgsz: int) -> Path:
    """A copy of the seg model ``src`` at ``dst`` that records ``seg.imgsz`` (what seg run, and
    int8 calibration, feed it); returns ``dst``."""
    import onnx

    from seg.metadata import write_props

    m = onnx.load(str(src))
    write_props(m, {"imgsz": imgsz}, replace=False)
    onnx.save(m, str(dst))
    return dst


@pytest.fixture(scope="session")
def fcn_onnx(fcn_plain, tmp_path_factory) -> Path:
    """The same graph recording ``seg.imgsz`` 64 (fed 64 px): the small seg model that the tests of
    commands, files and signals share."""
    return recording_imgsz(fcn_plain, tmp_path_factory.mktemp("fcn") / "baseline_fcn.onnx", 64)


@pytest.fixture(scope="session")
def long_clip(tmp_path_factory) -> Path:
    """A 60 s clip (1500 frames of 96x64 noise at 25 FPS) that no test lets run to its end."""
    import cv2
    import numpy as np

    path = tmp_path_factory.mktemp("clip") / "long.mp4"
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, (96, 64))
    rng = np.random.default_rng(0)
    tiles = [rng.integers(0, 256, (64, 96, 3), dtype=np.uint8) for _ in range(10)]
    for i in range(1500):
        vw.write(tiles[i % 10])
    vw.release()
    return path


@pytest.fixture
def cli(capsys):
    """Run ``seg ARGS`` in-process; return (exit code, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def set_readonly(folder: Path, readonly: bool) -> None:
    """Make ``folder`` (un)writable for everyone, root included: root ignores permission bits
    (CI runs as root), so there it is made immutable with chattr."""
    if os.geteuid() == 0:
        if shutil.which("chattr") is None or subprocess.run(["chattr", "+i" if readonly else "-i", str(folder)],
                                                           capture_output=True).returncode:
            pytest.skip("running as root without a working chattr: no read-only folder can be made")
    else:
        folder.chmod(0o555 if readonly else 0o755)


@pytest.fixture
def readonly_dir(tmp_path):
    """An empty folder nobody can write into."""
    d = tmp_path / "readonly"
    d.mkdir()
    set_readonly(d, True)
    yield d
    set_readonly(d, False)


COLLECTED: dict[str, object] = {}


def pytest_collection_finish(session) -> None:
    """Remember how many tests this run collected, and whether it is the whole suite (no -k, -m,
    or paths), for the test that checks the README's count."""
    cfg = session.config
    whole = not cfg.option.keyword and not cfg.option.markexpr and \
        all(Path(a).resolve() == Path(__file__).parent for a in cfg.args)
    COLLECTED.update(n=len(session.items), whole=whole)


def pytest_terminal_summary(terminalreporter) -> None:
    import traces

    for line in traces.summary(Path(os.environ[traces.ENV])):
        terminalreporter.write_line(line)
