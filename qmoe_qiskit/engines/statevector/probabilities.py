"""Basis-state probabilities of a weight-only circuit (no inputs), for generators.

Quantum-Train generators (:mod:`qmoe_qiskit.models.quantum_train`) read all ``2**n``
computational-basis probabilities of a circuit that starts from ``|0...0>`` and has trainable
angles only. :class:`TorchProbabilities` runs such a circuit through the same lowering, fusion
and batched block application as :class:`~.network.TorchStatevectorNetwork`, and takes its
weights as an argument, so several circuits can share one weight tensor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import cast

import numpy as np
import torch
from qiskit.circuit import Parameter, QuantumCircuit
from qiskit.quantum_info import SparsePauliOp
from torch import nn

from ...errors import EngineError
from ...models import CompiledModel
from .network import TorchStatevectorNetwork

__all__ = ["TorchProbabilities"]


@dataclass(frozen=True)
class _WeightOnlyCircuit:
    """What :class:`TorchStatevectorNetwork` reads from a model, for a bare circuit."""

    decomposed: QuantumCircuit
    weight_params: tuple[Parameter, ...]
    input_params: tuple[Parameter, ...] = ()
    observables: tuple[SparsePauliOp, ...] = field(default=())

    @property
    def num_qubits(self) -> int:
        return self.decomposed.num_qubits

    @property
    def num_weights(self) -> int:
        return len(self.weight_params)

    def initial_weights(self, seed: int) -> np.ndarray:
        return np.zeros(self.num_weights)


class TorchProbabilities(nn.Module):
    """All ``2**n`` basis probabilities of a circuit with weights and no inputs.

    Args:
        circuit: A circuit of ``rx, ry, rz, h, x, cx, cz`` gates whose angles are affine in
            ``weight_params`` (e.g. :func:`~qmoe_qiskit.circuits.diffqas.candidate_circuit`).
        weight_params: The weight parameters, in the order of the weight vector.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"``.
        dtype: ``torch.complex128`` or ``torch.complex64``.

    The module has no parameters of its own: ``forward(weights)`` maps a ``(num_weights,)``
    tensor to the probabilities ``(2**n,)``, index in Qiskit order (qubit ``q`` is bit ``q``),
    differentiable in ``weights``.
    """

    def __init__(
        self,
        circuit: QuantumCircuit,
        weight_params: Sequence[Parameter],
        *,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.complex128,
    ) -> None:
        super().__init__()
        program = _WeightOnlyCircuit(circuit, tuple(weight_params))
        self.num_qubits = circuit.num_qubits
        self.num_weights = program.num_weights
        # Duck-typed: the network reads only what _WeightOnlyCircuit has.
        network_model = cast(CompiledModel, program)
        self.network = TorchStatevectorNetwork(network_model, device=device, dtype=dtype)
        self.network.weight.requires_grad_(False)

    def forward(self, weights: torch.Tensor) -> torch.Tensor:
        """Probabilities ``(2**n,)`` for the weight vector ``weights``."""
        if weights.shape != (self.num_weights,):
            raise EngineError(
                f"expected {self.num_weights} weights, got shape {tuple(weights.shape)}"
            )
        empty = torch.zeros(1, 0, dtype=torch.float64, device=self.network.device)
        return self.network.probabilities(empty, weights)[0]
