"""Run directories: settings, atomic checkpoints and metrics, and reading a run back.

A run directory holds everything needed to resume or evaluate it:

- ``spec.toml``: the model spec;
- ``run.json``: data and training settings (:class:`RunConfig`);
- ``checkpoint.pt``: weights, optimizer state and history after the last finished epoch
  (written atomically);
- ``metrics.json``: per-epoch loss/accuracy (held-out accuracy too when a validation split
  exists) and the final ``test_accuracy``;
- ``training_curve.png``: loss and accuracy curves.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..data import DATASETS, NATIVE_FEATURES, Dataset
from ..engines import ENGINES, NOISY_ENGINES
from ..errors import SpecError, TrainingError
from ..models import Model, compile_model
from ..spec import ModelSpec, TrainingSpec, load_saved_spec
from .checkpoints import load_checkpoint

__all__ = [
    "CHANGEABLE",
    "CHECKPOINT",
    "CURVE",
    "LOCK_FILE",
    "METRICS",
    "RUN_CONFIG",
    "SPEC_FILE",
    "LoadedRun",
    "RunConfig",
    "load_run",
    "lock_run",
]

CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.json"
RUN_CONFIG = "run.json"
SPEC_FILE = "spec.toml"
CURVE = "training_curve.png"

#: Settings a resumed run may change (passing them explicitly); any other differing setting is
#: refused, since it would silently mix two experiments in one run.
CHANGEABLE = ("epochs", "engine", "device", "patience", "memory_gb")


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
        logit_scale: Multiplier of the outputs before the softmax cross-entropy.
        engine: ``"aer"`` or ``"torch"``.
        device: ``"auto"``, ``"cpu"``, ``"gpu"`` or ``"cuda[:N]"``.
        pca: Reduce features to this many principal components fitted on the training split
            (0 = none).
        val_fraction: Fraction of the training split held out (stratified) as a validation
            split, scored every epoch (0 = none).
        patience: Early stopping on the validation loss after this many epochs without
            improvement, keeping the best epoch's weights (0 = off).
        balance: Weight of the load-balancing routing term (see
            :class:`~qmoe_qiskit.spec.TrainingSpec`).
        specialise: Weight of the per-input routing entropy term.
        class_routing: Weight of minus the batch's ``I(class; expert)``.
        memory_gb: Working-memory budget of one Aer call, in GB (see
            :class:`~qmoe_qiskit.spec.TrainingSpec`); never changes results.
        noise: A fake backend (``fake_NAME``) to train on: the circuit transpiled for it, on
            Aer with its noise model, exact noisy expectations and gradients
            (:mod:`~qmoe_qiskit.hardware.noise_aware`); ``""`` trains on the ideal circuit.
            Held-out accuracies are then those of the same noisy simulator.
        noise_profile: Transpile profile of ``noise``.
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
    val_fraction: float = 0.0
    patience: int = 0
    balance: float = 0.0
    specialise: float = 0.0
    class_routing: float = 0.0
    memory_gb: float = TrainingSpec.memory_gb
    noise: str = ""
    noise_profile: str = "default"

    @classmethod
    def from_spec(cls, spec: ModelSpec, **overrides: Any) -> RunConfig:
        """The spec's ``[training]`` and ``[data]`` defaults with non-None overrides applied."""
        base = cls(
            data=spec.data.name,
            classes=tuple(spec.data.classes),
            train_limit=spec.data.train_limit,
            test_limit=spec.data.test_limit,
            pca=spec.data.pca or _implied_pca(spec),
            epochs=spec.training.epochs,
            batch_size=spec.training.batch_size,
            lr=spec.training.lr,
            seed=spec.training.seed,
            logit_scale=spec.training.logit_scale,
            val_fraction=spec.training.val_fraction,
            patience=spec.training.patience,
            balance=spec.training.balance,
            specialise=spec.training.specialise,
            class_routing=spec.training.class_routing,
            memory_gb=spec.training.memory_gb,
        )
        return base.replace(**overrides)

    def replace(self, **overrides: Any) -> RunConfig:
        """A copy with the non-None ``overrides`` applied (paths resolved, classes a tuple)."""
        values = {k: v for k, v in overrides.items() if v is not None}
        unknown = sorted(set(values) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise TrainingError(f"unknown run setting {unknown[0]!r}")
        if "classes" in values:
            values["classes"] = tuple(values["classes"])
        if "data_dir" in values:
            values["data_dir"] = str(Path(values["data_dir"]).expanduser().resolve())
        return dataclasses.replace(self, **values)

    def validate(self) -> RunConfig:
        """Check every setting before anything is created.

        Returns:
            ``self``.

        Raises:
            TrainingError: Naming the first invalid setting and what is allowed.
        """

        def bad(name: str, value: Any, allowed: str) -> TrainingError:
            return TrainingError(f"{name.replace('_', '-')} = {value!r} is invalid: {allowed}")

        def number(value: Any) -> bool:
            return not isinstance(value, bool) and isinstance(value, (int, float))

        for name, low in (("epochs", 1), ("batch_size", 1), ("train_limit", 0)):
            value = getattr(self, name)
            if not number(value) or int(value) != value or value < low:
                raise bad(name, value, f"expected an integer >= {low}")
        for name in ("test_limit", "seed", "pca", "patience"):
            value = getattr(self, name)
            if not number(value) or int(value) != value or value < 0:
                raise bad(name, value, "expected an integer >= 0")
        for name in ("lr", "logit_scale"):
            value = getattr(self, name)
            if not number(value) or not math.isfinite(value) or value <= 0:
                raise bad(name, value, "expected a positive number")
        for name in ("balance", "specialise", "class_routing"):
            value = getattr(self, name)
            if not number(value) or not math.isfinite(value) or value < 0:
                raise bad(name, value, "expected a number >= 0")
        if not number(self.memory_gb) or not math.isfinite(self.memory_gb) or self.memory_gb <= 0:
            raise bad("memory_gb", self.memory_gb, "expected a positive number of GB")
        if not number(self.val_fraction) or not 0 <= self.val_fraction < 1:
            raise bad("val_fraction", self.val_fraction, "expected a number in [0, 1)")
        if self.data not in DATASETS:
            raise bad("data", self.data, "allowed values are " + ", ".join(DATASETS))
        if self.engine not in ENGINES:
            raise bad("engine", self.engine, "allowed values are " + ", ".join(ENGINES))
        if not isinstance(self.noise, str) or (self.noise and not self.noise.startswith("fake_")):
            raise bad("noise", self.noise, "expected a fake backend name, e.g. fake_manila")
        if self.noise and self.engine not in NOISY_ENGINES:
            raise bad(
                "engine", self.engine, "--noise trains on Aer with the backend's noise model: "
                "use --engine aer"
            )  # fmt: skip
        if not self.classes or any(
            isinstance(c, bool) or not isinstance(c, int) or c < 0 for c in self.classes
        ):
            raise bad("classes", list(self.classes), "expected non-negative integers")
        return self

    def differences(self, other: RunConfig) -> list[str]:
        """Names of the settings that differ from ``other``'s."""
        return [
            f.name
            for f in dataclasses.fields(self)
            if getattr(self, f.name) != getattr(other, f.name)
        ]

    def load_data(self) -> Dataset:
        """Load this run's data set (PCA-reduced when ``pca`` is set)."""
        from ..data import load_reduced_dataset

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
    model: Model
    config: RunConfig
    weights: np.ndarray
    epoch: int


#: The file a training process holds an exclusive lock on while it writes a run directory.
LOCK_FILE = ".qmoe.lock"


class RunLock:
    """An exclusive ``flock`` on a run directory's :data:`LOCK_FILE`, held until
    :meth:`release` (or the process's death: the kernel drops it, so ``kill -9`` leaves no
    stale lock). Where ``fcntl`` is missing (Windows) it locks nothing."""

    def __init__(self, handle: int | None) -> None:
        self._handle = handle

    def release(self) -> None:
        """Drop the lock."""
        if self._handle is not None:
            os.close(self._handle)
            self._handle = None


def lock_run(out: Path) -> RunLock:
    """Take the run directory ``out`` for this process.

    Raises:
        TrainingError: Another process holds it.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return RunLock(None)
    handle = os.open(out / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        owner = os.pread(handle, 32, 0).decode(errors="replace").strip() or "another process"
        os.close(handle)
        raise TrainingError(
            f"{out} is being written by {owner}: wait for it, or choose a new --out"
        ) from None
    os.ftruncate(handle, 0)
    os.pwrite(handle, f"process {os.getpid()}".encode(), 0)
    return RunLock(handle)


def _implied_pca(spec: ModelSpec) -> int:
    """PCA components a spec implies: its encoder's width when that is below its data set's
    native feature count (``data.pca = 0`` with ``encoder.features = 8`` on 8x8 images)."""
    native = NATIVE_FEATURES.get(spec.data.name, 0)
    return spec.encoder.features if spec.encoder.features < native else 0


def load_fit_checkpoint(path: Path) -> dict:
    """A run's checkpoint (:func:`~.checkpoints.load_checkpoint`) that holds a fit's state.

    Raises:
        TrainingError: Unreadable, or without weights and epoch.
    """
    state = load_checkpoint(path)
    if "weights" not in state or "epoch" not in state:
        raise TrainingError(f"{path} cannot be read: it holds no weights")
    return state


def read_config(path: Path) -> RunConfig:
    """The :class:`RunConfig` saved in a run directory's ``run.json``.

    Raises:
        TrainingError: If it is missing or unreadable.
    """
    try:
        values = json.loads((path / RUN_CONFIG).read_text())
        values["classes"] = tuple(values["classes"])
        known = {f.name for f in dataclasses.fields(RunConfig)}
        return RunConfig(**{k: v for k, v in values.items() if k in known})
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise TrainingError(f"{path / RUN_CONFIG} cannot be read: {exc}") from None


def load_run(path: str | Path) -> LoadedRun:
    """Read a run directory written by :func:`~qmoe_qiskit.training.train`.

    Args:
        path: The run directory.

    Returns:
        Its spec, compiled model, settings and weights: the last checkpoint's, or with early
        stopping (``patience``) those of the best validation epoch so far.

    Raises:
        TrainingError: If a file is missing or unreadable.
    """
    path = Path(path).expanduser()
    if not path.is_dir():
        raise TrainingError(f"{path} is not a training run: no such directory")
    for name in (SPEC_FILE, RUN_CONFIG, CHECKPOINT):
        if not (path / name).is_file():
            raise TrainingError(f"{path} is not a training run: {name} is missing")
    try:
        spec = load_saved_spec(path / SPEC_FILE)
    except SpecError as exc:
        raise TrainingError(f"{path}: {exc}") from None
    config = read_config(path)
    state = load_fit_checkpoint(path / CHECKPOINT)
    weights, epoch = state["weights"], state["epoch"]
    if config.patience and state.get("best_weights") is not None:
        weights, epoch = state["best_weights"], state["best_epoch"]
    weights = np.asarray(weights, dtype=np.float64)
    return LoadedRun(path, spec, compile_model(spec), config, weights, epoch)
