"""Trainable data re-uploading: input angles ``w * x + b`` with trained ``w`` and ``b``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeAlias

from qiskit.circuit import ParameterExpression, QuantumCircuit

__all__ = ["reupload_weights", "trainable_reupload_circuit"]

Angle: TypeAlias = ParameterExpression | float


def reupload_weights(num_features: int) -> int:
    """Weights of one :func:`trainable_reupload_circuit`: a scale and an offset per feature."""
    return 2 * num_features


def trainable_reupload_circuit(
    num_qubits: int,
    inputs: Sequence[Angle],
    scales: Sequence[Angle],
    offsets: Sequence[Angle],
    rotations: Sequence[str],
) -> QuantumCircuit:
    """The inputs again, each through a trained affine map: one re-uploading layer.

    Feature ``i`` drives gate ``rotations[(i // n) % len(rotations)]`` on qubit ``i % n``
    (``n = num_qubits``) with angle ``w_i * x_i + b_i`` (``w = scales``, ``b = offsets``).
    No entangling gates: the consecutive rotations on a qubit make
    one trainable, input-dependent single-qubit unitary (a data re-uploading classifier's
    layer, Perez-Salinas et al., Quantum 4, 226 (2020)).

    Args:
        num_qubits: Register width.
        inputs: The features ``x`` (parameters or numbers).
        scales: ``len(inputs)`` trainable scales ``w``.
        offsets: ``len(inputs)`` trainable offsets ``b``.
        rotations: Gate names cycled over the passes through the register.

    Returns:
        The layer on ``num_qubits`` qubits (gates from ``rotations`` only).

    Raises:
        ValueError: If there is not one scale and one offset per input, or no qubit.
    """
    if num_qubits < 1:
        raise ValueError("num_qubits must be >= 1")
    if not len(scales) == len(offsets) == len(inputs):
        raise ValueError(
            f"a trainable re-upload of {len(inputs)} features takes {len(inputs)} scales and "
            f"{len(inputs)} offsets, got {len(scales)} and {len(offsets)}"
        )
    circuit = QuantumCircuit(num_qubits, name="reupload")
    for i, (x, w, b) in enumerate(zip(inputs, scales, offsets, strict=True)):
        gate = rotations[(i // num_qubits) % len(rotations)]
        getattr(circuit, gate)(w * x + b, i % num_qubits)
    return circuit
