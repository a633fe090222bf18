"""The five time series of DiffQAS-QT (paper Sec. VI-B), as the authors generate them.

Each generator returns the series as a float64 array; :func:`windows` turns a series into
(window of ``k`` past values, next value) pairs and splits them in time order (the first
``train_fraction`` train, the rest test), as in the paper.

* ``bessel``: ``J_2(x)`` on ``linspace(2, 100, 256)``, min-max scaled to ``[-1, 1]``;
* ``damped-shm``: damped pendulum ``theta'' = -(b/m) theta' - g sin(theta)`` with
  ``b = 0.15, g = 9.81, m = 1``, ``(theta, theta')(0) = (0, 3)``, sampled at
  ``linspace(0, 20, 240)``; the series is ``theta'``, scaled to ``[-1, 1]``;
* ``delayed-qc``: delayed quantum control output field
  ``sum_{n=0..10} exp(-10 (x - 2n)^2) exp(-x / 16)`` on ``arange(-2, 20, 0.01)``, scaled;
* ``narma5`` / ``narma10``: NARMA of order ``n0`` with ``T = 300``,
  ``u_t = 0.1 (sin(2 pi 2.11 t/T) sin(2 pi 3.73 t/T) sin(2 pi 4.11 t/T) + 1)`` and
  ``y_{t+1} = 0.3 y_t + 0.05 y_t sum_{j<n0} y_{t-j} + 1.5 u_{t-n0+1} u_t + 0.1`` from
  ``y = 0``; the series is ``y`` (not scaled).

These tasks forecast the series from its own past (windows of ``y`` predict the next ``y``),
NARMA included: the paper shows NARMA "rollouts" of the series, and a window of four inputs
``u`` cannot determine ``y_{t+1}``, which depends on ``u_{t-n0+1}`` and on all past ``y``.

The authors' NARMA loader does it the other way (:data:`DRIVEN`):

* ``narma5-input`` / ``narma10-input``: windows of the input ``u[i : i + 4]`` predict the output
  ``y[i + 4]``, with ``y_0 = 0.196`` and zero ``u`` and ``y`` before ``t = 0`` (the recurrence
  runs from the first step), not scaled, the last window dropped as in their loader.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = [
    "DRIVEN",
    "POINTS",
    "SERIES",
    "TASKS",
    "SeriesSplit",
    "driven_windows",
    "load_series",
    "scale_to_unit",
    "windows",
]


def scale_to_unit(values: np.ndarray) -> np.ndarray:
    """Min-max scale to ``[-1, 1]``."""
    low, high = float(values.min()), float(values.max())
    return 2 * (values - low) / (high - low) - 1


def bessel(points: int = 256) -> np.ndarray:
    """Bessel ``J_2`` on ``linspace(2, 100, points)`` (the paper's 256; the authors' newer
    scripts use 1,000), scaled to ``[-1, 1]``."""
    from scipy.special import jv

    return scale_to_unit(jv(2, np.linspace(2, 100, points)))


def damped_shm(b: float = 0.15, g: float = 9.81, m: float = 1.0, points: int = 240) -> np.ndarray:
    """Angular velocity of a damped pendulum on ``linspace(0, 20, points)``, scaled."""
    from scipy.integrate import odeint

    def rhs(state: np.ndarray, _t: float) -> list[float]:
        theta, omega = state
        return [omega, -(b / m) * omega - g * np.sin(theta)]

    t = np.linspace(0, 20, points)
    return scale_to_unit(odeint(rhs, [0.0, 3.0], t)[:, 1])


def delayed_qc(points: int = 2200) -> np.ndarray:
    """Delayed quantum control output field on ``arange(-2, 20, 0.01)`` (2,200 points; another
    ``points`` spreads that many evenly over ``[-2, 20)``), scaled."""
    x = np.arange(-2, 20, 0.01) if points == 2200 else np.linspace(-2, 20, points, endpoint=False)
    y = sum(np.exp(-10 * (x - 2 * n) ** 2) for n in range(11)) * np.exp(-x / 16)
    return scale_to_unit(y)


def narma(order: int, length: int = 300) -> np.ndarray:
    """NARMA-``order`` output ``y`` driven by the deterministic three-sine input."""
    t = np.arange(length)
    u = 0.1 * (
        np.sin(2 * np.pi * 2.11 * t / length)
        * np.sin(2 * np.pi * 3.73 * t / length)
        * np.sin(2 * np.pi * 4.11 * t / length)
        + 1
    )
    y = np.zeros(length)
    for step in range(order - 1, length - 1):
        history = y[step - order + 1 : step + 1].sum()
        y[step + 1] = 0.3 * y[step] + 0.05 * y[step] * history
        y[step + 1] += 1.5 * u[step - order + 1] * u[step] + 0.1
    return y


def narma_driven(order: int, length: int = 300, y0: float = 0.196) -> tuple[np.ndarray, np.ndarray]:
    """NARMA-``order`` as the authors' loader builds it: ``(u, y)``, each ``length`` long.

    ``y_0 = y0``; ``u_t`` and ``y_t`` are zero for ``t < 0``, so the recurrence runs from the
    first step.
    """
    t = np.arange(length)
    u = 0.1 * (
        np.sin(2 * np.pi * 2.11 * t / length)
        * np.sin(2 * np.pi * 3.73 * t / length)
        * np.sin(2 * np.pi * 4.11 * t / length)
        + 1
    )
    y = np.zeros(length + 1)
    y[0] = y0
    for step in range(length):
        history = y[max(0, step - order + 1) : step + 1].sum()
        lagged = u[step - order + 1] if step - order + 1 >= 0 else 0.0
        y[step + 1] = 0.3 * y[step] + 0.05 * y[step] * history + 1.5 * lagged * u[step] + 0.1
    return u, y[:length]


#: Task name -> generator of a series forecast from its own past (argument: its number of
#: points, default the paper's).
SERIES: dict[str, Callable[..., np.ndarray]] = {
    "bessel": bessel,
    "damped-shm": lambda points=240: damped_shm(points=points),
    "delayed-qc": delayed_qc,
    "narma5": lambda points=300: narma(5, points),
    "narma10": lambda points=300: narma(10, points),
}

#: Task name -> generator of ``(inputs, outputs)`` of a given length: windows of inputs predict
#: the output.
DRIVEN: dict[str, Callable[..., tuple[np.ndarray, np.ndarray]]] = {
    "narma5-input": lambda points=300: narma_driven(5, points),
    "narma10-input": lambda points=300: narma_driven(10, points),
}

#: Every task's number of points in the paper's protocol.
POINTS: dict[str, int] = {
    "bessel": 256,
    "damped-shm": 240,
    "delayed-qc": 2200,
    "narma5": 300,
    "narma10": 300,
    "narma5-input": 300,
    "narma10-input": 300,
}

#: Every time-series task.
TASKS: tuple[str, ...] = (*SERIES, *DRIVEN)


@dataclass(frozen=True)
class SeriesSplit:
    """Windows of a series split in time order.

    Attributes:
        name: Task name.
        series: The whole series.
        x_train: ``(rows, window)`` past values; ``y_train`` ``(rows, 1)`` the next value.
        x_test: Test windows (after every training window in time).
        y_test: Their next values.
        first_test: Index in ``series`` of the first test target.
    """

    name: str
    series: np.ndarray
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    first_test: int


def windows(
    series: np.ndarray, window: int = 4, train_fraction: float = 0.67, name: str = ""
) -> SeriesSplit:
    """Sliding windows ``series[i : i + window] -> series[i + window]``, split in time order.

    Args:
        series: The values.
        window: Past values per input.
        train_fraction: Share of windows (the earliest) used for training.
        name: Task name to record.
    """
    series = np.asarray(series, dtype=np.float64)
    if window < 1 or len(series) <= window + 1:
        raise ValueError(f"a series of {len(series)} values has no windows of {window}")
    rows = len(series) - window
    x = np.stack([series[i : i + window] for i in range(rows)])
    y = series[window:, None]
    cut = int(train_fraction * rows)
    return SeriesSplit(name, series, x[:cut], y[:cut], x[cut:], y[cut:], cut + window)


def driven_windows(
    inputs: np.ndarray,
    outputs: np.ndarray,
    window: int = 4,
    train_fraction: float = 0.67,
    name: str = "",
) -> SeriesSplit:
    """Windows ``inputs[i : i + window] -> outputs[i + window]`` for
    ``i < len - window - 1`` (the authors' loader drops the last one), split in time order.
    The split's ``series`` is ``outputs``.
    """
    inputs = np.asarray(inputs, dtype=np.float64)
    outputs = np.asarray(outputs, dtype=np.float64)
    if inputs.shape != outputs.shape or inputs.ndim != 1:
        raise ValueError(f"inputs {inputs.shape} and outputs {outputs.shape} must match (1-D)")
    rows = len(inputs) - window - 1
    if window < 1 or rows < 2:
        raise ValueError(f"a series of {len(inputs)} values has no windows of {window}")
    x = np.stack([inputs[i : i + window] for i in range(rows)])
    y = outputs[window : window + rows, None]
    cut = int(train_fraction * rows)
    return SeriesSplit(name, outputs, x[:cut], y[:cut], x[cut:], y[cut:], cut + window)


def load_series(
    name: str, window: int = 4, train_fraction: float = 0.67, points: int | None = None
) -> SeriesSplit:
    """A task's windows (see :data:`SERIES`).

    Args:
        name: Task.
        window: Past values per input.
        train_fraction: Share of windows (the earliest) used for training.
        points: Length of the generated series (default: the paper's, :data:`POINTS`).

    Raises:
        ValueError: For an unknown task or fewer than ``window + 2`` points.
    """
    if name not in SERIES and name not in DRIVEN:
        raise ValueError(f"unknown time series {name!r}; choose from {', '.join(TASKS)}")
    points = POINTS[name] if points is None else points
    if points < window + 3:
        raise ValueError(f"a series needs at least {window + 3} points, got {points}")
    if name in DRIVEN:
        return driven_windows(*DRIVEN[name](points), window, train_fraction, name)
    return windows(SERIES[name](points), window, train_fraction, name)
