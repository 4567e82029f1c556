"""The training curves PNG (``<run>/curves.png``), apart from the loop that records them."""

from __future__ import annotations

from pathlib import Path


def plot_curves(history: list[dict], path: Path) -> None:
    """PNG of training loss and val mIoU / pixel accuracy per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from seg._io import atomic_path

    ep = [h["epoch"] for h in history]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    a.plot(ep, [h["train_loss"] for h in history], marker="o")
    a.set(xlabel="epoch", ylabel="train loss", title="loss")
    b.plot(ep, [h["val_miou"] for h in history], marker="o", label="val mIoU")
    b.plot(ep, [h["val_pixel_acc"] for h in history], marker=".", label="val pixel acc")
    b.set(xlabel="epoch", ylim=(0, 1), title="validation")
    b.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)
