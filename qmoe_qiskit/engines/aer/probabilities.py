"""Exact basis probabilities of DiffQAS architectures on Aer, with parameter-shift gradients.

The reference for :class:`~qmoe_qiskit.engines.statevector.layered.TorchLayeredProbabilities`.
Each architecture's Qiskit circuit (:meth:`~qmoe_qiskit.models.diffqas.DiffQASSpace.circuit`)
ends in ``save_probabilities`` and runs on ``AerSimulator(method="statevector")``: exact
probabilities, no shots. (``SamplerQNN`` is not used: V2 samplers return counts only, so its
probabilities are estimates.) Every angle drives exactly one ``exp(-i t P / 2)`` rotation of an
architecture, so the shift rule is exact:
``dP/dt_k = (P(t + pi/2 e_k) - P(t - pi/2 e_k)) / 2``; all ``2 K`` shifted angle vectors of a
circuit go to Aer as one batch of parameter bindings.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from qiskit.circuit import ParameterVector
from qiskit_aer import AerSimulator
from torch import nn

from ...errors import EngineError
from ...models.diffqas import DiffQASSpace
from ..devices import resolve_aer_device

__all__ = ["AerLayeredProbabilities"]


class _Probabilities(torch.autograd.Function):
    @staticmethod
    def forward(ctx, theta: torch.Tensor, module: AerLayeredProbabilities) -> torch.Tensor:
        values = theta.detach().cpu().numpy().astype(np.float64)
        ctx.module = module
        ctx.values = values
        return torch.as_tensor(module.run(values[None]), dtype=torch.float64)[:, 0]

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        values, count = ctx.values, len(ctx.values)
        shifts = np.concatenate([np.eye(count), -np.eye(count)]) * (np.pi / 2)
        shifted = ctx.module.run(values[None] + shifts)  # (A, 2K, 2**n)
        derivative = 0.5 * (shifted[:, :count] - shifted[:, count:])  # (A, K, 2**n)
        g = grad.detach().cpu().numpy()
        return torch.as_tensor(np.einsum("ai,aki->k", g, derivative)), None


class AerLayeredProbabilities(nn.Module):
    """Basis probabilities of several architectures of one DiffQAS space, on Aer (exact).

    Args:
        space: The search space.
        architectures: The architectures to run.
        device: Aer device (``"auto"``, ``"cpu"``, ``"gpu"``).

    ``forward(theta)`` maps the shared angles ``(space.num_theta,)`` to probabilities
    ``(len(architectures), 2**n)`` in Qiskit index order; gradients by the parameter-shift rule.
    """

    def __init__(
        self,
        space: DiffQASSpace,
        architectures: Sequence[Sequence[int]],
        *,
        device: str = "auto",
    ) -> None:
        super().__init__()
        self.space = space
        self.architectures = [tuple(a) for a in architectures]
        self.params = ParameterVector("theta", space.num_theta)
        self.circuits = []
        for arch in self.architectures:
            circuit = space.circuit(arch, self.params)
            circuit.save_probabilities()
            self.circuits.append(circuit)
        self.simulator = AerSimulator(method="statevector", device=resolve_aer_device(device))

    def run(self, values: np.ndarray) -> np.ndarray:
        """Probabilities ``(architectures, rows, 2**n)`` for angle rows ``(rows, num_theta)``."""
        binds = []
        for circuit in self.circuits:
            used = set(circuit.parameters)
            binds.append({p: values[:, i].tolist() for i, p in enumerate(self.params) if p in used})
        result = self.simulator.run(self.circuits, parameter_binds=binds).result()
        rows, dim = len(values), 2**self.space.num_qubits
        out = np.empty((len(self.circuits), rows, dim))
        for e in range(len(self.circuits) * rows):
            out[e // rows, e % rows] = result.data(e)["probabilities"]
        return out

    def forward(self, theta: torch.Tensor) -> torch.Tensor:
        """Probabilities ``(architectures, 2**n)`` for the shared angles ``theta``."""
        if theta.shape != (self.space.num_theta,):
            raise EngineError(
                f"expected {self.space.num_theta} angles, got shape {tuple(theta.shape)}"
            )
        return _Probabilities.apply(theta, self)
