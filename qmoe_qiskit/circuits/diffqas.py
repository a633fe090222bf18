"""The 12 candidate VQCs of DiffQAS-QT (Chen et al., paper Table I).

DiffQAS-QT mixes 12 fixed-structure candidate circuits that share one weight vector ``Theta``.
A candidate is chosen along three axes (paper Sec. V, Table I):

* Hadamard layer: yes for configs 1-6, no for 7-12;
* entangler: ``"ent"`` for 1-3 and 7-9, ``"cyc"`` for 4-6 and 10-12;
* rotation: RX, RY, RZ cycling within each group of three (1 = H + Ent + RX, ...,
  12 = no H + Cyc + RZ).

Layer structure (our reading, with the evidence):

* The Hadamard layer is applied **once, at the start**. The paper says the first design axis
  is "whether to apply Hadamard gates at initialization to generate unbiased superpositions"
  (Sec. V), and the authors' public VQC code (the ``H_layer`` / ``entangling_layer`` /
  ``cycle_entangling_layer`` helpers of S. Y.-C. Chen's QRL/QFWP PennyLane scripts) calls
  ``H_layer`` once before the layer loop.
* Each of the ``depth`` layers is **entangler, then rotation**: the authors' layer loop applies
  the entangling layer and then the rotation layer with that layer's weights. The paper text
  itself is silent on the order (it lives only in its Fig. 3). The degenerate set reported by
  :func:`constant_candidates` is the same for either order (see below).
* There is no input encoding (Quantum-Train starts from ``|0...0>``) and no final entangler.
* Weights: one angle per qubit and layer, ``weights[layer * num_qubits + qubit]``, so a circuit
  has ``num_qubits * depth`` weights (the paper's counts fit ``n x depth``: 17 x 15 = 255).

Entanglers (:func:`diffqas_entangler`), as in the authors' code:

* ``"ent"``: CNOT(i, i+1) for even i, then CNOT(i, i+1) for odd i (a brick layer that adds
  up to a full nearest-neighbour chain, not the cascade ``0->1->2...``);
* ``"cyc"``: CNOT(i, (i+1) mod n) for every i, in increasing i. On two qubits this is
  CNOT(0, 1) then CNOT(1, 0); the authors' loop does exactly this, so we keep it (unlike this
  package's ``"cnot-ring"``, which drops the closing gate below three qubits). On one qubit
  the authors' loop would ask for CNOT(0, 0), which is not a gate; both entanglers are empty
  there.

Degenerate candidates. Six of the 12 give a basis-probability vector that does not depend on
``Theta`` for every width and depth (checked numerically by :func:`constant_candidates`):

* 1 (H + Ent + RX) and 4 (H + Cyc + RX): ``H|0> = |+>`` is an eigenstate of X, so
  ``RX(t)|+> = exp(-i t/2)|+>`` only adds a global phase, and ``|+...+>`` (the uniform
  superposition with equal phases) is mapped to itself by every CNOT, a basis permutation.
  The state stays ``|+...+>``: uniform probabilities.
* 3 (H + Ent + RZ) and 6 (H + Cyc + RZ): RZ layers are diagonal (phases only) and CNOTs
  permute basis states, so every amplitude keeps modulus ``2^(-n/2)``: uniform probabilities.
* 9 (Ent + RZ) and 12 (Cyc + RZ): ``|0...0>`` is fixed by CNOTs and only picks up a phase
  from RZ: all probability stays on ``|0...0>``.

These arguments hold for both layer orders. The other six (H + RY, no H + RX, no H + RY, each
with both entanglers) do depend on ``Theta``. In Quantum-Train a constant candidate still
feeds its fixed distribution to the mapping network, but contributes no gradient to ``Theta``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeAlias

import numpy as np
from qiskit.circuit import ParameterExpression, QuantumCircuit
from qiskit.quantum_info import Statevector

__all__ = [
    "CANDIDATES",
    "Candidate",
    "as_candidate",
    "candidate_circuit",
    "candidate_weights",
    "constant_candidates",
    "equivalent_candidates",
    "diffqas_entangler",
]

Angle: TypeAlias = ParameterExpression | float

_ENTANGLERS = ("ent", "cyc")
_ROTATIONS = ("rx", "ry", "rz")


@dataclass(frozen=True)
class Candidate:
    """One DiffQAS-QT candidate configuration (a column of paper Table I).

    Attributes:
        index: Config number, 1..12, as in the paper.
        hadamard: Whether a Hadamard layer is applied once at the start.
        entangler: ``"ent"`` or ``"cyc"``; see :func:`diffqas_entangler`.
        rotation: ``"rx"``, ``"ry"`` or ``"rz"``: the gate of every rotation layer.
    """

    index: int
    hadamard: bool
    entangler: str
    rotation: str

    def __post_init__(self) -> None:
        if not 1 <= self.index <= 12:
            raise ValueError(f"candidate index must be in 1..12, got {self.index}")
        if self.entangler not in _ENTANGLERS:
            raise ValueError(f"unknown entangler {self.entangler!r}; use one of {_ENTANGLERS}")
        if self.rotation not in _ROTATIONS:
            raise ValueError(f"unknown rotation {self.rotation!r}; use one of {_ROTATIONS}")

    @property
    def name(self) -> str:
        """Short label, e.g. ``"h-ent-rx"`` for config 1 or ``"cyc-rz"`` for config 12."""
        prefix = "h-" if self.hadamard else ""
        return f"{prefix}{self.entangler}-{self.rotation}"


CANDIDATES: tuple[Candidate, ...] = tuple(
    Candidate(
        index=index,
        hadamard=index <= 6,
        entangler=_ENTANGLERS[((index - 1) // 3) % 2],
        rotation=_ROTATIONS[(index - 1) % 3],
    )
    for index in range(1, 13)
)
"""The 12 candidates in paper order: ``CANDIDATES[i - 1].index == i``."""


def candidate_weights(num_qubits: int, depth: int) -> int:
    """Weights a candidate circuit takes: one angle per qubit and layer."""
    return num_qubits * depth


def diffqas_entangler(num_qubits: int, kind: str) -> QuantumCircuit:
    """A fixed DiffQAS-QT CNOT layer.

    Args:
        num_qubits: Register width (at least 1).
        kind: ``"ent"``: CNOT(i, i+1) for even ``i``, then for odd ``i``; ``"cyc"``:
            CNOT(i, (i+1) mod n) for ``i = 0..n-1`` (on two qubits: CNOT(0, 1), CNOT(1, 0)).

    Returns:
        The entangler circuit (empty for one qubit).
    """
    if kind not in _ENTANGLERS:
        raise ValueError(f"unknown entangler {kind!r}; use one of {_ENTANGLERS}")
    if num_qubits < 1:
        raise ValueError(f"num_qubits must be at least 1, got {num_qubits}")
    circuit = QuantumCircuit(num_qubits, name=kind)
    if num_qubits == 1:
        return circuit
    if kind == "ent":
        for start in (0, 1):
            for qubit in range(start, num_qubits - 1, 2):
                circuit.cx(qubit, qubit + 1)
    else:
        for qubit in range(num_qubits):
            circuit.cx(qubit, (qubit + 1) % num_qubits)
    return circuit


def as_candidate(candidate: Candidate | int) -> Candidate:
    """A :class:`Candidate` from itself or its paper index 1..12."""
    if isinstance(candidate, Candidate):
        return candidate
    if isinstance(candidate, int) and 1 <= candidate <= len(CANDIDATES):
        return CANDIDATES[candidate - 1]
    raise ValueError(f"candidate must be a Candidate or an index in 1..12, got {candidate!r}")


def candidate_circuit(
    candidate: Candidate | int,
    num_qubits: int,
    weights: Sequence[Angle],
    depth: int,
) -> QuantumCircuit:
    """One DiffQAS-QT candidate VQC, starting from ``|0...0>`` (no input encoding).

    Structure: an optional Hadamard on every qubit (once), then ``depth`` layers of
    (entangler, then ``candidate.rotation`` on every qubit). Weight
    ``weights[layer * num_qubits + qubit]`` drives the rotation on ``qubit`` in ``layer``.

    Args:
        candidate: A :class:`Candidate` or its paper index 1..12.
        num_qubits: Register width (at least 1).
        weights: ``num_qubits * depth`` angles, shared by all candidates in DiffQAS-QT.
        depth: Number of layers (at least 1).

    Returns:
        The candidate circuit on ``num_qubits`` qubits, named after ``candidate.name``.
    """
    candidate = as_candidate(candidate)
    if num_qubits < 1:
        raise ValueError(f"num_qubits must be at least 1, got {num_qubits}")
    if depth < 1:
        raise ValueError(f"depth must be at least 1, got {depth}")
    expected = candidate_weights(num_qubits, depth)
    if len(weights) != expected:
        raise ValueError(
            f"candidate {candidate.index} ({candidate.name}) takes {expected} weights "
            f"({depth} layers x {num_qubits} qubits), got {len(weights)}"
        )
    entangler = diffqas_entangler(num_qubits, candidate.entangler)
    circuit = QuantumCircuit(num_qubits, name=candidate.name)
    if candidate.hadamard:
        circuit.h(range(num_qubits))
    for layer in range(depth):
        circuit.compose(entangler, inplace=True)
        for qubit in range(num_qubits):
            getattr(circuit, candidate.rotation)(weights[layer * num_qubits + qubit], qubit)
    return circuit


def constant_candidates(
    num_qubits: int,
    depth: int,
    *,
    trials: int = 4,
    seed: int = 0,
    atol: float = 1e-10,
) -> tuple[int, ...]:
    """Indices of candidates whose basis probabilities do not depend on the weights.

    Found numerically: each candidate's ``Statevector(...).probabilities()`` at ``trials``
    weight vectors drawn uniformly from ``[0, 2 pi)`` is compared with its output at one more
    such draw; a candidate is constant when every difference is within ``atol``. The same
    weight draws are used for every candidate. See the module docstring for why 1, 3, 4, 6, 9
    and 12 are constant.

    Args:
        num_qubits: Register width (at least 1).
        depth: Number of layers (at least 1).
        trials: Weight vectors compared with the reference draw (at least 1).
        seed: Seed of the weight draws.
        atol: Absolute tolerance on each probability.

    Returns:
        The constant candidates' indices, increasing.
    """
    if trials < 1:
        raise ValueError(f"trials must be at least 1, got {trials}")
    rng = np.random.default_rng(seed)
    count = candidate_weights(num_qubits, depth)
    draws = rng.uniform(0.0, 2.0 * np.pi, size=(trials + 1, count))
    constant = []
    for candidate in CANDIDATES:
        reference, *others = (
            Statevector(candidate_circuit(candidate, num_qubits, list(w), depth)).probabilities()
            for w in draws
        )
        if all(np.allclose(p, reference, rtol=0.0, atol=atol) for p in others):
            constant.append(candidate.index)
    return tuple(constant)


def equivalent_candidates(num_qubits: int, depth: int, *, atol: float = 1e-10) -> dict[int, int]:
    """Constant candidates that give the same distribution as a lower-numbered one.

    Two constant candidates (:func:`constant_candidates`) with equal basis probabilities are the
    same generator: a Quantum-Train model built on either, with the same seed, is the same
    function of its trained parameters (it differs only in floating-point rounding), so a study
    need train only the lower-numbered one. With the paper's 12 candidates: 3, 4 and 6 give
    config 1's uniform distribution, and 12 gives config 9's ``|0...0>``.

    Args:
        num_qubits: Register width (at least 1).
        depth: Number of layers (at least 1).
        atol: Absolute tolerance on each probability.

    Returns:
        ``{candidate: representative}`` for every constant candidate whose distribution equals
        that of a lower-numbered constant candidate (its representative, the lowest such).
    """
    constant = constant_candidates(num_qubits, depth, atol=atol)
    weights = [0.0] * candidate_weights(num_qubits, depth)
    outputs = {
        index: Statevector(candidate_circuit(index, num_qubits, weights, depth)).probabilities()
        for index in constant
    }
    equivalent: dict[int, int] = {}
    for index in constant:
        for earlier in constant:
            if earlier >= index:
                break
            if earlier not in equivalent and np.allclose(
                outputs[index], outputs[earlier], rtol=0.0, atol=atol
            ):
                equivalent[index] = earlier
                break
    return equivalent
