"""DiffQAS-QT studies: the paper's time-series table and classification runs, resumable.

Every run trains one :class:`~qmoe_qiskit.models.quantum_train.QuantumTrain` model into
``OUT/runs/NAME`` (``checkpoint.pt`` after every epoch; ``result.json`` and the generated
network as a plain state dict, ``classical.pt``, when done). Running a study again skips
finished runs and continues unfinished ones from their checkpoint, so a killed study loses at
most the epoch in progress. ``--shard I/K`` splits the run list between K processes (run
``I`` takes every K-th run), which is how both cores of a small machine are used.

Time series (paper Table II): the QT-generated LSTM (:class:`~.classical.LSTMRegressor`, 1,781
weights from an 11-qubit generator of depth 10) on the five series of
:mod:`qmoe_qiskit.data.series`, with the DiffQAS mixture of all 12 candidates and with each
candidate alone; RMSprop (lr 0.01, alpha 0.99, eps 1e-8), batch 10, 100 epochs, MSE. Configs
whose generator gives the same constant distribution as a lower-numbered one
(:func:`equivalent_configs`: 3, 4 and 6 as 1, 12 as 9) are the same model and are not trained
again unless asked; the report shows the representative's numbers in their rows.

Classification: the QT-generated 784-128-64-2 perceptron (108,866 weights, 17 qubits, depth
15) on full-size MNIST 1 vs 5, Fashion 1 vs 5 and Fashion 5 vs 7; Adam 1e-3, batch 100.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from ..data import load_idx_dataset
from ..data.series import load_series
from ..engines import probability_factory
from ..files import atomic_write, write_json
from ..models.classical import LSTMRegressor, count_parameters, mlp
from ..models.diffqas import DiffQASSpace
from ..models.quantum_train import QuantumTrain, qubits_for
from ..training.checkpoints import load_checkpoint, save_checkpoint
from ..training.loop import FitOptions, FitState, fit, load_flat_weights, predict
from .qt_paper import PAPER_TABLE_II
from .qt_runs import (
    AUTHORS_PROTOCOL,
    CLASSIFY_TASKS,
    DTYPES,
    FIRST_PROTOCOL,
    VAL_FRACTION,
    QTRun,
    classify_run,
    equivalent_configs,
    series_run,
    series_runs,
)

__all__ = [
    "AUTHORS_PROTOCOL",
    "EPOCH_FIELDS",
    "CLASSIFY_TASKS",
    "FIRST_PROTOCOL",
    "PAPER_TABLE_II",
    "QTRun",
    "build_model",
    "classify_run",
    "equivalent_configs",
    "history_of",
    "restore",
    "run_one",
    "run_study",
    "series_run",
    "series_runs",
]


CHECKPOINT = "checkpoint.pt"
RESULT = "result.json"
CLASSICAL = "classical.pt"


def build_model(run: QTRun, engine: str = "torch", device: str = "cpu") -> QuantumTrain:
    """The run's Quantum-Train model (generator of the run's candidates)."""
    network = LSTMRegressor() if run.kind == "series" else mlp([784, 128, 64, 2])
    space = DiffQASSpace(qubits_for(count_parameters(network)), run.depth, run.candidates)
    factory = probability_factory(engine, device)
    return QuantumTrain(
        network, space, factory, seed=run.seed, mapping_init=run.mapping_init,
        angle_init=run.angle_init, dtype=DTYPES[run.dtype],
    )  # fmt: skip


def _data(run: QTRun, data_dir: str | Path | None):
    if run.kind == "series":
        split = load_series(run.task, points=run.points or None)
        return split.x_train, split.y_train, split.x_test, split.y_test, split
    name, classes = CLASSIFY_TASKS[run.task]
    data = load_idx_dataset(name, data_dir, classes, seed=0, full_size=True)
    return data.x_train, data.y_train, data.x_test, data.y_test, None


def _score(run: QTRun, model: QuantumTrain, x: np.ndarray, y: np.ndarray) -> float:
    out = predict(model, x, batch_size=1024).astype(np.float64)
    if run.kind == "series":
        return float(np.mean((out - y) ** 2))
    return float(np.mean(out.argmax(axis=1) == y))


def run_one(
    run: QTRun,
    out: str | Path,
    *,
    data_dir: str | Path | None = None,
    engine: str = "torch",
    device: str = "cpu",
    progress: bool = False,
    log: Callable[[str], None] | None = None,
) -> dict:
    """Train one run into ``out/runs/NAME`` (or return its finished result).

    Returns:
        The run's result (also in ``result.json``).
    """
    folder = Path(out) / "runs" / run.name
    if (folder / RESULT).is_file():
        return json.loads((folder / RESULT).read_text())
    folder.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    x_train, y_train, x_test, y_test, split = _data(run, data_dir)
    validation = None
    if run.select == "val":  # hold out the latest part of the training data
        cut = len(x_train) - max(1, int(round(VAL_FRACTION * len(x_train))))
        validation = (x_train[cut:], y_train[cut:])
        x_train, y_train = x_train[:cut], y_train[:cut]
    model = build_model(run, engine, device)
    state = None
    if (folder / CHECKPOINT).is_file():
        state = FitState(**load_checkpoint(folder / CHECKPOINT))
        if state.weights is not None:
            load_flat_weights(model, state.weights)
    metric = "test_mse" if run.kind == "series" else "test_accuracy"

    def on_epoch(fit_state: FitState, network: torch.nn.Module) -> None:
        fit_state.history[-1][metric] = _score(run, model, x_test, y_test)
        if run.kind == "classify":
            fit_state.history[-1]["train_accuracy_eval"] = _score(run, model, x_train, y_train)
        weights = model.generator.structural_weights().detach().numpy().tolist()
        fit_state.history[-1]["structural_weights"] = weights
        save_checkpoint(folder / CHECKPOINT, fit_state)

    options = FitOptions(
        epochs=run.epochs,
        batch_size=run.batch_size,
        lr=run.lr,
        seed=run.seed,
        loss="mse" if run.kind == "series" else "cross-entropy",
        optimizer=run.optimizer,
        logit_scale=1.0,
        # With validation data, never stop early but keep the best validation epoch.
        patience=run.epochs + 1 if validation is not None else 0,
        shuffle=run.order == "shuffled",
    )
    started = time.perf_counter()
    result = fit(
        model, x_train, y_train, options, validation=validation, state=state,
        on_epoch=on_epoch, progress=progress, log=log,
    )  # fmt: skip
    load_flat_weights(model, result.weights)
    seconds = sum(row["seconds"] for row in result.history)
    summary = {
        "run": asdict(run),
        "name": run.name,
        "engine": engine,
        metric: _score(run, model, x_test, y_test),
        "scored_epoch": result.best_epoch,
        "train_loss": result.history[-1]["train_loss"],
        "seconds": seconds,
        "wall_seconds_this_call": time.perf_counter() - started,
        "compression": model.compression(),
        "structural_weights": model.generator.structural_weights().detach().numpy().tolist(),
        "derived": list(model.generator.derived()),
        "constant_architectures": [list(a) for a in model.generator.constant_architectures],
        "history": result.history,
    }
    if run.kind == "series":
        summary["train_mse"] = _score(run, model, x_train, y_train)
        summary["prediction"] = {
            "series": split.series.tolist(),
            "first_test": split.first_test,
            "window": x_train.shape[1],
            "predicted": predict(model, np.concatenate([split.x_train, x_test]))[:, 0].tolist(),
        }
    else:
        summary["train_accuracy"] = _score(run, model, x_train, y_train)
    atomic_write(folder / CLASSICAL, lambda p: torch.save(model.classical_state_dict(), p))
    write_json(folder / RESULT, summary)
    (folder / CHECKPOINT).unlink(missing_ok=True)
    return summary


def run_study(
    runs: Sequence[QTRun],
    out: str | Path,
    *,
    shard: tuple[int, int] = (0, 1),
    data_dir: str | Path | None = None,
    engine: str = "torch",
    device: str = "cpu",
    progress: bool = True,
    log: Callable[[str], None] | None = print,
) -> list[dict]:
    """Run this shard's share of ``runs`` in order (finished runs are skipped).

    Args:
        runs: The runs (e.g. :func:`series_runs`).
        out: Study directory.
        shard: ``(index, count)``: run ``i`` of ``runs`` belongs to shard ``i % count``.
        data_dir: IDX directory (classification tasks).
        engine: ``"torch"`` (default) or ``"aer"``.
        device: Torch or Aer device.
        progress: tqdm bar over this shard's runs.
        log: One line per finished run.

    Returns:
        The results of this shard's runs.
    """
    from tqdm.auto import tqdm

    index, count = shard
    if count < 1 or not 0 <= index < count:
        raise ValueError(f"shard must be I/K with 0 <= I < K, got {index}/{count}")
    mine = [run for i, run in enumerate(runs) if i % count == index]
    results = []
    for run in tqdm(mine, desc=f"shard {index}/{count}", disable=not progress):
        result = run_one(run, out, data_dir=data_dir, engine=engine, device=device)
        results.append(result)
        if log is not None:
            key = "test_mse" if run.kind == "series" else "test_accuracy"
            log(f"{run.name}: {key} {result[key]:.4g} ({result['seconds']:.0f} s)")
    return results


def collect(out: str | Path) -> list[dict]:
    """Every finished run's result under ``out/runs`` (sorted by name)."""
    results = []
    for path in sorted((Path(out) / "runs").glob(f"*/{RESULT}")):
        results.append(json.loads(path.read_text()))
    return results


