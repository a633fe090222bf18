"""The DiffQAS-QT time series against independent computations, and the time-ordered split."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import solve_ivp
from scipy.special import j0, j1

from qmoe_qiskit.data.series import (
    DRIVEN,
    SERIES,
    driven_windows,
    load_series,
    narma,
    scale_to_unit,
    windows,
)


def test_bessel_is_scaled_j2_from_the_recurrence():
    x = np.linspace(2, 100, 256)
    j2 = 2 * j1(x) / x - j0(x)  # J_{n+1} = (2n/x) J_n - J_{n-1}
    np.testing.assert_allclose(SERIES["bessel"](), scale_to_unit(j2), atol=1e-12)


def test_damped_pendulum_matches_an_independent_integrator():
    def rhs(_t, s):
        return [s[1], -0.15 * s[1] - 9.81 * np.sin(s[0])]

    t = np.linspace(0, 20, 240)
    sol = solve_ivp(rhs, (0, 20), [0.0, 3.0], t_eval=t, rtol=1e-10, atol=1e-12, method="DOP853")
    np.testing.assert_allclose(SERIES["damped-shm"](), scale_to_unit(sol.y[1]), atol=1e-5)


def test_delayed_quantum_control_formula():
    x = np.arange(-2, 20, 0.01)
    series = SERIES["delayed-qc"]()
    assert len(series) == 2200
    i = int(np.argmin(np.abs(x - 4.0)))  # the third pulse peak, exp(-4/16) high
    raw = sum(np.exp(-10 * (x[i] - 2 * n) ** 2) for n in range(11)) * np.exp(-x[i] / 16)
    lo = min(sum(np.exp(-10 * (v - 2 * n) ** 2) for n in range(11)) * np.exp(-v / 16) for v in x)
    hi = max(sum(np.exp(-10 * (v - 2 * n) ** 2) for n in range(11)) * np.exp(-v / 16) for v in x)
    assert series[i] == pytest.approx(2 * (raw - lo) / (hi - lo) - 1, abs=1e-12)


@pytest.mark.parametrize("order", [5, 10])
def test_narma_satisfies_its_recurrence(order):
    y = narma(order)
    T = 300
    t = np.arange(T)
    u = 0.1 * (
        np.sin(2 * np.pi * 2.11 * t / T) * np.sin(2 * np.pi * 3.73 * t / T)
        * np.sin(2 * np.pi * 4.11 * t / T) + 1
    )  # fmt: skip
    assert len(y) == T and np.all(y[: order - 1] == 0)
    for s in range(order - 1, T - 1):
        expected = 0.3 * y[s] + 0.05 * y[s] * sum(y[s - j] for j in range(order))
        expected += 1.5 * u[s - order + 1] * u[s] + 0.1
        assert y[s + 1] == pytest.approx(expected, rel=1e-12)


def test_windows_are_time_ordered_and_predict_the_next_value():
    series = np.arange(20.0)
    split = windows(series, window=4, train_fraction=0.5)
    assert split.x_train.shape == (8, 4) and split.x_test.shape == (8, 4)
    np.testing.assert_array_equal(split.x_train[0], [0, 1, 2, 3])
    assert split.y_train[0, 0] == 4 and split.y_test[0, 0] == split.first_test == 12
    assert split.x_train.max() < split.y_test.min()


def test_paper_split_sizes_and_unknown_task():
    assert load_series("bessel").x_train.shape == (168, 4)
    assert load_series("delayed-qc").x_test.shape == (725, 4)
    with pytest.raises(ValueError, match="unknown time series 'sine'"):
        load_series("sine")


@pytest.mark.parametrize("order", [5, 10])
def test_driven_narma_runs_the_recurrence_from_the_first_step(order):
    """``y_0 = 0.196``; ``u`` and ``y`` before ``t = 0`` are zero, written out with lists."""
    u, y = DRIVEN[f"narma{order}-input"]()
    T = 300
    expected_u = [
        0.1 * (math.sin(2 * math.pi * 2.11 * t / T) * math.sin(2 * math.pi * 3.73 * t / T)
               * math.sin(2 * math.pi * 4.11 * t / T) + 1)
        for t in range(T)
    ]  # fmt: skip
    np.testing.assert_allclose(u, expected_u, rtol=1e-12)
    ys = [0.196]
    for t in range(T - 1):
        past = sum(ys[t - j] for j in range(order) if t - j >= 0)
        lagged = expected_u[t - order + 1] if t - order + 1 >= 0 else 0.0
        ys.append(0.3 * ys[t] + 0.05 * ys[t] * past + 1.5 * lagged * expected_u[t] + 0.1)
    np.testing.assert_allclose(y, ys, rtol=1e-12)


def test_driven_windows_pair_input_windows_with_the_next_output():
    inputs, outputs = np.arange(20.0), 100 + np.arange(20.0)
    split = driven_windows(inputs, outputs, window=4, train_fraction=0.5)
    assert split.x_train.shape == (7, 4) and split.x_test.shape == (8, 4)  # 15 windows
    np.testing.assert_array_equal(split.x_train[0], [0, 1, 2, 3])
    assert split.y_train[0, 0] == 104 and split.y_test[-1, 0] == 118  # the last one dropped
    assert split.y_test[0, 0] == 100 + split.first_test == 111
    assert load_series("narma5-input").x_train.shape == (197, 4)
    with pytest.raises(ValueError, match="must match"):
        driven_windows(inputs, outputs[:-1])
