"""Per-shot branches of a dynamic circuit, checked gate by gate."""

from __future__ import annotations

import pytest
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister

from qmoe_qiskit.circuits import branch_circuits, condition_bits, is_dynamic


def _names(circuit: QuantumCircuit) -> list[tuple[str, tuple[int, ...]]]:
    return [
        (inst.operation.name, tuple(circuit.find_bit(q).index for q in inst.qubits))
        for inst in circuit.data
    ]


def test_each_outcome_runs_the_blocks_its_bits_select():
    q = QuantumRegister(3, "q")
    c = ClassicalRegister(2, "c")
    circuit = QuantumCircuit(q, c)
    circuit.h(0)
    circuit.measure([0, 1], c)
    with circuit.if_test((c, 2)):  # c reads 2: bit 1 set, bit 0 clear
        circuit.cx(2, 1)
    with circuit.if_test((c[0], 1)) as otherwise:
        circuit.x(2)
    with otherwise:
        circuit.y(2)
    assert is_dynamic(circuit) and condition_bits(circuit) == list(c)
    branches = branch_circuits(circuit)
    assert sorted(branches) == ["00", "01", "10", "11"]
    prefix = [("h", (0,)), ("measure", (0,)), ("measure", (1,))]
    assert _names(branches["00"]) == [*prefix, ("y", (2,))]
    assert _names(branches["01"]) == [*prefix, ("x", (2,))]
    assert _names(branches["10"]) == [*prefix, ("cx", (2, 1)), ("y", (2,))]
    assert _names(branches["11"]) == [*prefix, ("x", (2,))]
    assert not any(is_dynamic(b) for b in branches.values())


def test_static_circuit_is_its_only_branch():
    circuit = QuantumCircuit(2)
    circuit.cx(0, 1)
    assert not is_dynamic(circuit)
    assert branch_circuits(circuit) == {"": circuit}


def test_loops_are_refused():
    circuit = QuantumCircuit(1, 1)
    circuit.measure(0, 0)
    with circuit.while_loop((circuit.clbits[0], 1)):
        circuit.x(0)
    with pytest.raises(ValueError, match="while_loop is not resolved per shot"):
        branch_circuits(circuit)
