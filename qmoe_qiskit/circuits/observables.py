"""Observables that turn a circuit's final state into model outputs."""

from __future__ import annotations

from qiskit.quantum_info import SparsePauliOp

__all__ = [
    "basis_projectors",
    "class_observables",
    "expert_projectors",
    "state_projector",
    "zero_projector",
]


def zero_projector(num_qubits: int, qubits: range | list[int]) -> SparsePauliOp:
    """``|0...0><0...0|`` on ``qubits`` (identity elsewhere): ``prod_q (I + Z_q) / 2``."""
    qubits = list(qubits)
    return state_projector(num_qubits, qubits, [0] * len(qubits))


def class_observables(
    num_route: int, num_data: int, classes: int, *, project_route: bool = False
) -> tuple[SparsePauliOp, ...]:
    """One observable per class: Z on data qubit ``c`` (qubit ``num_route + c``).

    Args:
        num_route: Routing qubits ``0..num_route-1``.
        num_data: Data qubits after them.
        classes: Number of classes (``<= num_data``).
        project_route: Multiply by the projector on routing ``|0...0>`` (interfering
            aggregation).

    Returns:
        ``classes`` Hermitian observables on ``num_route + num_data`` qubits.
    """
    n = num_route + num_data
    route = zero_projector(n, range(num_route) if project_route else [])
    observables = []
    for c in range(classes):
        z = SparsePauliOp.from_sparse_list([("Z", [num_route + c], 1.0)], n)
        observables.append(z.compose(route).simplify())
    return tuple(observables)


def basis_projectors(num_qubits: int, num_route: int) -> tuple[SparsePauliOp, ...]:
    """Projectors ``|k><k|`` on qubits ``0..num_route-1`` (identity elsewhere), ``k = 0..2^m-1``.

    ``|k><k| = prod_q (I + (-1)^{b_q(k)} Z_q) / 2`` with ``b_q(k)`` bit ``q`` of ``k``.

    Args:
        num_qubits: Circuit width.
        num_route: Measured (routing) qubits ``m``.

    Returns:
        ``2**m`` Hermitian observables whose expectations are the basis-state probabilities.
    """
    qubits = list(range(num_route))
    return tuple(
        state_projector(num_qubits, qubits, [(k >> q) & 1 for q in qubits])
        for k in range(2**num_route)
    )


def state_projector(num_qubits: int, qubits: list[int], bits: list[int]) -> SparsePauliOp:
    """``|b><b|`` on ``qubits`` (bit ``bits[i]`` on qubit ``qubits[i]``), identity elsewhere."""
    op = SparsePauliOp("I" * num_qubits)
    for qubit, bit in zip(qubits, bits, strict=True):
        sign = -1.0 if bit else 1.0
        factor = SparsePauliOp.from_sparse_list(
            [("", [], 0.5), ("Z", [qubit], 0.5 * sign)], num_qubits
        )
        op = op.compose(factor)
    return op.simplify()


def expert_projectors(
    num_qubits: int, route_qubits: list[int], count: int, encoding: str
) -> tuple[SparsePauliOp, ...]:
    """One projector per expert: the routing-register state that switches expert ``k`` on.

    Args:
        num_qubits: Circuit width.
        route_qubits: The routing register (qubit ``route_qubits[0]`` is the least significant
            bit of a binary code).
        count: Number of experts.
        encoding: ``"binary"`` (expert ``k`` on ``|k>``) or ``"onehot"`` (expert ``k`` on the
            state with only routing qubit ``k`` set).

    Returns:
        ``count`` projectors; their expectations are the routing probabilities ``P(k|x)``
        (they sum to less than 1 when some routing states switch no expert on).
    """
    m = len(route_qubits)
    projectors = []
    for k in range(count):
        bits = (
            [(k >> q) & 1 for q in range(m)]
            if encoding == "binary"
            else [int(q == k) for q in range(m)]
        )
        projectors.append(state_projector(num_qubits, list(route_qubits), bits))
    return tuple(projectors)
