"""The training-curve figure of a run: loss per batch and epoch, train and held-out accuracy."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..figures import subplots
from ..files import atomic_write

__all__ = ["plot_curve"]


def plot_curve(
    path: Path,
    history: list[dict[str, float]],
    steps: list[float],
    title: str,
    *,
    test_accuracy: float | None = None,
) -> None:
    """Write ``training_curve.png``: cross-entropy (left) and accuracy per epoch (right).

    Args:
        path: The PNG to write (atomically).
        history: Per-epoch rows (``train_loss``, ``train_accuracy``, optional ``val_loss``,
            ``val_accuracy``, ``test_accuracy``).
        steps: Loss of every mini-batch.
        title: Figure title.
        test_accuracy: Final held-out test accuracy, drawn as a marker after the last epoch.
    """

    fig, (ax_loss, ax_acc) = subplots(1, 2, figsize=(10, 3.8))
    epochs = [h["epoch"] for h in history]
    per_epoch = len(steps) / max(1, len(history))
    ax_loss.plot(np.arange(1, len(steps) + 1) / per_epoch, steps, alpha=0.35, label="batch")
    ax_loss.plot(epochs, [h["train_loss"] for h in history], "o-", label="train (epoch mean)")
    if history and "val_loss" in history[0]:
        ax_loss.plot(epochs, [h["val_loss"] for h in history], "s-", label="validation")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("cross-entropy")
    ax_loss.legend()
    ax_acc.plot(epochs, [h["train_accuracy"] for h in history], "o-", label="train")
    if history and "val_accuracy" in history[0]:
        ax_acc.plot(epochs, [h["val_accuracy"] for h in history], "s-", label="validation")
    held_out = [(h["epoch"], h["test_accuracy"]) for h in history if "test_accuracy" in h]
    if held_out:
        ax_acc.plot(*zip(*held_out, strict=True), "^-", label="held-out test")
    elif test_accuracy is not None and epochs:
        ax_acc.plot([epochs[-1]], [test_accuracy], "r*", markersize=12, label="test (final)")
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("accuracy")
    ax_acc.set_ylim(0, 1)
    ax_acc.legend(loc="lower right")
    fig.suptitle(title)
    fig.tight_layout()
    atomic_write(path, lambda p: fig.savefig(p, dpi=110, format="png"))