def restore(results: str | Path, out: str | Path) -> int:
    """Seed a study directory with the summary rows of a report's ``results.json``.

    Each supervised row (time series or classification) becomes ``out/runs/NAME/result.json``
    (marked ``"restored"`` with its source), unless that run is already there, so a study
    continues on a new machine from its committed results: :func:`run_study` skips the
    restored runs, and the report reads them (prediction plots need a run trained here; the
    per-epoch curves need the ``by_epoch`` field that newer summary rows keep).

    Args:
        results: A ``results.json`` written by :func:`~.qt_report.write_report`.
        out: Study directory.

    Returns:
        How many runs were restored.

    Raises:
        ValueError: If ``results`` is not such a file.
    """
    path = Path(results).expanduser()
    try:
        rows = json.loads(path.read_text())["runs"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{path} is not a Quantum-Train results.json ({error})") from None
    count = 0
    for row in rows:
        if "test_mse" not in row and "test_accuracy" not in row:
            continue  # RL rows keep only a moving average: not a resumable run
        folder = Path(out).expanduser() / "runs" / row["name"]
        if (folder / RESULT).is_file():
            continue
        folder.mkdir(parents=True, exist_ok=True)
        write_json(folder / RESULT, {**row, "restored": str(path)})
        count += 1
    return count


#: Per-epoch fields a summary row keeps (``results.json``), so a report can be written again
#: from summary rows alone (:func:`restore`); ``val_loss`` where the run has a validation split.
EPOCH_FIELDS = ("test_mse", "test_accuracy", "train_accuracy_eval", "val_loss")


def history_of(run: dict) -> list[dict]:
    """A run's per-epoch rows: its full history, or those a summary row kept (may be empty)."""
    if "history" in run:
        return run["history"]
    kept = run.get("by_epoch") or {}
    count = max((len(v) for v in kept.values()), default=0)
    return [
        {"epoch": i + 1, **{field: values[i] for field, values in kept.items()}}
        for i in range(count)
    ]


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and population standard deviation (``nan`` for no values)."""
    if not values:
        return math.nan, math.nan
    return float(np.mean(values)), float(np.std(values))
