"""Trainable ansatz blocks: expert PQCs, the routing ansatz and fixed entanglers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeAlias

from qiskit.circuit import ParameterExpression, QuantumCircuit

from .diffqas import diffqas_entangler

__all__ = [
    "entangler_circuit",
    "expert_circuit",
    "layer_reupload",
    "routing_circuit",
    "weights_per_layer",
]

Angle: TypeAlias = ParameterExpression | float
#: Data re-uploading before ansatz layers: one circuit before every layer, or one (or ``None``)
#: per layer.
Reupload: TypeAlias = QuantumCircuit | Sequence[QuantumCircuit | None] | None


def layer_reupload(reupload: Reupload, layer: int) -> QuantumCircuit | None:
    """The re-uploading circuit that comes before layer ``layer`` (``None``: none)."""
    if reupload is None or isinstance(reupload, QuantumCircuit):
        return reupload
    return reupload[layer] if layer < len(reupload) else None


def weights_per_layer(num_qubits: int, operators: Sequence[str]) -> int:
    """Weights one layer of :func:`expert_circuit` or :func:`routing_circuit` takes."""
    return num_qubits * len(operators)


def entangler_circuit(num_qubits: int, entangler: str) -> QuantumCircuit:
    """A fixed CNOT layer.

    Args:
        num_qubits: Register width.
        entangler: ``"cnot-chain"`` (``q -> q+1``), ``"cnot-ring"`` (the chain plus
            ``n-1 -> 0`` when ``n >= 3``), or a DiffQAS-QT entangler ``"diffqas-ent"`` /
            ``"diffqas-cyc"`` (:func:`~qmoe_qiskit.circuits.diffqas.diffqas_entangler`).

    Returns:
        The entangler circuit (empty for one qubit).
    """
    if entangler in ("diffqas-ent", "diffqas-cyc"):
        circuit = diffqas_entangler(num_qubits, entangler.removeprefix("diffqas-"))
        circuit.name = entangler
        return circuit
    if entangler not in ("cnot-chain", "cnot-ring"):
        raise ValueError(f"unknown entangler {entangler!r}")
    circuit = QuantumCircuit(num_qubits, name=entangler)
    for qubit in range(num_qubits - 1):
        circuit.cx(qubit, qubit + 1)
    if entangler == "cnot-ring" and num_qubits >= 3:
        circuit.cx(num_qubits - 1, 0)
    return circuit


def _rotation_layers(
    num_qubits: int,
    weights: Sequence[Angle],
    operators: Sequence[str],
    layers: int,
    entangler: QuantumCircuit | None,
    name: str,
    reupload: Reupload = None,
    extra_rotations: int = 0,
) -> QuantumCircuit:
    per_layer = weights_per_layer(num_qubits, operators)
    if len(weights) != per_layer * layers + extra_rotations:
        extra = f" + {extra_rotations} extra rotations" if extra_rotations else ""
        raise ValueError(
            f"{name} takes {per_layer * layers + extra_rotations} weights "
            f"({layers} layers x {num_qubits} qubits x {len(operators)} operators{extra}), "
            f"got {len(weights)}"
        )
    circuit = QuantumCircuit(num_qubits, name=name)
    index = 0
    for layer in range(layers + (1 if extra_rotations else 0)):
        before = layer_reupload(reupload, layer) if layer < layers else None
        if before is not None:
            circuit.compose(before, inplace=True)
        for qubit in range(num_qubits):
            for gate in operators:
                if index == len(weights):
                    break
                getattr(circuit, gate)(weights[index], qubit)
                index += 1
        if entangler is not None and layer < layers:
            circuit.compose(entangler, inplace=True)
    return circuit


def expert_circuit(
    num_qubits: int,
    weights: Sequence[Angle],
    operators: Sequence[str],
    layers: int,
    entangler: str = "cnot-ring",
    name: str = "expert",
    reupload: Reupload = None,
    extra_rotations: int = 0,
) -> QuantumCircuit:
    """One expert PQC.

    Weight order is layer-major, then qubit, then operator: weight
    ``(layer * num_qubits + qubit) * len(operators) + o`` drives gate ``operators[o]`` on
    ``qubit`` in ``layer``. Each layer ends with the fixed entangler.

    Args:
        num_qubits: Width of the data register.
        weights: ``layers * num_qubits * len(operators)`` angles.
        operators: Gate names per qubit and layer, e.g. ``("rx", "ry")``.
        layers: Number of layers.
        entangler: See :func:`entangler_circuit`.
        name: Circuit name.
        reupload: An input-driven circuit applied before every layer, or one per layer (data
            re-uploading).
        extra_rotations: After the last layer, the first ``extra_rotations`` (qubit,
            operator) rotations of one more layer (no entangler), weights last.

    Returns:
        The expert circuit on ``num_qubits`` qubits.
    """
    return _rotation_layers(
        num_qubits,
        weights,
        operators,
        layers,
        entangler_circuit(num_qubits, entangler),
        name,
        reupload,
        extra_rotations,
    )


def routing_circuit(
    num_qubits: int,
    weights: Sequence[Angle],
    operators: Sequence[str],
    layers: int,
    reupload: Reupload = None,
    entangler: str = "cnot-chain",
    hadamard: bool = False,
) -> QuantumCircuit:
    """The trainable routing ansatz: rotation layers, each followed by a CNOT chain.

    Weight order is as in :func:`expert_circuit`.

    Args:
        num_qubits: Width of the routing register.
        weights: ``layers * num_qubits * len(operators)`` angles.
        operators: Gate names per qubit and layer.
        layers: Number of layers.
        reupload: An input-driven circuit on the routing register applied before every
            layer, or one per layer, so the router sees its own encoding of the input (data
            re-uploading).
        entangler: The CNOT layer after each rotation layer (see :func:`entangler_circuit`).
        hadamard: A Hadamard on every routing qubit first (a DiffQAS-QT candidate's first
            axis).

    Returns:
        The routing circuit on ``num_qubits`` qubits.
    """
    layer = entangler_circuit(num_qubits, entangler) if num_qubits > 1 else None
    body = _rotation_layers(num_qubits, weights, operators, layers, layer, "routing", reupload)
    if not hadamard:
        return body
    circuit = QuantumCircuit(num_qubits, name="routing")
    circuit.h(range(num_qubits))
    return circuit.compose(body)
