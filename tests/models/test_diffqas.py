"""DiffQAS search: the mixture against separately simulated candidates, gradients against
finite differences, the space's validation and the constant-architecture report."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from qiskit.quantum_info import Statevector

from qmoe_qiskit.engines import probability_factory
from qmoe_qiskit.models.diffqas import MAX_ARCHITECTURES, DiffQASMixture, DiffQASSpace


def _statevector_mixture(mixture: DiffQASMixture) -> np.ndarray:
    """sum_arch prod_m softmax(logits[m])[j_m] * |<i|arch(theta)|0>|^2, from Qiskit only."""
    space = mixture.space
    theta = mixture.theta.detach().numpy()
    logits = mixture.logits.detach().numpy()
    w = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    total = np.zeros(2**space.num_qubits)
    for arch in space.architectures():
        weight = np.prod([w[m, space.candidates.index(j)] for m, j in enumerate(arch)])
        total += weight * Statevector(space.circuit(arch, list(theta))).probabilities()
    return total


@pytest.mark.parametrize(
    ("space", "engine"),
    [
        (DiffQASSpace(3, 2), "torch"),
        (DiffQASSpace(4, 1), "torch"),
        (DiffQASSpace(3, 2, (2, 5, 7, 9), layers=2), "torch"),
        (DiffQASSpace(2, 2), "aer"),
    ],
)
def test_mixture_is_weighted_sum_of_candidates(space, engine):
    mixture = DiffQASMixture(space, probability_factory(engine, "cpu"), seed=3)
    with torch.no_grad():
        mixture.logits.copy_(
            torch.randn(
                mixture.logits.shape,
                generator=torch.Generator().manual_seed(1),
                dtype=torch.float64,
            )
        )
    out = mixture().detach().numpy()
    np.testing.assert_allclose(out, _statevector_mixture(mixture), atol=1e-12)
    assert out.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("engine", ["torch", "aer"])
def test_gradients_match_finite_differences(engine):
    space = DiffQASSpace(3, 2, (1, 2, 5, 7, 9, 11))
    mixture = DiffQASMixture(space, probability_factory(engine, "cpu"), seed=0)
    with torch.no_grad():
        mixture.logits.copy_(torch.linspace(-1, 1, 6, dtype=torch.float64)[None])
    target = torch.linspace(0, 1, 8, dtype=torch.float64)

    def loss() -> torch.Tensor:
        return ((mixture() - target) ** 2).sum()

    loss().backward()
    for param in (mixture.theta, mixture.logits):
        analytic = param.grad.clone().reshape(-1)
        numeric = torch.zeros_like(analytic)
        flat = param.data.reshape(-1)
        for k in range(flat.numel()):
            step = 1e-6
            with torch.no_grad():
                flat[k] += step
                up = loss().item()
                flat[k] -= 2 * step
                down = loss().item()
                flat[k] += step
            numeric[k] = (up - down) / (2 * step)
        np.testing.assert_allclose(analytic.numpy(), numeric.numpy(), atol=1e-7)


def test_constant_architectures_are_reported_and_do_not_depend_on_theta():
    mixture = DiffQASMixture(DiffQASSpace(4, 3), probability_factory("torch", "cpu"))
    assert mixture.constant_architectures == ((1,), (3,), (4,), (6,), (9,), (12,))
    # With the weight on constant candidates only, the output cannot move with theta.
    with torch.no_grad():
        mixture.logits.fill_(-50.0)
        mixture.logits[0, [0, 8]] = 0.0  # candidates 1 (uniform) and 9 (|0...0>)
    before = mixture().detach()
    with torch.no_grad():
        mixture.theta.add_(1.234)
    after = mixture().detach()
    np.testing.assert_allclose(before.numpy(), after.numpy(), atol=1e-15)
    expected = np.full(16, 0.5 / 16)
    expected[0] += 0.5
    np.testing.assert_allclose(after.numpy(), expected, atol=1e-12)


def test_fixed_architecture_has_no_structural_weights_and_derived_is_argmax():
    fixed = DiffQASSpace(3, 2, (5,))
    assert not fixed.searching and fixed.num_structural == 0 and fixed.num_weights == 6
    mixture = DiffQASMixture(DiffQASSpace(3, 1, layers=2), probability_factory("torch", "cpu"))
    with torch.no_grad():
        mixture.logits[0, 4] = 3.0  # candidate 5 in layer 1
        mixture.logits[1, 10] = 2.0  # candidate 11 in layer 2
    assert mixture.derived() == (5, 11)
    assert mixture.architecture_weights().sum().item() == pytest.approx(1.0)
    assert DiffQASSpace(17, 15).num_weights == 255 + 12


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_qubits": 0, "depth": 1}, "num_qubits"),
        ({"num_qubits": 2, "depth": 0}, "depth"),
        ({"num_qubits": 2, "depth": 1, "candidates": (0, 2)}, "1..12"),
        ({"num_qubits": 2, "depth": 1, "candidates": (2, 2)}, "repeat"),
        ({"num_qubits": 2, "depth": 1, "candidates": ()}, "at least one"),
        ({"num_qubits": 2, "depth": 1, "layers": 3}, str(MAX_ARCHITECTURES)),
    ],
)
def test_space_rejects_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DiffQASSpace(**kwargs)
