"""Where a training step's time goes on this CPU: data loading against forward + backward.

    python benchmarks/train_profile.py                       # this class
    ONEDNN_MAX_CPU_ISA=AVX2 python benchmarks/train_profile.py   # the avx2 class, emulated

simple_unet, batch 8, on the default synthetic set: (1) decoding + augmenting one batch in the
main process (what the one loader worker does), (2) one optimizer step on a ready batch in fp32,
fp32 + channels_last and, where the CPU has native bf16, bf16 autocast + channels_last, at crop
128 and 96. Medians of a few steps after warm-up. Writes benchmarks/results/<class>/train_profile.json.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent

from results_io import save  # noqa: E402
from seg.data import VOCSegmentation  # noqa: E402
from seg.data.synth import SynthConfig, generate  # noqa: E402
from seg.data.transforms import TrainPreset  # noqa: E402
from seg.machine import machine_info  # noqa: E402
from seg.models import get_model  # noqa: E402
from seg.train.device import cpu_has_bf16  # noqa: E402


def median_ms(fn, n: int) -> float:
    fn()
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=4)
    args = ap.parse_args()
    data = generate(HERE / ".data" / "synth", SynthConfig(), progress=False).parents[1]
    rows = []
    for crop in (128, 96):
        ds = VOCSegmentation(data, "2007", "train", transforms=TrainPreset(crop))
        idx = iter(range(10**9))

        def load() -> None:
            for _ in range(args.batch):
                ds[next(idx) % len(ds)]

        load_ms = median_ms(load, args.steps) / args.batch
        modes = [("fp32", False, None), ("fp32 + channels_last", True, None)]
        if cpu_has_bf16():
            modes.append(("bf16 autocast + channels_last", True, torch.bfloat16))
        for label, cl, dtype in modes:
            torch.manual_seed(0)
            model = get_model("simple_unet").train()
            x = torch.randn(args.batch, 3, crop, crop)
            y = torch.randint(0, 21, (args.batch, crop, crop))
            if cl:
                model, x = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
            opt = torch.optim.AdamW(model.parameters())
            ce = torch.nn.CrossEntropyLoss()

            def step() -> None:
                with torch.autocast("cpu", dtype=dtype or torch.float32, enabled=dtype is not None):
                    loss = ce(model(x).float(), y)
                opt.zero_grad()
                loss.backward()
                opt.step()

            step_ms = median_ms(step, args.steps) / args.batch
            rows.append({"crop": crop, "mode": label, "load_ms_per_image": load_ms, "step_ms_per_image": step_ms,
                         "images_per_s_compute": 1e3 / step_ms, "loading_share": load_ms / (load_ms + step_ms)})
            print(rows[-1])
    save("train_profile", {"benchmark": "train_profile", "machine": machine_info(), "batch": args.batch,
                           "threads": torch.get_num_threads(), "rows": rows}, torch_side=True)


if __name__ == "__main__":
    main()
