"""Block matrices built in a few vectorized tensor operations instead of one per gate.

Every fused block of an :class:`~qmoe_qiskit.engines.statevector.fusion.ExecutionPlan` is
rewritten as alternating *layers*: a product layer ``K`` (one 2x2 factor per local qubit, itself
the product of a run of single-qubit gates) followed by a signed-permutation layer ``C`` (a run
of ``cx`` and ``cz`` gates, ``C|i> = s_i |pi(i)>``). A single-qubit gate is moved into the earliest
product layer after the last two-qubit gate on its qubit, a two-qubit gate into the earliest
permutation layer after everything on its qubits, so only gates on disjoint qubits are
reordered.

Blocks of the same width whose angles are all weights (one matrix for the whole batch) form a
:class:`BlockGroup`; all of a group's matrices are built at once, padded with identity factors
and identity permutations:

1. gather the 2x2 factors of every run and multiply each run (one batched product per run
   position);
2. take the Kronecker product over the block's qubits (one broadcast product per qubit);
3. apply each permutation layer to its product layer as a row gather with signs (all layers at
   once) and multiply the layers pairwise, ``log2(layers)`` batched products.

The operation count is independent of the number of gates, which is what makes small circuits
fast; everything is differentiable by autograd. Blocks with input-dependent angles need one
matrix per sample; built this way (dense products per layer and sample) they cost more
arithmetic than applying their few gates one by one, so by default :func:`block_groups` leaves
them to the caller, which groups them too (``steps=``) only where the batch is small enough for
fewer operations to win.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .fusion import ExecutionPlan, Step
from .lowering import Gate, GateProgram

__all__ = [
    "BlockGroup",
    "FACTOR_IDENTITY",
    "block_groups",
    "branch_gates",
    "build_group_matrices",
    "kron_layers",
    "signed_permutation",
]

#: Index of the identity in a factor table; ``1``, ``2`` and ``3`` hold ``h``, ``x`` and ``z``.
FACTOR_IDENTITY = 0
_FIXED_FACTORS = {"h": 1, "x": 2, "z": 3}
#: Number of fixed factors at the start of a factor table.
NUM_FIXED_FACTORS = 4


@dataclass(frozen=True, eq=False)
class BlockGroup:
    """Weight-only blocks of one width whose matrices are built together.

    Attributes:
        width: Active qubits per block ``k`` (matrices are ``2**k x 2**k``).
        steps: Plan step of each block; a step with ``c`` control qubits has ``2**c`` blocks, one
            per control value, consecutive and in order.
        runs: ``(blocks, layers, width, run)`` factor-table index of each single-qubit gate, in
            application order per local qubit, padded with :data:`FACTOR_IDENTITY`.
        sources: ``(blocks, layers, 2**k)``: row ``r`` of a permutation layer's output is row
            ``sources[r]`` of its input ...
        signs: ``(blocks, layers, 2**k)``: ... times ``signs[r]``.
    """

    width: int
    steps: tuple[int, ...]
    runs: np.ndarray
    sources: np.ndarray
    signs: np.ndarray


def signed_permutation(gates, width: int) -> tuple[np.ndarray, np.ndarray]:
    """``(sources, signs)`` of a run of ``(name, (a, b))`` ``cx``/``cz`` gates on local bits.

    Row ``r`` of the product applied to a matrix is row ``sources[r]`` of it times ``signs[r]``.
    """
    index = np.arange(2**width)
    image, sign = index.copy(), np.ones(2**width)  # C|i> = sign[i] |image[i]>
    for name, (a, b) in gates:
        if name == "cx":
            image = np.where((image >> a) & 1, image ^ (1 << b), image)
        else:  # cz
            sign = sign * np.where(((image >> a) & 1) & ((image >> b) & 1), -1.0, 1.0)
    sources = np.empty_like(index)
    sources[image] = index
    return sources, sign[sources]


def branch_gates(program: GateProgram, step: Step) -> list[list[Gate]]:
    """The gates of ``step`` on its active qubits, for each value of its control qubits.

    For control value ``v`` (bit ``c - 1 - i`` is ``step.controls[i]``), a ``cx`` or ``cz``
    controlled by a control qubit becomes ``x`` or ``z`` on its other qubit when that control
    is 1 and disappears when it is 0; every other gate stays.
    """
    controls = step.controls
    branches = []
    for value in range(2 ** len(controls)):
        bit = {q: (value >> (len(controls) - 1 - i)) & 1 for i, q in enumerate(controls)}
        gates = []
        for index in step.block.gates:
            gate = program.gates[index]
            if len(gate.qubits) == 2 and gate.qubits[0] in bit:
                if bit[gate.qubits[0]]:
                    gates.append(Gate("x" if gate.name == "cx" else "z", gate.qubits[1:]))
            else:
                gates.append(gate)
        branches.append(gates)
    return branches


def _layers(gates: list[Gate], local, factor_of) -> list[tuple[dict, list]]:
    """One block's gates as ``[(runs per local qubit, two-qubit gates), ...]``."""
    position = {q: j for j, q in enumerate(local)}
    layers: list[tuple[dict[int, list[int]], list]] = []
    last_two = {j: -1 for j in range(len(local))}  # last permutation layer on a qubit
    last_one = {j: 0 for j in range(len(local))}  # last product layer with a factor on it
    for gate in gates:
        if len(gate.qubits) == 1:
            j = position[gate.qubits[0]]
            target = max(last_two[j] + 1, last_one[j])
            while len(layers) <= target:
                layers.append(({}, []))
            layers[target][0].setdefault(j, []).append(factor_of(gate))
            last_one[j] = target
        else:
            a, b = (position[q] for q in gate.qubits)
            target = max(last_one[a], last_one[b], last_two[a], last_two[b], 0)
            while len(layers) <= target:
                layers.append(({}, []))
            layers[target][1].append((gate.name, (a, b)))
            last_two[a] = last_two[b] = target
    return layers


