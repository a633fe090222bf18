"""Trainable couplings through which the routing register reads the data register."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeAlias

from qiskit.circuit import ParameterExpression, QuantumCircuit

__all__ = ["coupling_circuit", "coupling_weights"]

Angle: TypeAlias = ParameterExpression | float


def coupling_weights(num_route_qubits: int, num_data_qubits: int) -> int:
    """Weights of one :func:`coupling_circuit`: one per (routing, data) qubit pair."""
    return num_route_qubits * num_data_qubits


def coupling_circuit(
    num_route_qubits: int, num_data_qubits: int, weights: Sequence[Angle]
) -> QuantumCircuit:
    """A controlled RY from every data qubit to every routing qubit.

    Routing qubit ``j`` is rotated by ``RY(weights[j * d + i])`` when data qubit ``i`` is
    ``|1>`` (``d = num_data_qubits``), so the routing register's state comes to depend on the
    data register's. Each gate is diagonal on its data qubit: the data register's Z-basis
    populations, which the experts and the class observables read, are left unchanged.

    Qubits ``0..r-1`` are the routing register, ``r..r+d-1`` the data register.

    Args:
        num_route_qubits: ``r``.
        num_data_qubits: ``d``.
        weights: ``r * d`` angles, routing-qubit-major.

    Returns:
        The coupling layer on ``r + d`` qubits (``cry`` gates only).

    Raises:
        ValueError: If the weight count is not ``r * d``.
    """
    expected = coupling_weights(num_route_qubits, num_data_qubits)
    if len(weights) != expected:
        raise ValueError(f"a coupling layer takes {expected} weights, got {len(weights)}")
    circuit = QuantumCircuit(num_route_qubits + num_data_qubits, name="couplings")
    for j in range(num_route_qubits):
        for i in range(num_data_qubits):
            circuit.cry(weights[j * num_data_qubits + i], num_route_qubits + i, j)
    return circuit
