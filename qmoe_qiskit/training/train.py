"""Train a model into a run directory, resume it, and evaluate it."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data import Dataset
from ..engines import build_network, describe_device
from ..engines.devices import resolve_device
from ..engines.estimate import check_resources, estimate_training
from ..errors import TrainingError
from ..files import atomic_write, write_json
from ..models import CircuitNetworkFactory, Model, circuit_of, compile_model
from ..spec import ModelSpec, load_saved_spec, load_spec, spec_to_toml
from .checkpoints import save_checkpoint
from .loop import FitOptions, FitResult, FitState, fit, predict
from .plots import plot_curve
from .routing import routing_probabilities, routing_stats
from .runs import (
    CHANGEABLE,
    CHECKPOINT,
    CURVE,
    LOCK_FILE,
    METRICS,
    RUN_CONFIG,
    SPEC_FILE,
    LoadedRun,
    RunConfig,
    load_fit_checkpoint,
    load_run,
    lock_run,
    read_config,
)

__all__ = [
    "accuracy",
    "evaluate_run",
    "fit_model",
    "predict_classes",
    "split_validation",
    "train",
]


def accuracy(
    network: torch.nn.Module, x: np.ndarray, y: np.ndarray, batch_size: int = 256
) -> float:
    """Fraction of samples whose largest class output is the label."""
    if len(y) == 0:
        return float("nan")
    return float(np.mean(np.argmax(predict(network, x, batch_size), axis=1) == y))


def check_compatible(model: Model, data: Dataset) -> None:
    """Check that ``data`` fits ``model`` (feature and class counts).

    Raises:
        TrainingError: Saying what the model expects.
    """
    if data.num_features != model.num_inputs:
        raise TrainingError(
            f"data set {data.name!r} has {data.num_features} features but the model encodes "
            f"{model.num_inputs} (encoder.features); use a spec with features = "
            f"{data.num_features}, or data.pca = {model.num_inputs}"
        )
    if data.num_classes != model.num_classes:
        raise TrainingError(
            f"{data.num_classes} data classes but the model has {model.num_classes} outputs"
        )


def split_validation(
    data: Dataset, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray] | None]:
    """Carve a stratified validation split out of the training split.

    Returns:
        ``(x_fit, y_fit, (x_val, y_val))``, or the whole training split and ``None`` when
        ``fraction`` is 0.
    """
    if not fraction:
        return data.x_train, data.y_train, None
    from sklearn.model_selection import train_test_split

    x_fit, x_val, y_fit, y_val = train_test_split(
        data.x_train, data.y_train, test_size=fraction, random_state=seed, stratify=data.y_train
    )
    return x_fit, y_fit, (x_val, y_val)


def _fit_options(config: RunConfig) -> FitOptions:
    """The training loop's settings from a run's."""
    return FitOptions(
        epochs=config.epochs,
        batch_size=config.batch_size,
        lr=config.lr,
        seed=config.seed,
        logit_scale=config.logit_scale,
        patience=config.patience,
        balance=config.balance,
        specialise=config.specialise,
        class_routing=config.class_routing,
    )


def fit_model(
    model: Model,
    data: Dataset,
    config: RunConfig,
    *,
    state: FitState | None = None,
    on_epoch: Callable[[FitState, torch.nn.Module], None] | None = None,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
) -> FitResult:
    """Build ``model``'s network on ``config.engine`` and train it on ``data``'s training split.

    With ``config.val_fraction`` a stratified validation split (seeded by ``config.seed``) is
    scored every epoch; with ``config.patience`` too, training stops early and keeps the best
    validation epoch's weights. The test split is not touched.

    Args:
        model: The compiled model.
        data: The data set.
        config: Run settings.
        state: A saved state to resume from.
        on_epoch: Called after every epoch (see :func:`~qmoe_qiskit.training.loop.fit`).
        progress: Progress bars.
        log: One line per epoch.

    Returns:
        The :class:`~qmoe_qiskit.training.loop.FitResult`.
    """
    check_compatible(model, data)
    weights = None if state is None else state.weights
    options = _fit_options(config)
    network = build_network(
        model,
        weights,
        engine=config.engine,
        device=config.device,
        seed=config.seed,
        routed=options.routing_losses,
        memory_gb=config.memory_gb,
        factory=circuit_factory(config),
    )
    x_fit, y_fit, validation = split_validation(data, config.val_fraction, config.seed)
    return fit(
        network,
        x_fit,
        y_fit,
        options,
        validation=validation,
        state=state,
        on_epoch=on_epoch,
        progress=progress,
        log=log,
    )


def circuit_factory(config: RunConfig) -> CircuitNetworkFactory | None:
    """The circuit-module factory of a noise-aware run (``config.noise``), else ``None`` (the
    engine's own)."""
    if not config.noise:
        return None
    from ..hardware import get_fake_backend
    from ..hardware.noise_aware import noisy_network_factory

    try:
        backend = get_fake_backend(config.noise)
    except Exception as error:  # unknown name: one line, naming the setting
        raise TrainingError(f"noise = {config.noise!r} is invalid: {error}") from None
    return noisy_network_factory(backend, config.noise_profile, memory_gb=config.memory_gb)


def _check_noise_backend(model: Model, config: RunConfig) -> None:
    from ..hardware import get_fake_backend, load_profile

    try:
        backend = get_fake_backend(config.noise)
        load_profile(config.noise_profile)
        program = circuit_of(model)
    except Exception as error:
        raise TrainingError(f"--noise {config.noise}: {error}") from None
    if backend.num_qubits < program.num_qubits:
        raise TrainingError(
            f"--noise {config.noise}: the backend has {backend.num_qubits} qubits, the model "
            f"needs {program.num_qubits}"
        )


def _state_from_checkpoint(checkpoint: dict[str, Any]) -> FitState:
    fields = {f.name for f in dataclasses.fields(FitState)}
    values = {k: v for k, v in checkpoint.items() if k in fields}
    return FitState(**values)


def _resume_settings(
    out: Path, spec: ModelSpec, config: RunConfig | None
) -> tuple[ModelSpec, RunConfig]:
    saved_spec = load_saved_spec(out / SPEC_FILE)
    saved = read_config(out)
    if spec_to_toml(spec) != spec_to_toml(saved_spec):
        raise TrainingError(
            f"--resume: {out} was trained with spec {saved_spec.name!r} as saved in "
            f"{out / SPEC_FILE}; resume with that spec (or the run directory's spec.toml)"
        )
    if config is None:
        return saved_spec, saved
    changed = [name for name in config.differences(saved) if name not in CHANGEABLE]
    if changed:
        listed = ", ".join(
            f"{n.replace('_', '-')} {getattr(saved, n)!r} (asked {getattr(config, n)!r})"
            for n in changed
        )
        flags = ", ".join("--" + c.replace("_", "-") for c in CHANGEABLE)
        raise TrainingError(
            f"--resume: {out} was trained with {listed}; only {flags} may change on resume: "
            "drop the others, or train into a new --out"
        )
    return saved_spec, config


def train(
    spec: ModelSpec | str | Path,
    out: str | Path,
    config: RunConfig | None = None,
    *,
    resume: bool = False,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train a model and write the run directory (see :mod:`qmoe_qiskit.training.runs`).

    Shuffling is seeded per epoch and Adam's state is checkpointed after every epoch, so a run
    resumed from its last checkpoint reaches the same weights as an uninterrupted one. Every
    setting is validated before anything is written.

    Args:
        spec: A spec, a spec file or a preset name.
        out: The run directory (created; must be empty or absent unless ``resume``).
        config: Run settings (default: the spec's; on resume: the saved ones).
        resume: Continue from ``out``'s checkpoint. Only the settings in
            :data:`~qmoe_qiskit.training.runs.CHANGEABLE` may differ from the saved ones. A run
            stopped before its first checkpoint starts again from scratch.
        progress: Show progress bars.
        log: Where to print status lines.

    Returns:
        The metrics written to ``metrics.json``.

    Raises:
        TrainingError: For invalid settings, a non-empty ``out`` without ``resume``, or a
            resume that would change the experiment.
    """
    out = Path(out).expanduser()
    if out.exists() and not out.is_dir():
        raise TrainingError(f"{out} is a file, not a directory: choose a new --out")
    spec = load_spec(spec)
    state = None
    started_before = resume and (out / RUN_CONFIG).is_file() and (out / SPEC_FILE).is_file()
    if resume:
        if not started_before:
            raise TrainingError(f"--resume: {out} holds no run to resume (no {RUN_CONFIG})")
        spec, config = _resume_settings(out, spec, config)
    elif out.exists() and any(p.name != LOCK_FILE for p in out.iterdir()):
        hint = " or pass --resume" if (out / RUN_CONFIG).is_file() else ""
        raise TrainingError(f"{out} is not empty: choose a new --out{hint}")
    config = (config or RunConfig.from_spec(spec)).validate()
    model = compile_model(spec)
    log(describe_device(config.engine, config.device))
    if _fit_options(config).routing_losses:  # fails here, before anything is written
        build_network(model, engine="torch", device="cpu", routed=True)
    data = config.load_data()
    check_compatible(model, data)
    if config.noise:  # fails here, before anything is written
        _check_noise_backend(model, config)
        log(f"noise-aware: transpiled for {config.noise} (profile {config.noise_profile}), "
            "exact noisy expectations on Aer (density matrix)")  # fmt: skip
    train_samples = round(len(data.y_train) * (1 - config.val_fraction))
    if config.batch_size > train_samples:
        log(f"batch size {config.batch_size} is more than the {train_samples} training samples: "
            "each step takes the whole training split (full-batch training)")  # fmt: skip
    estimate = estimate_training(
        model,
        engine=config.engine,
        device=resolve_device(config.engine, config.device),
        batch_size=max(1, min(config.batch_size, train_samples)),
        train_samples=train_samples,
        memory_gb=config.memory_gb,
        noisy=bool(config.noise),
    )
    check_resources(estimate)  # refused here, before anything is written or allocated
    if estimate is not None:
        log(estimate.describe())
    out.mkdir(parents=True, exist_ok=True)
    lock = lock_run(out)  # one process per run directory; refused in one line otherwise
    try:
        if not resume and any(p.name != LOCK_FILE for p in out.iterdir()):
            raise TrainingError(f"{out} is not empty: another run started writing it first")
        if resume:  # temporary files of writes a kill interrupted (atomic_write's naming)
            for stale in out.glob(".*.tmp"):
                stale.unlink(missing_ok=True)
        if resume and (out / CHECKPOINT).is_file():
            state = _state_from_checkpoint(load_fit_checkpoint(out / CHECKPOINT))
            log(f"resuming {out} after epoch {state.epoch} of {config.epochs}")
        elif resume:
            log(f"{out} stopped before its first checkpoint: starting it again from scratch")
        atomic_write(out / SPEC_FILE, lambda p: p.write_text(spec_to_toml(spec)))
        write_json(out / RUN_CONFIG, dataclasses.asdict(config))

        held_out = config.val_fraction == 0
        _, _, validation = split_validation(data, config.val_fraction, config.seed)
        x_seen, y_seen = (data.x_test, data.y_test) if validation is None else validation
        routed = model.num_experts > 0

        def checkpoint(fit_state: FitState, network: torch.nn.Module) -> None:
            row = fit_state.history[-1]
            if held_out:  # shown in training_curve.png; never used to choose anything
                row["test_accuracy"] = accuracy(network, data.x_test, data.y_test)
            if routed:  # I(class; expert) on the held-out split, in bits
                assert fit_state.weights is not None  # set at the end of every epoch
                probs = routing_probabilities(
                    model,
                    fit_state.weights,
                    x_seen,
                    engine=config.engine,
                    device=config.device,
                    memory_gb=config.memory_gb,
                )
                row["routing_mi"] = routing_stats(
                    probs, y_seen, model.num_classes
                ).mutual_information
            save_checkpoint(out / CHECKPOINT, fit_state)
            write_json(out / METRICS, {"epochs": fit_state.history})

        result = fit_model(
            model, data, config, state=state, on_epoch=checkpoint, progress=progress, log=log
        )
        network = build_network(
            model,
            result.weights,
            engine=config.engine,
            device=config.device,
            memory_gb=config.memory_gb,
            factory=circuit_factory(config),
        )
        if result.best_epoch != result.state.epoch:
            log(f"kept the weights of epoch {result.best_epoch} (lowest validation loss)")
        test_acc = accuracy(network, data.x_test, data.y_test, max(config.batch_size, 256))
        metrics = {
            "model": spec.name,
            "family": spec.kind,
            "data": config.data,
            "classes": list(config.classes),
            "seed": config.seed,
            "engine": config.engine,
            "noise": config.noise or None,
            "train_size": int(len(data.y_train)),
            "test_size": int(len(data.y_test)),
            "epochs": result.history,
            "best_epoch": result.best_epoch,
            "test_accuracy": test_acc,
        }
        if routed:  # the routing of the kept weights on the test split (qmoe routing RUN)
            probs = routing_probabilities(
                model,
                result.weights,
                data.x_test,
                engine=config.engine,
                device=config.device,
                memory_gb=config.memory_gb,
            )
            metrics["routing"] = routing_stats(probs, data.y_test, model.num_classes).to_dict()
        write_json(out / METRICS, metrics)
        plot_curve(
            out / CURVE,
            result.history,
            result.state.steps,
            f"{spec.name} on {config.data}",
            test_accuracy=test_acc,
        )
        log(f"test accuracy {test_acc:.4f} on {len(data.y_test)} held-out samples")
        return metrics
    finally:
        lock.release()


def predict_classes(
    run: LoadedRun, x: np.ndarray, *, engine: str | None = None, device: str | None = None
) -> np.ndarray:
    """A loaded run's predicted class (``0..classes-1``) for every row of ``x``."""
    network = build_network(
        run.model,
        run.weights,
        engine=engine or run.config.engine,
        device=device or run.config.device,
        memory_gb=run.config.memory_gb,
    )
    return predict(network, np.asarray(x)).argmax(axis=1)


def evaluate_run(
    path: str | Path, *, engine: str | None = None, device: str | None = None
) -> dict[str, Any]:
    """Test accuracy of a run's weights (see :func:`load_run`) on its held-out test split.

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
        run.model,
        run.weights,
        engine=engine,
        device=device or run.config.device,
        memory_gb=run.config.memory_gb,
    )
    return {
        "test_accuracy": accuracy(network, data.x_test, data.y_test),
        "test_size": int(len(data.y_test)),
        "epoch": run.epoch,
        "engine": engine,
    }
