"""Phase encoder: the input features as rotation angles, layer by layer."""

from __future__ import annotations

import math
from collections.abc import Sequence

from qiskit.circuit import ParameterExpression, QuantumCircuit

__all__ = ["encoder_circuit", "encoder_layers"]


def encoder_layers(num_features: int, num_qubits: int) -> int:
    """Number of encoder layers needed to consume every feature (one per qubit per layer)."""
    return math.ceil(num_features / num_qubits)


def encoder_circuit(
    num_qubits: int,
    features: Sequence[ParameterExpression | float],
    rotations: Sequence[str],
    entangle: bool = True,
    groups: Sequence[Sequence[int]] | None = None,
) -> QuantumCircuit:
    """Encode features as rotation angles on every qubit.

    Layer ``l`` applies gate ``rotations[l % len(rotations)]`` with angle ``features[l*n + q]`` on
    qubit ``q`` (``n = num_qubits``), until the features run out; the last layer may be partial.
    With ``entangle``, a CNOT chain ``q -> q+1`` follows every layer but the last.

    Args:
        num_qubits: Width of the encoded register.
        features: Angles (parameters or numbers), e.g. ``ParameterVector("x", 64)``.
        rotations: Gate names cycled over layers, e.g. ``("ry", "rz", "rx", "ry")``.
        entangle: Whether to insert CNOT chains between layers.
        groups: Chain within each of these qubit groups separately (e.g. the routing and the
            data register) instead of across all qubits.

    Returns:
        The encoder circuit on ``num_qubits`` qubits.
    """
    if num_qubits < 1:
        raise ValueError("num_qubits must be >= 1")
    circuit = QuantumCircuit(num_qubits, name="encoder")
    layers = encoder_layers(len(features), num_qubits)
    for layer in range(layers):
        gate = rotations[layer % len(rotations)]
        chunk = features[layer * num_qubits : (layer + 1) * num_qubits]
        for qubit, angle in enumerate(chunk):
            getattr(circuit, gate)(angle, qubit)
        if entangle and layer < layers - 1:
            for group in groups if groups is not None else [range(num_qubits)]:
                group = list(group)
                for a, b in zip(group, group[1:], strict=False):
                    circuit.cx(a, b)
    return circuit
