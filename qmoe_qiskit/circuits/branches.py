"""The circuits one shot of a dynamic circuit can run: its feed-forward resolved per outcome.

A circuit with classical feed-forward (``if_test`` on measured bits) runs a different gate
sequence in each shot. Its cost per shot is that of the branch it takes, so resource counts
(two-qubit gates, depth, duration) are taken over :func:`branch_circuits`: for every value of
the classical bits the conditions read, the circuit with each ``if_else`` replaced by the block
that value selects.
"""

from __future__ import annotations

import itertools

from qiskit.circuit import ClassicalRegister, Clbit, IfElseOp, QuantumCircuit

__all__ = ["branch_circuits", "condition_bits", "is_dynamic", "shot_costs"]


def is_dynamic(circuit: QuantumCircuit) -> bool:
    """Whether ``circuit`` holds an ``if_else`` (classical feed-forward)."""
    return any(isinstance(inst.operation, IfElseOp) for inst in circuit.data)


def _condition(op: IfElseOp) -> tuple[list[Clbit], int]:
    target, value = op.condition
    if isinstance(target, ClassicalRegister):
        return list(target), int(value)
    if isinstance(target, Clbit):
        return [target], int(value)
    raise ValueError(f"unsupported if_else condition {op.condition!r} (a register or bit test)")


def condition_bits(circuit: QuantumCircuit) -> list[Clbit]:
    """The clbits the top-level ``if_else`` conditions read, in circuit order.

    Raises:
        ValueError: A condition that is not a test of a register or bit against an integer, or
            control flow other than ``if_else``.
    """
    seen: list[Clbit] = []
    for inst in circuit.data:
        op = inst.operation
        if op.name in ("while_loop", "for_loop", "switch_case"):
            raise ValueError(f"{op.name} is not resolved per shot; only if_else is")
        if isinstance(op, IfElseOp):
            for bit in _condition(op)[0]:
                if bit not in seen:
                    seen.append(bit)
    return sorted(seen, key=lambda b: circuit.find_bit(b).index)


def _holds(op: IfElseOp, outcome: dict[Clbit, int]) -> bool:
    bits, value = _condition(op)
    read = sum(outcome[bit] << i for i, bit in enumerate(bits))
    return read == value


def branch_circuits(circuit: QuantumCircuit) -> dict[str, QuantumCircuit]:
    """Every gate sequence a shot of ``circuit`` can run.

    Args:
        circuit: A circuit whose feed-forward is ``if_else`` on register or bit values (blocks
            may not nest further control flow).

    Returns:
        ``{outcome: circuit}``: for each assignment of :func:`condition_bits` (the key is the
        bit string in Qiskit's order: the first condition bit rightmost), the circuit with
        every ``if_else`` replaced by the block that assignment selects (none when its
        condition fails and it has no ``else``). A circuit without feed-forward gives
        ``{"": circuit}``.

    Raises:
        ValueError: See :func:`condition_bits`; or a block holding control flow itself.
    """
    bits = condition_bits(circuit)
    if not bits:
        return {"": circuit}
    out: dict[str, QuantumCircuit] = {}
    for values in itertools.product((0, 1), repeat=len(bits)):
        outcome = dict(zip(bits, values, strict=True))
        flat = circuit.copy_empty_like()
        for inst in circuit.data:
            op = inst.operation
            if not isinstance(op, IfElseOp):
                flat.append(inst)
                continue
            true_body, false_body = op.blocks[0], op.blocks[1] if len(op.blocks) > 1 else None
            body = true_body if _holds(op, outcome) else false_body
            if body is None:
                continue
            if is_dynamic(body):
                raise ValueError("nested feed-forward is not resolved per shot")
            qubits = [circuit.find_bit(q).index for q in inst.qubits]
            clbits = [circuit.find_bit(c).index for c in inst.clbits]
            for inner in body.data:
                flat.append(
                    inner.operation,
                    [qubits[body.find_bit(q).index] for q in inner.qubits],
                    [clbits[body.find_bit(c).index] for c in inner.clbits],
                )
        out["".join(map(str, reversed(values)))] = flat
    return out


def shot_costs(circuit: QuantumCircuit) -> dict[str, int]:
    """Depth and two-qubit gates of the costliest shot of ``circuit``.

    For a dynamic circuit, the largest over its branches
    (:func:`branch_circuits`), the gate sequences one shot can run;
    for a static one, its own depth and count.

    Returns:
        ``{"depth": ..., "two_qubit_gates": ..., "branches": ...}``.
    """
    branches = branch_circuits(circuit)
    depth = max(b.depth() for b in branches.values())
    count = max(sum(1 for i in b.data if i.operation.num_qubits == 2) for b in branches.values())
    return {"depth": depth, "two_qubit_gates": count, "branches": len(branches)}
