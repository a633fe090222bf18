"""The batched layered engine and the Aer reference against Statevector of each circuit."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from qiskit.quantum_info import Statevector

from qmoe_qiskit.circuits import diffqas_entangler
from qmoe_qiskit.engines.aer.probabilities import AerLayeredProbabilities
from qmoe_qiskit.engines.statevector.layered import (
    TorchLayeredProbabilities,
    entangler_permutation,
)
from qmoe_qiskit.models.diffqas import DiffQASSpace


@pytest.mark.parametrize("kind", ["ent", "cyc"])
@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_entangler_permutation_matches_statevector(kind, n):
    rng = np.random.default_rng(n)
    psi = rng.normal(size=2**n) + 1j * rng.normal(size=2**n)
    psi /= np.linalg.norm(psi)
    expected = Statevector(psi).evolve(diffqas_entangler(n, kind)).data
    np.testing.assert_allclose(psi[entangler_permutation(n, kind)], expected, atol=1e-14)


@pytest.mark.parametrize(
    ("space", "group"),
    [
        (DiffQASSpace(1, 3), None),
        (DiffQASSpace(2, 2), None),
        (DiffQASSpace(5, 3), 2),
        (DiffQASSpace(7, 2), None),
        (DiffQASSpace(3, 2, (1, 5, 8, 12), layers=2), None),
    ],
)
def test_every_architecture_matches_statevector(space, group):
    archs = space.architectures()
    module = TorchLayeredProbabilities(space, archs, group=group)
    theta = np.random.default_rng(0).uniform(-np.pi, np.pi, space.num_theta)
    out = module(torch.as_tensor(theta)).numpy()
    for i, arch in enumerate(archs):
        expected = Statevector(space.circuit(arch, list(theta))).probabilities()
        np.testing.assert_allclose(out[i], expected, atol=1e-12, err_msg=str(arch))


def test_aer_probabilities_and_shift_gradients_match_torch():
    space = DiffQASSpace(3, 2)
    archs = [(2,), (5,), (7,), (11,)]
    aer = AerLayeredProbabilities(space, archs, device="cpu")
    torch_module = TorchLayeredProbabilities(space, archs)
    theta = torch.tensor(np.random.default_rng(1).uniform(0, 6, 6), requires_grad=True)
    weights = torch.randn(4, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    p_aer, p_torch = aer(theta), torch_module(theta)
    np.testing.assert_allclose(p_aer.detach().numpy(), p_torch.detach().numpy(), atol=1e-12)
    (g_aer,) = torch.autograd.grad((p_aer * weights).sum(), theta)
    (g_torch,) = torch.autograd.grad((p_torch * weights).sum(), theta)
    np.testing.assert_allclose(g_aer.numpy(), g_torch.numpy(), atol=1e-10)


def test_wrong_angle_count_is_refused():
    module = TorchLayeredProbabilities(DiffQASSpace(2, 2), [(2,)])
    with pytest.raises(ValueError, match="expected 4 angles"):
        module(torch.zeros(3, dtype=torch.float64))
