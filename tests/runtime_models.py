"""Models for the runtime tests, made where the training extra is installed.

In the full venv the runtime tests' fixture calls :func:`make`; CI's torch-free venv cannot, so
`.ci/run` first runs ``python tests/runtime_models.py DIR`` with the full venv and points the
runtime venv's tests at DIR (``SEG_TEST_MODELS``).
"""

from __future__ import annotations

import sys
from pathlib import Path


def make(root: Path) -> Path:
    """``root/runs/simple_unet/{best.pt, simple_unet.onnx}``: trained one epoch on a tiny synthetic
    set (so its predictions are not random noise, which no int8 model could agree with)."""
    from seg.data.synth import SynthConfig, generate
    from seg.export import export_checkpoint
    from seg.train import TrainConfig, train

    runs = root / "runs"
    if not (runs / "simple_unet" / "simple_unet.onnx").is_file():
        data = generate(root / "train-data", SynthConfig(train=16, val=4, size=64, seed=5), progress=False)
        train(TrainConfig(model="simple_unet", data=str(data.parents[1]), out=str(runs), epochs=1, batch_size=4,
                          crop_size=64, workers=0), progress=False, log=lambda *a: None)
        export_checkpoint("simple_unet", runs=runs, verify_shapes=((1, 3, 64, 64),))
    if not (root / "custom" / "scores.json").is_file():
        make_custom(root / "custom")
    return runs


def make_custom(root: Path) -> None:
    """A model of custom classes (tests/layouts.py) trained on its images/ + masks/ copy, exported, and
    its checkpoint's val mIoU on each of the four layouts in ``scores.json``: the runtime venv scores
    the .onnx on the same four and must find the same numbers."""
    import json

    from layouts import write_all

    from seg.export import export_checkpoint
    from seg.train import TrainConfig, evaluate_checkpoint, train

    layouts = write_all(root / "data")
    runs = root / "runs"
    train(TrainConfig(model="baseline_fcn", data=str(layouts["images-masks"]), out=str(runs), epochs=2, batch_size=4,
                      crop_size=32, workers=0, amp="off"), progress=False, log=lambda *a: None)
    export_checkpoint("baseline_fcn", runs=runs, verify_shapes=((1, 3, 48, 64),))
    scores = {name: evaluate_checkpoint(runs / "baseline_fcn" / "best.pt", path, progress=False)[0].miou
              for name, path in layouts.items()}
    (root / "scores.json").write_text(json.dumps({"layouts": {k: str(v) for k, v in layouts.items()},
                                                  "onnx": str(runs / "baseline_fcn" / "baseline_fcn.onnx"),
                                                  "checkpoint_miou": scores}))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))  # tests/layouts.py and traces.py
    import traces

    traces.patch_on_import()  # .ci/run: the graphs the suite traced (the same two architectures)
    print(make(Path(sys.argv[1])))
