"""Training runs: a torch loop over DataLoaders with atomic checkpoints, resume and reports.

A run directory holds everything needed to resume or evaluate it:

- ``spec.toml``: the model spec;
- ``run.json``: data and training settings;
- ``checkpoint.pt``: weights, optimizer state and history after the last finished epoch
  (written atomically);
- ``metrics.json``: per-epoch loss/accuracy and the final ``test_accuracy``;
- ``training_curve.png``: loss and accuracy curves.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from .compiler import CompiledModel, compile_model
from .data import Dataset
from .network import build_network, describe_device
from .spec import ModelSpec, load_spec, spec_to_toml

__all__ = [
    "LoadedRun",
    "RunConfig",
    "TrainingError",
    "evaluate_run",
    "flat_weights",
    "load_run",
    "train",
]

CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.json"
RUN_CONFIG = "run.json"
SPEC_FILE = "spec.toml"
CURVE = "training_curve.png"


class TrainingError(RuntimeError):
    """A run cannot be started, resumed or evaluated as asked."""


@dataclass(frozen=True)
class RunConfig:
    """Settings of one training run (the spec's defaults, overridden by the command line).

    Attributes:
        data: Data set name.
        classes: Labels kept, in model-class order.
        data_dir: Directory of IDX files (MNIST, Fashion-MNIST).
        train_limit: Class-balanced cap on training samples (0 = all).
        test_limit: Class-balanced cap on test samples (0 = all).
        epochs: Total epochs.
        batch_size: Mini-batch size.
        lr: Adam learning rate.
        seed: Seed of initial weights, data split and shuffles.
        logit_scale: Multiplier of expectations before the softmax cross-entropy.
        engine: ``"aer"`` or ``"torch"``.
        device: ``"auto"``, ``"cpu"`` or ``"gpu"``.
        pca: Reduce features to this many principal components fitted on the training split
            (0 = none).
    """

    data: str = "digits"
    classes: tuple[int, ...] = (0, 1, 2, 3)
    data_dir: str | None = None
    train_limit: int = 0
    test_limit: int = 0
    epochs: int = 3
    batch_size: int = 32
    lr: float = 2e-3
    seed: int = 0
    logit_scale: float = 5.0
    engine: str = "aer"
    device: str = "auto"
    pca: int = 0

    @classmethod
    def from_spec(cls, spec: ModelSpec, **overrides: Any) -> RunConfig:
        """The spec's ``[training]`` and ``[data]`` defaults with non-None overrides applied."""
        base = cls(
            data=spec.data.name,
            classes=tuple(spec.data.classes),
            train_limit=spec.data.train_limit,
            test_limit=spec.data.test_limit,
            pca=spec.data.pca,
            epochs=spec.training.epochs,
            batch_size=spec.training.batch_size,
            lr=spec.training.lr,
            seed=spec.training.seed,
            logit_scale=spec.training.logit_scale,
        )
        values = {k: v for k, v in overrides.items() if v is not None}
        if "classes" in values:
            values["classes"] = tuple(values["classes"])
        if "data_dir" in values:
            values["data_dir"] = str(Path(values["data_dir"]).expanduser().resolve())
        return dataclasses.replace(base, **values)

    def load_data(self) -> Dataset:
        """Load this run's data set (PCA-reduced when ``pca`` is set)."""
        from .features import load_reduced_dataset

        return load_reduced_dataset(
            self.data,
            self.classes,
            data_dir=self.data_dir,
            seed=self.seed,
            train_limit=self.train_limit,
            test_limit=self.test_limit,
            pca=self.pca,
        )


@dataclass(frozen=True, eq=False)
class LoadedRun:
    """A run directory read back: its spec, compiled model, settings and last weights."""

    path: Path
    spec: ModelSpec
    model: CompiledModel
    config: RunConfig
    weights: np.ndarray
    epoch: int


def flat_weights(network: torch.nn.Module) -> np.ndarray:
    """All trainable parameters of a network as one float64 vector (the checkpoint format)."""
    vector = torch.nn.utils.parameters_to_vector(network.parameters())
    return vector.detach().cpu().double().numpy().copy()


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Write through a temporary file in the same directory, then rename over ``path``."""
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def _write_json(path: Path, data: Any) -> None:
    _atomic_write(path, lambda p: p.write_text(json.dumps(data, indent=2) + "\n"))


def _check_compatible(model: CompiledModel, data: Dataset) -> None:
    if data.num_features != model.num_inputs:
        raise TrainingError(
            f"data set {data.name!r} has {data.num_features} features but the model encodes "
            f"{model.num_inputs} (encoder.features); use a spec with features = {data.num_features}"
        )
    if data.num_classes != model.spec.classes:
        raise TrainingError(
            f"{data.num_classes} data classes but the model has {model.spec.classes} outputs"
        )


def _predict(network: torch.nn.Module, x: np.ndarray, batch_size: int) -> np.ndarray:
    outputs = []
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            batch = torch.as_tensor(x[start : start + batch_size], dtype=torch.float64)
            outputs.append(network(batch).detach().cpu().double().numpy())
    return np.concatenate(outputs)


def accuracy(
    network: torch.nn.Module, x: np.ndarray, y: np.ndarray, batch_size: int = 256
) -> float:
    """Fraction of samples whose largest class output is the label."""
    return float(np.mean(np.argmax(_predict(network, x, batch_size), axis=1) == y))


def _plot_curve(path: Path, history: list[dict[str, Any]], steps: list[float], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.8))
    epochs = [h["epoch"] for h in history]
    per_epoch = len(steps) / max(1, len(history))
    ax_loss.plot(np.arange(1, len(steps) + 1) / per_epoch, steps, alpha=0.35, label="batch")
    ax_loss.plot(epochs, [h["train_loss"] for h in history], "o-", label="epoch mean")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("cross-entropy")
    ax_loss.legend()
    ax_acc.plot(epochs, [h["train_accuracy"] for h in history], "o-", label="train")
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("accuracy")
    ax_acc.set_ylim(0, 1)
    ax_acc.legend()
    fig.suptitle(title)
    fig.tight_layout()
    _atomic_write(path, lambda p: fig.savefig(p, dpi=110, format="png"))
    plt.close(fig)


def train(
    spec: ModelSpec | str | Path,
    out: str | Path,
    config: RunConfig | None = None,
    *,
    resume: bool = False,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train a model and write the run directory.

    Shuffling is seeded per epoch and Adam's state is checkpointed, so a run resumed from its
    last checkpoint reaches the same weights as an uninterrupted one.

    Args:
        spec: A spec, a spec file or a preset name.
        out: The run directory (created; must be empty or absent unless ``resume``).
        config: Run settings (default: the spec's).
        resume: Continue from ``out``'s checkpoint; ``config.epochs`` may extend the run.
        progress: Show a progress bar.
        log: Where to print status lines.

    Returns:
        The metrics written to ``metrics.json``.
    """
    out = Path(out).expanduser()
    spec = load_spec(spec)
    config = config or RunConfig.from_spec(spec)
    checkpoint_path = out / CHECKPOINT
    state = None
    if resume:
        if not checkpoint_path.is_file():
            raise TrainingError(f"--resume: no checkpoint at {checkpoint_path}")
        previous = load_run(out)
        spec = previous.spec
        config = dataclasses.replace(
            previous.config, epochs=config.epochs, engine=config.engine, device=config.device
        )
        state = torch.load(checkpoint_path, weights_only=False)
    elif out.exists() and any(out.iterdir()):
        raise TrainingError(f"{out} is not empty: choose a new --out, or pass --resume")

    model = compile_model(spec)
    log(describe_device(config.engine, config.device))
    data = config.load_data()
    _check_compatible(model, data)
    out.mkdir(parents=True, exist_ok=True)
    _atomic_write(out / SPEC_FILE, lambda p: p.write_text(spec_to_toml(spec)))
    _write_json(out / RUN_CONFIG, dataclasses.asdict(config))

    weights = None if state is None else state["weights"]
    network = build_network(
        model, weights, engine=config.engine, device=config.device, seed=config.seed
    )
    optimizer = torch.optim.Adam(network.parameters(), lr=config.lr)
    history: list[dict[str, Any]] = []
    steps: list[float] = []
    start_epoch = 0
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
        history, steps, start_epoch = state["history"], state["steps"], state["epoch"]
        log(f"resuming {out} after epoch {start_epoch} of {config.epochs}")

    x_train = torch.as_tensor(data.x_train, dtype=torch.float64)
    y_train = torch.as_tensor(data.y_train, dtype=torch.int64)
    loss_fn = torch.nn.CrossEntropyLoss()
    from tqdm.auto import tqdm

    for epoch in range(start_epoch, config.epochs):
        generator = torch.Generator().manual_seed(config.seed * 100_003 + epoch)
        loader = DataLoader(
            TensorDataset(x_train, y_train),
            batch_size=config.batch_size,
            shuffle=True,
            generator=generator,
        )
        started = time.perf_counter()
        total_loss = correct = seen = 0.0
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{config.epochs}", disable=not progress)
        for xb, yb in bar:
            optimizer.zero_grad()
            outputs = network(xb)
            loss = loss_fn(config.logit_scale * outputs, yb)
            loss.backward()
            optimizer.step()
            steps.append(loss.item())
            total_loss += loss.item() * len(yb)
            correct += float((outputs.argmax(dim=1) == yb).sum())
            seen += len(yb)
            bar.set_postfix(loss=f"{total_loss / seen:.4f}", acc=f"{correct / seen:.3f}")
        bar.close()
        history.append(
            {
                "epoch": epoch + 1,
                "train_loss": total_loss / seen,
                "train_accuracy": correct / seen,
                "seconds": time.perf_counter() - started,
            }
        )
        checkpoint = {
            "weights": flat_weights(network),
            "optimizer": optimizer.state_dict(),
            "epoch": epoch + 1,
            "history": history,
            "steps": steps,
        }
        _atomic_write(checkpoint_path, lambda p, c=checkpoint: torch.save(c, p))
        _write_json(out / METRICS, {"epochs": history})
        log(
            f"epoch {epoch + 1}: loss {history[-1]['train_loss']:.4f} "
            f"train accuracy {history[-1]['train_accuracy']:.3f}"
        )

    test_acc = accuracy(network, data.x_test, data.y_test, max(config.batch_size, 256))
    metrics = {
        "model": spec.name,
        "data": config.data,
        "classes": list(config.classes),
        "seed": config.seed,
        "engine": config.engine,
        "train_size": int(len(data.y_train)),
        "test_size": int(len(data.y_test)),
        "epochs": history,
        "test_accuracy": test_acc,
    }
    _write_json(out / METRICS, metrics)
    _plot_curve(out / CURVE, history, steps, f"{spec.name} on {config.data}")
    log(f"test accuracy {test_acc:.4f} on {len(data.y_test)} held-out samples")
    return metrics


def load_run(path: str | Path) -> LoadedRun:
    """Read a run directory written by :func:`train`.

    Args:
        path: The run directory.

    Returns:
        Its spec, compiled model, settings and last checkpointed weights.

    Raises:
        TrainingError: If a file is missing.
    """
    path = Path(path).expanduser()
    for name in (SPEC_FILE, RUN_CONFIG, CHECKPOINT):
        if not (path / name).is_file():
            raise TrainingError(f"{path} is not a training run: {name} is missing")
    spec = load_spec(path / SPEC_FILE)
    values = json.loads((path / RUN_CONFIG).read_text())
    values["classes"] = tuple(values["classes"])
    config = RunConfig(**values)
    state = torch.load(path / CHECKPOINT, weights_only=False)
    return LoadedRun(path, spec, compile_model(spec), config, state["weights"], state["epoch"])


def evaluate_run(
    path: str | Path, *, engine: str | None = None, device: str | None = None
) -> dict[str, Any]:
    """Test accuracy of a run's last checkpoint on its held-out test split.

    Args:
        path: The run directory.
        engine: Engine to evaluate with (default: the run's).
        device: Device (default: the run's).

    Returns:
        ``{"test_accuracy", "test_size", "epoch", "engine"}``.
    """
    run = load_run(path)
    engine = engine or run.config.engine
    data = run.config.load_data()
    network = build_network(
        run.model, run.weights, engine=engine, device=device or run.config.device
    )
    return {
        "test_accuracy": accuracy(network, data.x_test, data.y_test),
        "test_size": int(len(data.y_test)),
        "epoch": run.epoch,
        "engine": engine,
    }
