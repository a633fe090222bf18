"""Uniformly-controlled (multiplexed) single-axis rotations with symbolic angles."""

from __future__ import annotations

from collections.abc import Sequence

from qiskit.circuit import ParameterExpression, QuantumCircuit

__all__ = ["multiplexed_rotation_circuit"]


def _gray(i: int) -> int:
    return i ^ (i >> 1)


def multiplexed_rotation_circuit(
    axis: str, angles: Sequence[ParameterExpression | float], num_controls: int
) -> QuantumCircuit:
    """Apply ``R_axis(angles[k])`` to the target when the controls hold basis state ``|k>``.

    The decomposition uses ``2**num_controls`` rotations and as many CNOTs (CZs for ``rx``),
    stepping through the controls in Gray-code order: with ``N = 2**r`` and
    ``g(i)`` the Gray code of ``i``, rotation ``i`` has angle
    ``phi_i = (1/N) sum_k (-1)^{popcount(k & g(i))} angles[k]``, a linear map that keeps
    parameters symbolic.

    Qubits ``0..r-1`` are the controls (qubit ``j`` holds bit ``j`` of ``k``); qubit ``r`` is
    the target.

    Args:
        axis: ``"rx"``, ``"ry"`` or ``"rz"``.
        angles: One angle per control state (``2**num_controls`` of them).
        num_controls: Number of control qubits ``r >= 1``.

    Returns:
        The circuit on ``num_controls + 1`` qubits.
    """
    if axis not in ("rx", "ry", "rz"):
        raise ValueError(f"unknown rotation axis {axis!r}")
    size = 2**num_controls
    if num_controls < 1 or len(angles) != size:
        raise ValueError(f"need num_controls >= 1 and {size} angles, got {len(angles)}")
    circuit = QuantumCircuit(num_controls + 1, name=f"uc{axis}")
    target = num_controls
    for i in range(size):
        gray = _gray(i)
        phi: ParameterExpression | float = 0
        for k, angle in enumerate(angles):
            sign = -1 if bin(k & gray).count("1") % 2 else 1
            phi = phi + sign * angle
        getattr(circuit, axis)(phi / size, target)
        control = (_gray(i) ^ _gray((i + 1) % size)).bit_length() - 1
        if axis == "rx":
            circuit.cz(control, target)
        else:
            circuit.cx(control, target)
    return circuit
