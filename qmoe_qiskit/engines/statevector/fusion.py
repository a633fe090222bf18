"""Gate fusion: group a gate program into dense blocks acting on at most ``k`` qubits.

Each block becomes ``2**c`` matrices of ``2**k x 2**k`` (shared by the batch when every angle
in it depends only on weights, one per sample otherwise), applied to the state in one matrix
product. ``c`` counts the block's *control* qubits: qubits it only reads (the control of a
``cx``, either side of a ``cz`` whose other side it also acts on), so the block is
block-diagonal in them and each of their basis states gets its own ``2**k`` matrix on the
*active* qubits. The routing qubits of a QMoE expert stage are such controls: an expert block on
``k`` data qubits costs what a ``k``-qubit block costs, not a ``k + 2``-qubit one.
The state is kept as a product of independent registers (an encoder on the routing qubits and
one on the data qubits run as two small states until a gate entangles them), each a tensor
whose axes are qubits in a tracked order; a block's qubits are moved to the trailing axes only
when they are not already there, so consecutive blocks on the same qubits cost no copy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ...errors import EngineError
from .lowering import Gate, GateProgram

__all__ = [
    "BUILD_WEIGHT",
    "MAX_CONTROLS",
    "Block",
    "ExecutionPlan",
    "Step",
    "active_qubits",
    "choose_block_qubits",
    "coalesce_permutation",
    "fuse_gates",
    "plan_execution",
]


@dataclass(frozen=True)
class Block:
    """A group of gates on a few qubits, applied as one matrix.

    Attributes:
        qubits: The circuit qubits the block acts on (as a set, sorted).
        gates: Indices into :attr:`GateProgram.gates`, in application order.
        controls: The control qubits among :attr:`qubits` (sorted; see the module docstring).
        per_sample: Whether an angle of the block depends on an input, so that its matrices are
            built per sample instead of shared by the batch (set by :func:`fuse_gates`, which
            tracks it while fusing; every later use reads it here).
    """

    qubits: tuple[int, ...]
    gates: tuple[int, ...]
    controls: tuple[int, ...] = ()
    per_sample: bool = field(kw_only=True)


@dataclass(frozen=True)
class Step:
    """One block in execution order, with the registers it reads and the layout it needs.

    The state is kept as a product of *registers*: independent states on disjoint qubit sets
    (a qubit no gate has touched yet is ``|0>`` and in no register). A block acting on several
    registers first merges them (their tensor product, in the order of :attr:`merge`, then
    :attr:`fresh` untouched qubits in ``|0>``); a block on untouched qubits only starts a new
    register from the first column of its matrix.

    Attributes:
        block: The block.
        local: Circuit qubit of local bit ``j`` of the block matrices, for ``j = 0..k-1`` (the
            active qubits).
        permute: Axis permutation to apply to the register's ``(batch, 2, ..., 2)`` state before
            the block (``None`` when the layout is already right: control qubits leading, in
            :attr:`controls` order, and active qubits trailing).
        merge: Registers (indices of earlier steps whose output they are) merged into this
            block's register, most significant first.
        controls: The block's control qubits in axis order (most significant first); control
            value ``v`` (bit ``c - 1 - i`` of ``v`` is ``controls[i]``) selects matrix ``v``.
        fresh: Untouched qubits appended (least significant) to the merged register.
        order: Circuit qubit on each axis of this step's output register (most significant
            first).
    """

    block: Block
    local: tuple[int, ...]
    permute: tuple[int, ...] | None
    controls: tuple[int, ...] = ()
    merge: tuple[int, ...] = ()
    fresh: int = 0
    order: tuple[int, ...] = ()

    @property
    def starts(self) -> bool:
        """Whether the block acts on untouched qubits only (its register is ``M |0>``)."""
        return not self.merge


@dataclass(frozen=True)
class ExecutionPlan:
    """Blocks in execution order plus the final axis order of the state.

    Attributes:
        num_qubits: Circuit width.
        steps: The blocks with their layouts.
        final_order: Circuit qubit on state axis ``i + 1`` after the last step (axis 1 is the
            most significant bit of the flat index).
        final_merge: Registers (step indices) whose product, followed by :attr:`final_fresh`
            untouched qubits, is the final state.
        final_fresh: Untouched qubits at the end (least significant).
    """

    num_qubits: int
    steps: tuple[Step, ...]
    final_order: tuple[int, ...]
    final_merge: tuple[int, ...] = ()
    final_fresh: int = 0


class _Registers:
    """Which qubits gates so far have entangled: a union-find of qubits with component sizes."""

    def __init__(self, num_qubits: int) -> None:
        self.parent = list(range(num_qubits))
        self.size = [1] * num_qubits

    def root(self, q: int) -> int:
        while self.parent[q] != q:
            self.parent[q] = self.parent[self.parent[q]]
            q = self.parent[q]
        return q

    def sizes(self, qubits) -> list[int]:
        """Sizes of the distinct registers holding ``qubits``."""
        return [self.size[r] for r in {self.root(q) for q in qubits}]

    def join(self, qubits) -> None:
        """Entangle the registers of ``qubits`` into one."""
        first = self.root(qubits[0])
        for q in qubits[1:]:
            other = self.root(q)
            if other != first:
                self.parent[other] = first
                self.size[first] += self.size[other]


#: Most control qubits a block may have besides its ``max_qubits`` active ones.
MAX_CONTROLS = 3


def active_qubits(gate: Gate) -> tuple[int, ...]:
    """The qubits a gate is not block-diagonal on: all but a ``cx`` control or a ``cz``'s first
    qubit (a ``cz`` is diagonal on both; one side is counted active so every control value
    leaves a gate on the active qubits, never a bare sign)."""
    return gate.qubits[1:] if len(gate.qubits) == 2 else gate.qubits


def fuse_gates(
    program: GateProgram, max_qubits: int, max_controls: int = MAX_CONTROLS, merge: bool = True
) -> tuple[Block, ...]:
    """Greedily fuse gates into blocks of at most ``max_qubits`` active qubits.

    A gate joins an existing block when every earlier gate on its qubits is in that block or
    before it (so moving the gate there only commutes it past gates on other qubits), the
    block stays within ``max_qubits`` active qubits and ``max_controls`` control qubits, and the
    block's qubits are entangled with the gate's (one connected component once the gate is
    applied: a block never spans two independent registers, which run as separate, smaller
    states); among such blocks the one that grows least is taken (a new active qubit costs
    more than a new control qubit).

    Args:
        program: The gate program.
        max_qubits: Largest number of active qubits per block (at least 2).
        max_controls: Largest number of control qubits per block.
        merge: Merge consecutive blocks where one pass is cheaper (``_merge_consecutive``).

    Returns:
        The blocks in a valid application order.
    """
    if max_qubits < 2:
        raise EngineError(f"max_qubits must be at least 2, got {max_qubits}")
    registers = _Registers(program.num_qubits)
    depends = program.input_dependent()
    qubit_sets: list[set[int]] = []
    active_sets: list[set[int]] = []
    gate_lists: list[list[int]] = []
    batched: list[bool] = []  # block has an input-dependent angle (one matrix per sample)
    last_block = [-1] * program.num_qubits
    for index, gate in enumerate(program.gates):
        sizes = registers.sizes(gate.qubits)
        joins = len(sizes) > 1 and min(sizes) > 1  # two registers entangle
        registers.join(gate.qubits)
        component = registers.root(gate.qubits[0])
        per_sample = gate.angle >= 0 and bool(depends[gate.angle])
        first = max(last_block[q] for q in gate.qubits)
        best, best_growth = -1, 3 * program.num_qubits
        for candidate in range(max(first, 0), len(qubit_sets)):
            members = qubit_sets[candidate]
            if any(registers.root(q) != component for q in members):
                continue
            acts = gate.qubits if per_sample or batched[candidate] else active_qubits(gate)
            active = len(active_sets[candidate] | set(acts))
            total = len(members | set(gate.qubits))
            if active > max_qubits or total - active > max_controls:
                continue
            # Per-sample blocks stay small: no control qubits, no joins of two registers.
            if (per_sample or batched[candidate]) and total > active:
                continue
            if batched[candidate] and joins:
                continue
            growth = 2 * (active - len(active_sets[candidate])) + total - len(members)
            if growth <= best_growth:
                best, best_growth = candidate, growth
        if best < 0:
            qubit_sets.append(set())
            active_sets.append(set())
            gate_lists.append([])
            batched.append(False)
            best = len(qubit_sets) - 1
        qubit_sets[best].update(gate.qubits)
        per_sample = per_sample or batched[best]  # a per-sample block has no controls
        active_sets[best].update(gate.qubits if per_sample else active_qubits(gate))
        gate_lists[best].append(index)
        batched[best] = batched[best] or per_sample
        for q in gate.qubits:
            last_block[q] = best
    _absorb_forward(qubit_sets, active_sets, gate_lists, batched, max_qubits)
    blocks = [
        Block(tuple(sorted(qs)), tuple(gs), tuple(sorted(qs - act)), per_sample=dependent)
        for qs, act, gs, dependent in zip(qubit_sets, active_sets, gate_lists, batched, strict=True)
    ]
    ordered = [blocks[i] for i in _small_registers_first(blocks, program.num_qubits)]
    if not merge:
        return tuple(ordered)
    return tuple(_merge_consecutive(ordered, max_qubits, max_controls))


def _merge_consecutive(blocks: list[Block], max_qubits: int, max_controls: int) -> list[Block]:
    """Merge each block into the one before it when they share a qubit and the result is cheaper.

    Greedy fusion misses these where gate streams interleave (a QMoE's encoder ladder leaves
    one small expert block per data qubit, run in a row once the encoder is done). Merged when
    the union fits, both are weight-only or both per-sample, and one pass (``2**k + 8`` in
    :func:`plan_cost`'s units) costs less than two; a control active in the other is active.
    """
    merged: list[Block] = []
    for block in blocks:
        dependent = block.per_sample
        if merged and merged[-1].per_sample == dependent:
            last = merged[-1]
            qubits = set(last.qubits) | set(block.qubits)
            active = (set(last.qubits) - set(last.controls)) | (
                set(block.qubits) - set(block.controls)
            )
            widths = [len(b.qubits) - len(b.controls) for b in (last, block)]
            if (
                set(last.qubits) & set(block.qubits)
                and len(active) <= max_qubits
                and len(qubits) - len(active) <= max_controls
                and (not dependent or len(qubits) == len(active))
                and 2 ** len(active) + 8 < sum(2**w + 8 for w in widths)
            ):
                merged[-1] = Block(
                    tuple(sorted(qubits)),
                    last.gates + block.gates,
                    tuple(sorted(qubits - active)),
                    per_sample=dependent,
                )
                continue
        merged.append(block)
    return merged


def _absorb_forward(
    qubit_sets: list[set[int]],
    active_sets: list[set[int]],
    gate_lists: list[list[int]],
    batched: list[bool],
    max_qubits: int,
) -> None:
    """Prepend each block to the next block touching its qubits when that one contains them.

    No block in between touches the moved gates' qubits, so the move only commutes gates on
    disjoint qubits. This removes the small blocks the component rule leaves at the start of
    each register. A block with input-dependent angles is not moved into a weight-only one
    (that would turn one matrix for the batch into one per sample).
    """
    i = 0
    while i < len(qubit_sets):
        j = next((j for j in range(i + 1, len(qubit_sets)) if qubit_sets[i] & qubit_sets[j]), -1)
        if (
            j > 0
            and qubit_sets[i] <= qubit_sets[j]
            and len(active_sets[i] | active_sets[j]) <= max_qubits
            and (batched[j] or not batched[i])
        ):
            qubit_sets.pop(i)
            active, gates, dependent = active_sets.pop(i), gate_lists.pop(i), batched.pop(i)
            active_sets[j - 1] |= active
            gate_lists[j - 1] = gates + gate_lists[j - 1]
            batched[j - 1] = dependent or batched[j - 1]
            continue
        i += 1


def _small_registers_first(blocks: list[Block], num_qubits: int) -> list[int]:
    """A dependency-respecting order of ``blocks`` that runs blocks on small registers first.

    Blocks sharing a qubit keep their relative order; among the blocks ready to run, the one
    whose register (the union of the registers of its qubits, given the blocks run so far) is
    smallest goes first, so an independent register (an encoder on the data qubits) finishes
    before a block entangles it with another and they run as one larger state.
    """
    registers = _Registers(num_qubits)
    before = [
        {i for i in range(j) if set(blocks[i].qubits) & set(blocks[j].qubits)}
        for j in range(len(blocks))
    ]
    done: set[int] = set()
    order: list[int] = []
    while len(order) < len(blocks):
        ready = [j for j in range(len(blocks)) if j not in done and before[j] <= done]
        j = min(ready, key=lambda j: (sum(registers.sizes(blocks[j].qubits)), j))
        registers.join(blocks[j].qubits)
        order.append(j)
        done.add(j)
    return order


def plan_execution(
    program: GateProgram, max_qubits: int, merge_blocks: bool = True
) -> ExecutionPlan:
    """Fuse a program and lay out the registers and state axes for each block.

    Args:
        program: The gate program.
        max_qubits: Largest number of active qubits per block, see :func:`fuse_gates`.
        merge_blocks: Merge consecutive blocks where cheaper, see :func:`fuse_gates`.

    Returns:
        The execution plan.
    """
    n = program.num_qubits
    owner: dict[int, int] = {}  # qubit -> step whose output register holds it
    orders: dict[int, list[int]] = {}  # live register (step index) -> axis order
    steps = []
    for s, block in enumerate(fuse_gates(program, min(max_qubits, n), merge=merge_blocks)):
        members, controls = set(block.qubits), set(block.controls)
        active = members - controls
        k, c = len(active), len(controls)
        merge = tuple(dict.fromkeys(owner[q] for q in block.qubits if q in owner))
        fresh = [q for q in sorted(members, reverse=True) if q not in owner]
        if not merge:  # a new register: controls, then active qubits, each in Qiskit order
            order = [q for q in fresh if q in controls] + [q for q in fresh if q in active]
            permute = None
        else:
            order = [q for r in merge for q in orders.pop(r)] + fresh
            if set(order[:c]) == controls and set(order[len(order) - k :]) == active:
                permute = None
            else:
                new_order = [q for q in order if q in controls]
                new_order += [q for q in order if q not in members]
                new_order += [q for q in order if q in active]
                permute = tuple(order.index(q) for q in new_order)
                order = new_order
        local = tuple(reversed(order[len(order) - k :]))
        for q in order:
            owner[q] = s
        orders[s] = order
        steps.append(Step(block, local, permute, tuple(order[:c]), merge, len(fresh), tuple(order)))
    final_merge = tuple(orders)
    untouched = [q for q in range(n - 1, -1, -1) if q not in owner]
    final_order = tuple(q for r in final_merge for q in orders[r]) + tuple(untouched)
    return ExecutionPlan(n, tuple(steps), final_order, final_merge, len(untouched))


def coalesce_permutation(permute: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The same axis permutation on fewer, larger axes.

    Runs of axes that stay adjacent and in order become one axis: torch's copy over one axis
    per qubit was measured up to 2.6x slower (14 qubits, batch 256: 17.7 ms against 6.7 ms
    for moving two qubits to the end; a plain copy takes 6.0 ms).

    Args:
        permute: New axis ``i`` is old axis ``permute[i]`` (one qubit each).

    Returns:
        ``(qubits, order)``: qubits per merged axis (old order); new axis ``j`` is ``order[j]``.
    """
    runs: list[list[int]] = []
    for axis in permute:
        if runs and runs[-1][-1] + 1 == axis:
            runs[-1].append(axis)
        else:
            runs.append([axis])
    by_old = sorted(range(len(runs)), key=lambda r: runs[r][0])
    return tuple(len(runs[r]) for r in by_old), tuple(by_old.index(r) for r in range(len(runs)))


#: Active-qubit widths :func:`choose_block_qubits` considers.
BLOCK_WIDTHS = (3, 4, 5)


#: Weight of building an input-dependent block (per sample, gate by gate) against a pass over
#: the state in :func:`plan_cost`: fitted so that the choice is the measured fastest width on
#: the engine benchmark's QMoE (6, 10 and 14 qubits) and on the Table II presets (5-6 qubits),
#: where one 5-qubit block of 270 input-dependent gates built per sample took 4x the time of
#: the 3- or 4-qubit plan (225 ms against 49-63 ms per step, batch 32).
BUILD_WEIGHT = 0.125


def plan_cost(plan: ExecutionPlan, program: GateProgram | None = None) -> float:
    """Estimated work of one pass over a plan, per sample.

    For each block product on a register of ``2**m`` amplitudes, ``2**k`` multiply-adds per
    amplitude (``k`` active qubits) plus 6 amplitude reads and writes (forward and backward),
    2 more when the block needs a layout copy. With the ``program``, blocks with an
    input-dependent angle (built per sample) add the building: ``2 x 4**k`` multiply-adds per
    gate and control value, weighted by :data:`BUILD_WEIGHT`.
    """
    work: float = sum(
        2 ** len(step.order) * (2 ** len(step.local) + 6 + (2 if step.permute else 0))
        for step in plan.steps
        if not step.starts
    )
    if program is None:
        return work
    for step in plan.steps:
        if step.block.per_sample:
            size = 2 * 4 ** len(step.local) * 2 ** len(step.controls)
            work += BUILD_WEIGHT * len(step.block.gates) * size
    return work


def choose_block_qubits(program: GateProgram) -> int:
    """The width in :data:`BLOCK_WIDTHS` whose plan has the least :func:`plan_cost`.

    Wider blocks mean fewer passes over the state but more arithmetic per pass, and blocks
    with input-dependent angles are built once per sample; which wins depends on how the
    circuit fuses. On the engine benchmark's QMoE (2 CPU cores) the estimate picks the measured
    fastest width: 4 at 6 qubits, 3 at 10 and 12, 5 at 14 (at 10 qubits, batch 256,
    complex128: 3 -> 0.094 s, 4 -> 0.127 s, 5 -> 0.382 s per training step).

    Plans are compared unmerged: merged, width 4 is estimated 11 % cheaper than 5 at 18 qubits
    and ran 12-33 % slower.
    """
    widths = [w for w in BLOCK_WIDTHS if w <= max(program.num_qubits, 2)] or [2]
    unmerged = {w: plan_execution(program, w, merge_blocks=False) for w in widths}
    return min(widths, key=lambda w: (plan_cost(unmerged[w], program), w))
