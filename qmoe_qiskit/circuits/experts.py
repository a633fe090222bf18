"""The expert stage: every expert applied conditionally on the routing register."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeAlias

from qiskit.circuit import ClassicalRegister, ParameterExpression, QuantumCircuit, QuantumRegister

from .ansatz import Reupload, entangler_circuit, expert_circuit, layer_reupload, weights_per_layer
from .multiplexer import multiplexed_rotation_circuit

__all__ = [
    "ROUTE_BITS",
    "controlled_experts_circuit",
    "measured_experts_circuit",
    "multiplexed_experts_circuit",
]

#: Name of the classical register that holds the measured routing register.
ROUTE_BITS = "route_bits"

Angle: TypeAlias = ParameterExpression | float


def controlled_experts_circuit(
    num_route_qubits: int,
    num_data_qubits: int,
    expert_weights: Sequence[Sequence[Angle]],
    operators: Sequence[str],
    layers: int,
    entangler: str,
    encoding: str = "binary",
    reupload: Reupload = None,
) -> QuantumCircuit:
    """Each expert as a controlled gate on its routing state.

    With ``"binary"`` encoding expert ``k`` acts when the routing register holds ``|k>``
    (routing qubit ``j`` = bit ``j`` of ``k``); unused routing states apply no expert.
    With ``"onehot"`` encoding expert ``k`` is controlled by routing qubit ``k`` alone.

    Qubits ``0..r-1`` are the routing register, ``r..r+d-1`` the data register.

    Args:
        num_route_qubits: Routing register width ``r``.
        num_data_qubits: Data register width ``d``.
        expert_weights: One weight sequence per expert (see :func:`expert_circuit`).
        operators: Rotation gate names.
        layers: Expert layers.
        entangler: Expert entangler.
        encoding: ``"binary"`` or ``"onehot"``.
        reupload: A fixed input-driven circuit on the data register applied before every
            expert layer, inside each (controlled) expert.

    Returns:
        The expert stage on ``r + d`` qubits.
    """
    route = list(range(num_route_qubits))
    data = list(range(num_route_qubits, num_route_qubits + num_data_qubits))
    circuit = QuantumCircuit(num_route_qubits + num_data_qubits, name="experts")
    for k, weights in enumerate(expert_weights):
        block = expert_circuit(
            num_data_qubits,
            weights,
            operators,
            layers,
            entangler,
            name=f"expert{k}",
            reupload=reupload,
        ).to_gate()
        if encoding == "binary":
            if k >= 2**num_route_qubits:
                raise ValueError(f"expert {k} has no state in a {num_route_qubits}-qubit register")
            circuit.append(block.control(num_route_qubits, ctrl_state=k), route + data)
        elif encoding == "onehot":
            circuit.append(block.control(1), [route[k]] + data)
        else:
            raise ValueError(f"unknown routing encoding {encoding!r}")
    return circuit


def measured_experts_circuit(
    num_route_qubits: int,
    num_data_qubits: int,
    expert_weights: Sequence[Sequence[Angle]],
    operators: Sequence[str],
    layers: int,
    entangler: str,
    encoding: str = "binary",
    reupload: Reupload = None,
) -> QuantumCircuit:
    """The expert stage as a dynamic circuit: measure the routing register, run one expert.

    The routing register is measured into the classical register :data:`ROUTE_BITS` (bit
    ``j`` from routing qubit ``j``); then expert ``k`` runs on the data register under
    ``if_test``: with ``"binary"`` encoding when the register reads ``k`` (one expert per shot,
    none on unused states), with ``"onehot"`` when bit ``k`` is 1. By the principle of deferred
    measurement, every data-register expectation equals that of
    :func:`controlled_experts_circuit` with the same weights, while the circuit holds no
    controlled expert gate.

    Args:
        num_route_qubits: Routing register width ``r``.
        num_data_qubits: Data register width ``d``.
        expert_weights: One weight sequence per expert (see :func:`expert_circuit`).
        operators: Rotation gate names.
        layers: Expert layers.
        entangler: Expert entangler.
        encoding: ``"binary"`` or ``"onehot"``.
        reupload: A fixed input-driven circuit on the data register applied before every
            expert layer, inside each expert.

    Returns:
        The expert stage on ``r + d`` qubits and ``r`` clbits (registers ``route``, ``data``
        and :data:`ROUTE_BITS`).

    Raises:
        ValueError: An expert without a routing state, or an unknown encoding.
    """
    if encoding not in ("binary", "onehot"):
        raise ValueError(f"unknown routing encoding {encoding!r}")
    limit = 2**num_route_qubits if encoding == "binary" else num_route_qubits
    if len(expert_weights) > limit:
        raise ValueError(
            f"{len(expert_weights)} experts need more than the {num_route_qubits}-qubit "
            f"{encoding} routing register offers ({limit})"
        )
    route = QuantumRegister(num_route_qubits, "route")
    data = QuantumRegister(num_data_qubits, "data")
    bits = ClassicalRegister(num_route_qubits, ROUTE_BITS)
    circuit = QuantumCircuit(route, data, bits, name="experts")
    circuit.measure(route, bits)
    for k, weights in enumerate(expert_weights):
        block = expert_circuit(
            num_data_qubits,
            weights,
            operators,
            layers,
            entangler,
            name=f"expert{k}",
            reupload=reupload,
        )
        condition = (bits, k) if encoding == "binary" else (bits[k], 1)
        with circuit.if_test(condition):
            circuit.compose(block, data, inplace=True)
    return circuit


def multiplexed_experts_circuit(
    num_route_qubits: int,
    num_data_qubits: int,
    expert_weights: Sequence[Sequence[Angle]],
    operators: Sequence[str],
    layers: int,
    entangler: str,
    reupload: Reupload = None,
) -> QuantumCircuit:
    """All experts at once as uniformly-controlled rotations with the shared entangler pulled out.

    Branch ``|k>`` of the routing register sees exactly expert ``k``: every rotation becomes a
    multiplexed rotation over the experts' angles, and the common entangler is applied once per
    layer, unconditionally. With fewer experts than routing states (binary routing, e.g. 3 or 5
    experts), an unused state ``|u>`` gets zero angles, so after the layers its branch holds
    ``E^L`` (the entangler ``L`` times); a closing stage undoes it there alone (each CNOT of
    ``E^-L`` controlled on the unused states as well), so unused states apply no expert, as
    with controlled experts.

    Args:
        num_route_qubits: Routing register width ``r``.
        num_data_qubits: Data register width ``d``.
        expert_weights: Up to ``2**r`` weight sequences (see :func:`expert_circuit`); expert
            ``k`` acts on routing state ``|k>``.
        operators: Rotation gate names.
        layers: Expert layers.
        entangler: Expert entangler.
        reupload: A fixed input-driven circuit on the data register applied before every
            layer; it is the same in every branch, so it is applied once, unconditionally (needs
            an expert on every routing state: an unused state could not undo it).

    Returns:
        The expert stage on ``r + d`` qubits.
    """
    count = 2**num_route_qubits
    used = len(expert_weights)
    if not 2 <= used <= count or (used < count and reupload is not None):
        raise ValueError(
            f"multiplexing over {num_route_qubits} qubits needs 2..{count} experts "
            f"({count} with re-uploading), got {used}"
        )
    per_layer = weights_per_layer(num_data_qubits, operators)
    for k, weights in enumerate(expert_weights):
        if len(weights) != per_layer * layers:
            raise ValueError(f"expert {k} needs {per_layer * layers} weights, got {len(weights)}")
    route = list(range(num_route_qubits))
    circuit = QuantumCircuit(num_route_qubits + num_data_qubits, name="experts")
    shared = entangler_circuit(num_data_qubits, entangler)
    data = list(range(num_route_qubits, num_route_qubits + num_data_qubits))
    index = 0
    for layer in range(layers):
        before = layer_reupload(reupload, layer)
        if before is not None:
            circuit.compose(before, data, inplace=True)
        for qubit in data:
            for gate in operators:
                angles = [weights[index] for weights in expert_weights] + [0.0] * (count - used)
                rotation = multiplexed_rotation_circuit(gate, angles, num_route_qubits)
                circuit.compose(rotation, route + [qubit], inplace=True)
                index += 1
        circuit.compose(shared, data, inplace=True)
    if used < count:
        _undo_entanglers(circuit, route, data, shared, layers, used)
    return circuit


def _undo_entanglers(
    circuit: QuantumCircuit,
    route: list[int],
    data: list[int],
    shared: QuantumCircuit,
    layers: int,
    used: int,
) -> None:
    """Apply ``E^-layers`` to the data register on routing states ``>= used`` only.

    The unused states ``used .. 2^r - 1`` are split into aligned blocks (``[6, 8)`` is every
    state with bits 1 and 2 set), so each CNOT of ``E^-1`` becomes one multi-controlled X per
    block, controlled by the block's fixed routing bits and the CNOT's control.
    """
    r, size = len(route), 2 ** len(route)
    blocks = []
    start = used
    while start < size:
        width = (start & -start).bit_length() - 1 if start else r
        while start + 2**width > size:
            width -= 1
        blocks.append((start, width))
        start += 2**width
    inverse = shared.inverse()
    for _ in range(layers):
        for inst in inverse.data:
            control, target = (data[inverse.find_bit(q).index] for q in inst.qubits)
            for start, width in blocks:
                fixed = route[width:]
                state = (start >> width) | (1 << len(fixed))  # the CNOT's control must be 1
                circuit.mcx([*fixed, control], target, ctrl_state=state)
