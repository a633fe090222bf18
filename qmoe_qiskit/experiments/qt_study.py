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

import functools
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ..circuits.diffqas import equivalent_candidates
from ..data import load_idx_dataset
from ..data.series import SERIES, TASKS, load_series
from ..engines import probability_factory
from ..files import atomic_write, write_json
from ..models.classical import LSTMRegressor, count_parameters, mlp
from ..models.diffqas import DiffQASSpace
from ..models.quantum_train import QuantumTrain, qubits_for
from ..training.checkpoints import load_checkpoint, save_checkpoint
from ..training.loop import FitOptions, FitState, fit, load_flat_weights, predict
from .qt_paper import PAPER_TABLE_II

__all__ = [
    "CLASSIFY_TASKS",
    "PAPER_TABLE_II",
    "QTRun",
    "build_model",
    "AUTHORS_PROTOCOL",
    "FIRST_PROTOCOL",
    "equivalent_configs",
    "restore",
    "run_one",
    "run_study",
    "series_runs",
]


#: Classification tasks: name -> (IDX data set, the two classes).
CLASSIFY_TASKS: dict[str, tuple[str, tuple[int, int]]] = {
    "mnist-1v5": ("mnist", (1, 5)),
    "fashion-1v5": ("fashion-mnist", (1, 5)),
    "fashion-5v7": ("fashion-mnist", (5, 7)),
}

#: How the scored weights are chosen (see :class:`QTRun`).
SELECTIONS = ("last", "val")
#: Mini-batch orders of a run (see :attr:`QTRun.order`).
ORDERS = ("shuffled", "time")
#: Initialisations of the generator angles (see :attr:`QTRun.angle_init`).
ANGLE_INITS = ("uniform", "normal")
#: Precisions of a run (see :attr:`QTRun.dtype`).
DTYPES = {"float64": torch.float64, "float32": torch.float32}
#: Share of the training data held out (the latest windows) when ``select = "val"``.
VAL_FRACTION = 0.1

CHECKPOINT = "checkpoint.pt"
RESULT = "result.json"
CLASSICAL = "classical.pt"


