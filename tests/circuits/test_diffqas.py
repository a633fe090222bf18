"""DiffQAS-QT candidates: checked against paper Table I and circuits written out gate by gate."""

from __future__ import annotations

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import ParameterVector
from qiskit.quantum_info import Operator, Statevector

from qmoe_qiskit.circuits import (
    CANDIDATES,
    Candidate,
    candidate_circuit,
    candidate_weights,
    constant_candidates,
    diffqas_entangler,
    equivalent_candidates,
)

# Paper Table I, column by column: (Hadamard gate, entanglement, rotation).
TABLE_I = {
    1: (True, "ent", "rx"),
    2: (True, "ent", "ry"),
    3: (True, "ent", "rz"),
    4: (True, "cyc", "rx"),
    5: (True, "cyc", "ry"),
    6: (True, "cyc", "rz"),
    7: (False, "ent", "rx"),
    8: (False, "ent", "ry"),
    9: (False, "ent", "rz"),
    10: (False, "cyc", "rx"),
    11: (False, "cyc", "ry"),
    12: (False, "cyc", "rz"),
}

# CNOT (control, target) pairs, in order, written out by hand.
ENT_PAIRS = {
    1: [],
    2: [(0, 1)],
    3: [(0, 1), (1, 2)],
    4: [(0, 1), (2, 3), (1, 2)],
    5: [(0, 1), (2, 3), (1, 2), (3, 4)],
}
CYC_PAIRS = {
    1: [],
    2: [(0, 1), (1, 0)],
    3: [(0, 1), (1, 2), (2, 0)],
    4: [(0, 1), (1, 2), (2, 3), (3, 0)],
    5: [(0, 1), (1, 2), (2, 3), (3, 4), (4, 0)],
}


def _pairs(circuit: QuantumCircuit) -> list[tuple[int, int]]:
    pairs = []
    for instruction in circuit.data:
        assert instruction.operation.name == "cx"
        control, target = (circuit.find_bit(q).index for q in instruction.qubits)
        pairs.append((control, target))
    return pairs


def _by_hand(index: int, n: int, w: np.ndarray, depth: int) -> QuantumCircuit:
    hadamard, entangler, rotation = TABLE_I[index]
    pairs = (ENT_PAIRS if entangler == "ent" else CYC_PAIRS)[n]
    qc = QuantumCircuit(n)
    if hadamard:
        for q in range(n):
            qc.h(q)
    for layer in range(depth):
        for control, target in pairs:
            qc.cx(control, target)
        for q in range(n):
            angle = float(w[layer * n + q])
            if rotation == "rx":
                qc.rx(angle, q)
            elif rotation == "ry":
                qc.ry(angle, q)
            else:
                qc.rz(angle, q)
    return qc


def test_candidates_follow_table_i():
    assert len(CANDIDATES) == 12
    for position, candidate in enumerate(CANDIDATES, start=1):
        assert candidate.index == position
        assert (candidate.hadamard, candidate.entangler, candidate.rotation) == TABLE_I[position]
    assert CANDIDATES[0].name == "h-ent-rx"
    assert CANDIDATES[11].name == "cyc-rz"
    assert len({c.name for c in CANDIDATES}) == 12


def test_candidate_validates_fields():
    with pytest.raises(ValueError, match="index"):
        Candidate(13, True, "ent", "rx")
    with pytest.raises(ValueError, match="entangler"):
        Candidate(1, True, "ring", "rx")
    with pytest.raises(ValueError, match="rotation"):
        Candidate(1, True, "ent", "u3")


@pytest.mark.parametrize("n", sorted(ENT_PAIRS))
def test_entangler_pairs(n):
    assert _pairs(diffqas_entangler(n, "ent")) == ENT_PAIRS[n]
    assert _pairs(diffqas_entangler(n, "cyc")) == CYC_PAIRS[n]


def test_entangler_rejects_unknown_kind():
    with pytest.raises(ValueError, match="unknown entangler"):
        diffqas_entangler(3, "cnot-ring")


@pytest.mark.parametrize("n", [3, 4])
@pytest.mark.parametrize("index", sorted(TABLE_I))
def test_candidate_matches_hand_built_circuit(index, n):
    depth = 2
    rng = np.random.default_rng(100 * n + index)
    w = rng.uniform(-np.pi, np.pi, size=n * depth)
    built = candidate_circuit(CANDIDATES[index - 1], n, list(w), depth)
    assert built.num_qubits == n
    expected = Operator(_by_hand(index, n, w, depth)).data
    np.testing.assert_allclose(Operator(built).data, expected, atol=1e-12)
    # An int index gives the same circuit.
    np.testing.assert_allclose(
        Operator(candidate_circuit(index, n, list(w), depth)).data, expected, atol=1e-12
    )


