"""Gate fusion: group a gate program into dense blocks of at most ``k`` qubits.

Each block becomes one ``2**k x 2**k`` matrix (shared by the batch when every angle in it
depends only on weights, one per sample otherwise), applied to the state in one matrix product.
The state is kept as a tensor whose axes are qubits in a tracked order; a block's qubits are
moved to the trailing axes only when they are not already there, so consecutive blocks on the
same qubits cost no copy.
"""

from __future__ import annotations

from dataclasses import dataclass

from .lowering import GateProgram

__all__ = ["Block", "ExecutionPlan", "Step", "fuse_gates", "plan_execution"]


@dataclass(frozen=True)
class Block:
    """A group of gates on a few qubits, applied as one matrix.

    Attributes:
        qubits: The circuit qubits the block acts on (as a set, sorted).
        gates: Indices into :attr:`GateProgram.gates`, in application order.
    """

    qubits: tuple[int, ...]
    gates: tuple[int, ...]


@dataclass(frozen=True)
class Step:
    """One block in execution order, with the layout it needs.

    Attributes:
        block: The block.
        local: Circuit qubit of local bit ``j`` of the block matrix, for ``j = 0..k-1``.
        permute: Axis permutation to apply to the ``(batch, 2, ..., 2)`` state before the
            block (``None`` when the block's qubits are already the trailing axes).
    """

    block: Block
    local: tuple[int, ...]
    permute: tuple[int, ...] | None


@dataclass(frozen=True)
class ExecutionPlan:
    """Blocks in execution order plus the final axis order of the state.

    Attributes:
        num_qubits: Circuit width.
        steps: The blocks with their layouts.
        final_order: Circuit qubit on state axis ``i + 1`` after the last step (axis 1 is the
            most significant bit of the flat index).
    """

    num_qubits: int
    steps: tuple[Step, ...]
    final_order: tuple[int, ...]


def fuse_gates(program: GateProgram, max_qubits: int) -> tuple[Block, ...]:
    """Greedily fuse gates into blocks of at most ``max_qubits`` qubits.

    A gate joins an existing block when every earlier gate on its qubits is in that block or
    before it (so moving the gate there only commutes it past gates on other qubits) and the
    block stays within ``max_qubits``; among such blocks the one that grows least is taken.

    Args:
        program: The gate program.
        max_qubits: Largest block width (at least 2).

    Returns:
        The blocks in a valid application order.
    """
    if max_qubits < 2:
        raise ValueError(f"max_qubits must be at least 2, got {max_qubits}")
    qubit_sets: list[set[int]] = []
    gate_lists: list[list[int]] = []
    last_block = [-1] * program.num_qubits
    for index, gate in enumerate(program.gates):
        first = max(last_block[q] for q in gate.qubits)
        best, best_growth = -1, max_qubits + 1
        for candidate in range(max(first, 0), len(qubit_sets)):
            growth = len(set(gate.qubits) - qubit_sets[candidate])
            if len(qubit_sets[candidate]) + growth <= max_qubits and growth <= best_growth:
                best, best_growth = candidate, growth
        if best < 0:
            qubit_sets.append(set())
            gate_lists.append([])
            best = len(qubit_sets) - 1
        qubit_sets[best].update(gate.qubits)
        gate_lists[best].append(index)
        for q in gate.qubits:
            last_block[q] = best
    return tuple(
        Block(tuple(sorted(qs)), tuple(gs)) for qs, gs in zip(qubit_sets, gate_lists, strict=True)
    )


def plan_execution(program: GateProgram, max_qubits: int) -> ExecutionPlan:
    """Fuse a program and lay out the state for each block.

    Args:
        program: The gate program.
        max_qubits: Largest block width, see :func:`fuse_gates`.

    Returns:
        The execution plan.
    """
    n = program.num_qubits
    order = list(range(n - 1, -1, -1))  # axis i holds qubit order[i]; Qiskit: qubit 0 last
    steps = []
    for block in fuse_gates(program, min(max_qubits, n)):
        members = set(block.qubits)
        k = len(members)
        if set(order[n - k :]) == members:
            permute = None
        else:
            new_order = [q for q in order if q not in members] + [q for q in order if q in members]
            permute = tuple(order.index(q) for q in new_order)
            order = new_order
        local = tuple(reversed(order[n - k :]))
        steps.append(Step(block, local, permute))
    return ExecutionPlan(n, tuple(steps), tuple(order))
