"""The hybrid QMoE's quantum router: RY angle embedding, then layers of RY rotations and CZs."""

from __future__ import annotations

from collections.abc import Sequence

from qiskit.circuit import ParameterExpression, QuantumCircuit

__all__ = ["quantum_router_circuit", "router_weights"]


def router_weights(num_qubits: int, layers: int) -> int:
    """Trainable angles of :func:`quantum_router_circuit`: ``layers x num_qubits``."""
    return layers * num_qubits


def quantum_router_circuit(
    num_qubits: int,
    layers: int,
    inputs: Sequence[ParameterExpression | float],
    weights: Sequence[ParameterExpression | float],
    *,
    embedding: bool = True,
) -> QuantumCircuit:
    """The paper's router: RY angle embedding, then ``layers`` x [RY on every qubit, CZ chain].

    Args:
        num_qubits: ``n``, one qubit per input feature.
        layers: ``L``.
        inputs: ``n`` input angles (parameters or numbers); ``RY(x_i)`` on qubit ``i`` gives
            ``cos(x_i/2)|0> + sin(x_i/2)|1>``. Unused without ``embedding``.
        weights: ``L x n`` angles, layer-major: ``weights[l * n + i]`` is layer ``l``, qubit ``i``.
        embedding: Include the embedding (``False`` gives the trainable unitary ``U(theta)``).

    Returns:
        A plain circuit on ``n`` qubits (gates ``ry`` and ``cz`` only).

    Raises:
        ValueError: If the weight count is not ``layers * num_qubits``.
    """
    expected = router_weights(num_qubits, layers)
    if len(weights) != expected:
        raise ValueError(f"expected {expected} weights, got {len(weights)}")
    circuit = QuantumCircuit(num_qubits, name="quantum_router")
    if embedding:
        for qubit in range(num_qubits):
            circuit.ry(inputs[qubit], qubit)
    for layer in range(layers):
        for qubit in range(num_qubits):
            circuit.ry(weights[layer * num_qubits + qubit], qubit)
        for qubit in range(num_qubits - 1):
            circuit.cz(qubit, qubit + 1)
    return circuit