def test_weight_order_is_layer_then_qubit():
    n, depth = 3, 2
    theta = ParameterVector("t", n * depth)
    circuit = candidate_circuit(8, n, list(theta), depth)  # no H, Ent, RY
    rotations = [
        (inst.operation.params[0], circuit.find_bit(inst.qubits[0]).index)
        for inst in circuit.data
        if inst.operation.name == "ry"
    ]
    assert rotations == [(theta[layer * n + q], q) for layer in range(depth) for q in range(n)]


@pytest.mark.parametrize(("n", "depth"), [(1, 1), (3, 2), (4, 5), (17, 15)])
def test_parameter_counts(n, depth):
    assert candidate_weights(n, depth) == n * depth
    theta = ParameterVector("t", n * depth)
    assert candidate_circuit(2, n, list(theta), depth).num_parameters == n * depth
    assert candidate_weights(17, 15) == 255  # the paper's 17-qubit, depth-15 count


def test_wrong_weight_count_raises():
    with pytest.raises(ValueError, match="takes 8 weights"):
        candidate_circuit(1, 4, [0.1] * 7, 2)
    with pytest.raises(ValueError, match="takes 8 weights"):
        candidate_circuit(CANDIDATES[4], 4, [0.1] * 9, 2)
    with pytest.raises(ValueError, match="index"):
        candidate_circuit(0, 4, [0.1] * 8, 2)
    with pytest.raises(ValueError, match="trials"):
        constant_candidates(2, 1, trials=0)


# Expected constant candidates, from the analysis in the module docstring:
#   1, 4 (H + RX): |+> is an X eigenstate, so RX only adds a phase, and CNOTs (basis
#        permutations) leave |+...+> unchanged -> uniform distribution.
#   3, 6 (H + RZ): RZ only adds phases and CNOTs permute basis states; every amplitude keeps
#        modulus 2^(-n/2) -> uniform distribution.
#   9, 12 (no H + RZ): |0...0> is fixed by CNOTs and only gains a phase from RZ -> point mass.
# H + RY (2, 5) and no H + RX / RY (7, 8, 10, 11) do depend on the weights.
EXPECTED_CONSTANT = (1, 3, 4, 6, 9, 12)


@pytest.mark.parametrize("n", [3, 4])
def test_constant_candidates(n):
    assert constant_candidates(n, 2) == EXPECTED_CONSTANT
    assert constant_candidates(n, 2, trials=2, seed=7) == EXPECTED_CONSTANT


@pytest.mark.parametrize("n", [3, 4])
def test_constant_outputs_have_the_predicted_values(n):
    depth = 2
    w = list(np.random.default_rng(n).uniform(0, 2 * np.pi, size=n * depth))
    uniform = np.full(2**n, 2.0**-n)
    point = np.zeros(2**n)
    point[0] = 1.0
    for index, expected in [(1, uniform), (3, uniform), (4, uniform), (6, uniform)] + [
        (9, point),
        (12, point),
    ]:
        probs = Statevector(candidate_circuit(index, n, w, depth)).probabilities()
        np.testing.assert_allclose(probs, expected, atol=1e-12)


@pytest.mark.parametrize("n", [2, 3])
def test_equivalent_candidates_share_one_distribution(n):
    depth = 2
    equivalent = equivalent_candidates(n, depth)
    assert equivalent == {3: 1, 4: 1, 6: 1, 12: 9}
    # Independent check at weights the function never saw: each pair agrees, and the two
    # representatives (uniform vs |0...0>) differ.
    rng = np.random.default_rng(10 + n)

    def probs(index):
        w = list(rng.uniform(0, 2 * np.pi, size=n * depth))
        return Statevector(candidate_circuit(index, n, w, depth)).probabilities()

    for index, representative in equivalent.items():
        np.testing.assert_allclose(probs(index), probs(representative), atol=1e-12)
    assert np.max(np.abs(probs(1) - probs(9))) > 0.5


@pytest.mark.parametrize("index", [2, 5, 7, 8, 10, 11])
def test_non_degenerate_candidates_change_with_weights(index):
    n, depth = 3, 2
    rng = np.random.default_rng(index)
    a, b = rng.uniform(0, 2 * np.pi, size=(2, n * depth))
    pa = Statevector(candidate_circuit(index, n, list(a), depth)).probabilities()
    pb = Statevector(candidate_circuit(index, n, list(b), depth)).probabilities()
    assert np.max(np.abs(pa - pb)) > 1e-3


def test_one_qubit_rx_by_hand():
    # Hand-checked single case: no H, Ent, RX with all angles pi/2 on 1 qubit
    # gives RX(pi/2) RX(pi/2)|0> = RX(pi)|0> = -i|1>.
    p1 = Statevector(candidate_circuit(7, 1, [np.pi / 2, np.pi / 2], 2)).probabilities()
    np.testing.assert_allclose(p1, [0.0, 1.0], atol=1e-12)
