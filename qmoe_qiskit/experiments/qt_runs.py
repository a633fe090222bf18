"""The runs of the DiffQAS-QT studies: what one Quantum-Train run is, and the paper's grids.

A :class:`QTRun` names everything that decides a run's result (task, candidate or search,
seed, optimiser, protocol); :func:`series_run`, :func:`series_runs` and :func:`classify_run`
build the paper's settings, with the authors' time-series protocol by default
(:data:`AUTHORS_PROTOCOL`). Training them is :mod:`qmoe_qiskit.experiments.qt_study`'s job.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..circuits.diffqas import equivalent_candidates
from ..data.series import SERIES, TASKS
from ..models.classical import LSTMRegressor, count_parameters
from ..models.quantum_train import qubits_for

__all__ = [
    "AUTHORS_PROTOCOL",
    "CLASSIFY_TASKS",
    "FIRST_PROTOCOL",
    "QTRun",
    "classify_run",
    "equivalent_configs",
    "series_run",
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