@dataclass(frozen=True)
class QTRun:
    """One Quantum-Train run.

    Attributes:
        task: A time series (:data:`~qmoe_qiskit.data.series.TASKS`) or a classification task
            (:data:`CLASSIFY_TASKS`).
        config: ``"diffqas"`` (search over all 12 candidates) or a candidate index 1..12.
        seed: Seed of the generator angles, mapping model and shuffles.
        epochs: Training epochs.
        depth: Generator depth (circuit layers per candidate).
        lr: Learning rate.
        batch_size: Mini-batch size.
        optimizer: ``"rmsprop"`` (time series) or ``"adam"`` (classification).
        mapping_init: Initialisation of the mapping model
            (:class:`~qmoe_qiskit.models.quantum_train.QuantumTrain`): ``"torch"`` for the time
            series, ``"fan-in"`` for the 784-input classifier (with ``"torch"`` its first
            epoch ended at training loss 1,089 and 49 % accuracy on Fashion 1 vs 5).
        select: Which weights are scored: ``"last"`` (the last epoch's, the paper's protocol)
            or ``"val"`` (the epoch with the lowest loss on a validation split: the last
            ``VAL_FRACTION`` of the training windows in time, or of the training images,
            held out from training; time series test MSE jumps by 10x between epochs under
            RMSprop at lr 0.01, so the last epoch is a noisy pick).
        order: Mini-batch order: ``"shuffled"`` (a fresh seeded order every epoch) or
            ``"time"`` (the training windows in time order every epoch, as the authors'
            time-series code does; every epoch then ends on the windows just before the test
            region). Named with a ``-time`` suffix.
        angle_init: Generator angles ``"uniform"`` in ``[0, 2 pi)`` or ``"normal"``
            (``0.01 * N(0, 1)``, the authors' Quantum-Train code). ``-normal`` suffix.
        dtype: ``"float64"`` or ``"float32"`` (the authors' precision: generator states in
            complex64, network and mapping in float32). ``-f32`` suffix.
        points: Length of the generated series; 0 for the paper's
            (:data:`~qmoe_qiskit.data.series.POINTS`; e.g. 1,000 for the Bessel function of
            the authors' newer scripts). ``-pN`` suffix.

    Name suffixes mark settings that differ from the first protocol of this project (last
    epoch, shuffled, uniform, float64, the paper's points), whatever the current defaults,
    so a run directory's name always says how it was trained.
    """

    task: str
    config: str | int
    seed: int
    epochs: int
    depth: int
    lr: float
    batch_size: int
    optimizer: str
    mapping_init: str = "torch"
    select: str = "last"
    order: str = "shuffled"
    angle_init: str = "uniform"
    dtype: str = "float64"
    points: int = 0

    @property
    def kind(self) -> str:
        """``"series"`` or ``"classify"``."""
        return "series" if self.task in TASKS else "classify"

    @property
    def name(self) -> str:
        """Directory name, e.g. ``bessel-diffqas-s0`` or ``narma5-c07-s2``."""
        label = "diffqas" if self.config == "diffqas" else f"c{int(self.config):02d}"
        suffix = "" if self.select == "last" else f"-{self.select}"
        suffix += "" if self.order == "shuffled" else f"-{self.order}"
        suffix += "" if self.angle_init == "uniform" else f"-{self.angle_init}"
        suffix += "" if self.dtype == "float64" else "-f32"
        suffix += f"-p{self.points}" if self.points else ""
        return f"{self.task}-{label}-s{self.seed}{suffix}"

    @property
    def candidates(self) -> tuple[int, ...]:
        """Candidates of the generator's search space."""
        return tuple(range(1, 13)) if self.config == "diffqas" else (int(self.config),)

    def validate(self) -> QTRun:
        """Check the settings; returns ``self``.

        Raises:
            ValueError: Naming the bad setting.
        """
        if self.task not in TASKS and self.task not in CLASSIFY_TASKS:
            known = ", ".join([*TASKS, *CLASSIFY_TASKS])
            raise ValueError(f"unknown task {self.task!r}; choose from {known}")
        if self.config != "diffqas" and (
            not isinstance(self.config, int) or not 1 <= self.config <= 12
        ):
            raise ValueError(f"config must be 'diffqas' or 1..12, got {self.config!r}")
        if self.select not in SELECTIONS:
            raise ValueError(f"select must be one of {SELECTIONS}, got {self.select!r}")
        if self.order not in ORDERS:
            raise ValueError(f"order must be one of {ORDERS}, got {self.order!r}")
        if self.angle_init not in ANGLE_INITS:
            raise ValueError(f"angle_init must be one of {ANGLE_INITS}, got {self.angle_init!r}")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {tuple(DTYPES)}, got {self.dtype!r}")
        if self.points and (self.kind != "series" or self.points < 7):
            raise ValueError(
                f"points applies to time series and must be at least 7, got {self.points}"
            )
        for name in ("epochs", "depth", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        return self


#: The authors' time-series protocol, as their published code runs it (the default of
#: :func:`series_run` and ``qmoe qt series``): mini-batches in time order, generator angles
#: ``0.01 * N(0, 1)``, float32, the last epoch scored.
AUTHORS_PROTOCOL: dict[str, str] = {"order": "time", "angle_init": "normal", "dtype": "float32"}
#: This project's first protocol (shuffled batches, uniform angles, float64): the settings of
#: the committed runs from before the authors' was measured (run names carry no suffix).
FIRST_PROTOCOL: dict[str, str] = {"order": "shuffled", "angle_init": "uniform", "dtype": "float64"}


def series_run(
    task: str,
    config: str | int,
    seed: int,
    epochs: int = 100,
    select: str = "last",
    order: str = AUTHORS_PROTOCOL["order"],
    *,
    angle_init: str = AUTHORS_PROTOCOL["angle_init"],
    dtype: str = AUTHORS_PROTOCOL["dtype"],
    points: int = 0,
) -> QTRun:
    """A time-series run with the paper's settings (depth 10, RMSprop 0.01, batch 10) and, by
    default, the authors' protocol (:data:`AUTHORS_PROTOCOL`)."""
    run = QTRun(
        task, config, seed, epochs, 10, 0.01, 10, "rmsprop", select=select, order=order,
        angle_init=angle_init, dtype=dtype, points=points,
    )  # fmt: skip
    return run.validate()


def classify_run(
    task: str, seed: int, epochs: int, config: str | int = "diffqas", select: str = "last"
) -> QTRun:
    """A classification run with the paper's settings (depth 15, Adam 1e-3, batch 100)."""
    run = QTRun(task, config, seed, epochs, 15, 1e-3, 100, "adam", "fan-in", select=select)
    return run.validate()


@functools.cache
def equivalent_configs(depth: int = 10) -> dict[int, int]:
    """Fixed configs of the time-series generator that are the same model as a lower one.

    ``{config: representative}`` from
    :func:`~qmoe_qiskit.circuits.diffqas.equivalent_candidates` at the LSTM generator's width
    (11 qubits): ``{3: 1, 4: 1, 6: 1, 12: 9}``. Their generators output the same constant
    distribution, so with the same seed the trained LSTMs agree up to floating-point rounding
    (which RMSprop can amplify over 100 epochs: the paper's Table II shows one number for
    configs 1, 3, 4 and 6 on every series).
    """
    return equivalent_candidates(qubits_for(count_parameters(LSTMRegressor())), depth)


def series_runs(
    tasks: Sequence[str] = tuple(SERIES),
    configs: Sequence[str | int] = ("diffqas", *range(1, 13)),
    seeds: Sequence[int] = (0, 1, 2),
    epochs: int = 100,
    select: str = "last",
    order: str = AUTHORS_PROTOCOL["order"],
    train_equivalent: bool = False,
    *,
    angle_init: str = AUTHORS_PROTOCOL["angle_init"],
    dtype: str = AUTHORS_PROTOCOL["dtype"],
    points: int = 0,
) -> list[QTRun]:
    """The Table II runs, DiffQAS first (seed by seed), then the fixed configurations.

    Args:
        tasks: Time series.
        configs: ``"diffqas"`` and/or candidate indices.
        seeds: Seeds.
        epochs: Epochs per run.
        select: See :class:`QTRun`.
        order: See :class:`QTRun`.
        train_equivalent: Also train configs that are the same model as a lower-numbered one
            (:func:`equivalent_configs`); by default they are left out.
        angle_init: See :class:`QTRun`.
        dtype: See :class:`QTRun`.
        points: See :class:`QTRun`.

    Returns:
        The runs, in order.
    """
    equivalent = {} if train_equivalent else equivalent_configs()
    runs = []
    for config in configs:
        if config in equivalent:
            continue
        for seed in seeds:
            for task in tasks:
                runs.append(series_run(
                    task, config, seed, epochs, select, order, angle_init=angle_init,
                    dtype=dtype, points=points,
                ))  # fmt: skip
    return runs


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


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and population standard deviation (``nan`` for no values)."""
    if not values:
        return math.nan, math.nan
    return float(np.mean(values)), float(np.std(values))
