"""A circuit for people to look at: the stages composed, each opened by a labelled barrier."""

from __future__ import annotations

from collections.abc import Mapping

from qiskit.circuit import QuantumCircuit

__all__ = ["staged_circuit"]


def staged_circuit(stages: Mapping[str, QuantumCircuit], name: str = "model") -> QuantumCircuit:
    """Compose ``stages`` in order, each after a barrier labelled with its name.

    Empty stages are skipped. The result is for drawing only: the barriers change nothing in
    the state but keep the stages apart in the picture.

    Args:
        stages: Stage name -> circuit, all on the same qubits (e.g. ``CompiledModel.stages``).
        name: Circuit name.

    Returns:
        The composed circuit.

    Raises:
        ValueError: If ``stages`` is empty.
    """
    parts = list(stages.items())
    if not parts:
        raise ValueError("no stages to draw")
    first = parts[0][1]
    out = QuantumCircuit(*first.qregs, name=name)
    for stage, circuit in parts:
        if not circuit.data:
            continue
        out.barrier(label=stage)
        out.compose(circuit, inplace=True)
    return out