def block_groups(
    program: GateProgram, plan: ExecutionPlan, steps: Sequence[int] | None = None
) -> tuple[BlockGroup, ...]:
    """Group and layer blocks of ``plan`` (by default its weight-only ones).

    Factor-table indices: :data:`FACTOR_IDENTITY`, then ``h``, ``x`` and ``z``, then the
    weight-only angles in ascending angle order, then the input-dependent ones.

    Args:
        program: The gate program the plan was made from.
        plan: The execution plan.
        steps: The plan steps to group (default: every step without input-dependent angles).

    Returns:
        The groups, one per block width, steps in ascending order.
    """
    depends = program.input_dependent()
    order = np.concatenate([np.flatnonzero(~depends), np.flatnonzero(depends)])
    table = {int(a): NUM_FIXED_FACTORS + i for i, a in enumerate(order)}

    def factor_of(gate) -> int:
        return table[gate.angle] if gate.angle >= 0 else _FIXED_FACTORS[gate.name]

    if steps is None:
        steps = [s for s, step in enumerate(plan.steps) if not step.block.per_sample]
    members: dict[int, list[tuple[int, list]]] = {}
    for s in sorted(steps):
        step = plan.steps[s]
        for gates in branch_gates(program, step):
            layers = _layers(gates, step.local, factor_of)
            members.setdefault(len(step.local), []).append((s, layers))
    groups = []
    for width, blocks in sorted(members.items()):
        depth = max(len(layers) for _, layers in blocks)
        run = max(
            (len(r) for _, layers in blocks for one, _ in layers for r in one.values()), default=1
        )
        runs = np.full((len(blocks), depth, width, run), FACTOR_IDENTITY, dtype=np.int64)
        sources = np.tile(np.arange(2**width), (len(blocks), depth, 1))
        signs = np.ones((len(blocks), depth, 2**width))
        for i, (_, layers) in enumerate(blocks):
            for depth_index, (one, two) in enumerate(layers):
                for j, factors in one.items():
                    runs[i, depth_index, j, : len(factors)] = factors
                sources[i, depth_index], signs[i, depth_index] = signed_permutation(two, width)
        steps = tuple(s for s, _ in blocks)
        groups.append(BlockGroup(width, steps, runs, sources, signs))
    return tuple(groups)


def kron_layers(factors: torch.Tensor) -> torch.Tensor:
    """Kronecker products over local qubits: ``(..., k, 2, 2) -> (..., 2**k, 2**k)``.

    Local qubit ``j`` is bit ``j`` of the matrix index (qubit ``k - 1`` most significant).
    """
    width = factors.shape[-3]
    out = factors[..., 0, :, :]
    for j in range(1, width):
        high = factors[..., j, :, :]
        dim = out.shape[-1]
        # einsum: its backward is a batched matrix product, not a broadcast-and-sum.
        out = torch.einsum("...ac,...bd->...abcd", high, out).reshape(
            *out.shape[:-2], 2 * dim, 2 * dim
        )
    return out


def build_group_matrices(
    factors: torch.Tensor,
    runs: torch.Tensor,
    sources: torch.Tensor,
    signs: torch.Tensor,
) -> torch.Tensor:
    """All block matrices of a group.

    Args:
        factors: ``(1, factors, 2, 2)`` factor table (any leading size broadcasts).
        runs: ``(blocks, layers, k, run)`` indices into the table (a group's ``runs``).
        sources: ``(blocks, layers, 2**k)`` permutation sources.
        signs: ``(blocks, layers, 2**k)`` permutation signs (same dtype as ``factors``).

    Returns:
        ``(batch or 1, blocks, 2**k, 2**k)`` block matrices.
    """
    gathered = factors[:, runs]  # (B, blocks, layers, k, run, 2, 2)
    merged = gathered[..., 0, :, :]
    for r in range(1, runs.shape[-1]):
        merged = gathered[..., r, :, :] @ merged
    products = kron_layers(merged)  # (B, blocks, layers, d, d)
    # Layer l is C_l K_l: rows of K_l gathered and signed, all layers at once.
    blocks = torch.arange(runs.shape[0], device=runs.device)[:, None, None]
    layers = torch.arange(runs.shape[1], device=runs.device)[None, :, None]
    factors = signs[..., None] * products[:, blocks, layers, sources]
    # M = A_{L-1} ... A_1 A_0, multiplied pairwise: log2(L) batched products, not L.
    while factors.shape[2] > 1:
        count = factors.shape[2]
        paired = factors[:, :, 1 : count - count % 2 : 2] @ factors[:, :, 0 : count - 1 : 2]
        factors = torch.cat([paired, factors[:, :, count - 1 :]], 2) if count % 2 else paired
    return factors[:, :, 0]
