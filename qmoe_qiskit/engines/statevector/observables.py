"""Observables as flip masks and per-basis-state weights, laid out for the engine's state.

A Pauli string maps basis state ``|j>`` to ``phase(j) |j XOR x>``, so a sum of Pauli strings is,
for each distinct flip mask ``x``, a vector of weights ``v_x``:
``<psi|O|psi> = sum_x sum_j conj(psi[j ^ x]) v_x[j] psi[j]``. Diagonal observables (all the
compiler emits) have only ``x = 0``: the expectation is ``|psi|^2 @ v_0``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from qiskit.quantum_info import SparsePauliOp

from ...errors import EngineError

__all__ = ["ObservableTable", "layout_to_canonical", "observable_table"]


@dataclass(frozen=True, eq=False)
class ObservableTable:
    """Observables in a given state layout.

    Attributes:
        masks: Distinct flip masks, ``0`` (the diagonal part) first when present.
        partners: ``(masks, 2**n)`` layout index of ``j ^ mask`` for each layout index ``j``.
        weights: ``(masks, 2**n, observables)`` complex weights ``v_x`` in layout order.
    """

    masks: tuple[int, ...]
    partners: np.ndarray
    weights: np.ndarray

    @property
    def diagonal(self) -> bool:
        """Whether every observable is diagonal in the computational basis."""
        return self.masks == (0,)


def layout_to_canonical(order: Sequence[int]) -> np.ndarray:
    """Canonical (Qiskit) basis index of each flat index of a state with axes ``order``."""
    n = len(order)
    flat = np.arange(2**n)
    canonical = np.zeros(2**n, dtype=np.int64)
    for axis, qubit in enumerate(order):
        bit = (flat >> (n - 1 - axis)) & 1
        canonical |= bit << qubit
    return canonical


def observable_table(observables: Sequence[SparsePauliOp], order: Sequence[int]) -> ObservableTable:
    """Tabulate observables for a state whose axis ``i`` holds qubit ``order[i]``.

    Args:
        observables: One operator per output, all on ``len(order)`` qubits.
        order: Circuit qubit on each state axis, most significant first.

    Returns:
        The table.

    Raises:
        EngineError: If an observable has the wrong width or is not Hermitian.
    """
    n = len(order)
    canonical = layout_to_canonical(order)
    layout_of = np.empty_like(canonical)
    layout_of[canonical] = np.arange(2**n)
    per_mask: dict[int, np.ndarray] = {}
    bits = np.arange(2**n)
    for column, op in enumerate(observables):
        if op.num_qubits != n:
            raise EngineError(f"observable {column} acts on {op.num_qubits} qubits, expected {n}")
        if not np.allclose(op.coeffs.imag, 0):
            raise EngineError(f"observable {column} has complex coefficients (not Hermitian)")
        for pauli, coeff in zip(op.paulis, op.coeffs, strict=True):
            x_mask = int(np.dot(pauli.x.astype(np.int64), 1 << np.arange(n)))
            z_mask = int(np.dot(pauli.z.astype(np.int64), 1 << np.arange(n)))
            # Qiskit: P = (-i)^q Y-count-corrected Z^z X^x with Y = -i Z X, so
            # P|j> = (-i)^(q + |x & z|) (-1)^|(j ^ x) & z| |j ^ x>.
            ny = bin(x_mask & z_mask).count("1")
            phase = (-1j) ** ((int(pauli.phase) + ny) % 4)
            signs = 1 - 2 * (np.bitwise_count((bits ^ x_mask) & z_mask).astype(np.int64) & 1)
            table = per_mask.setdefault(x_mask, np.zeros((2**n, len(observables)), dtype=complex))
            table[:, column] += complex(coeff) * phase * signs
    masks = sorted(per_mask)
    partners = np.stack([layout_of[canonical ^ m] for m in masks])
    weights = np.stack([per_mask[m][canonical] for m in masks])
    return ObservableTable(tuple(masks), partners, weights)
