"""routing.execution = "measured": the dynamic circuit against the coherent one.

The identity (deferred measurement) is checked two independent ways: exactly, as the sum over
measurement outcomes of each branch's projected expectation (statevectors of the branch
circuits, projected by hand), and by Aer's dynamic-circuit simulation with 10^5 shots.
"""

from __future__ import annotations

import numpy as np
import pytest
from qiskit import ClassicalRegister, QuantumCircuit, transpile
from qiskit.quantum_info import Statevector
from qiskit_aer import AerSimulator

from qmoe_qiskit import compile_model
from qmoe_qiskit.circuits import branch_circuits
from tests.conftest import make_spec

MEASURED = {"routing.execution": "measured"}
CASES = [
    {"experts.count": 4},
    {"experts.count": 3},  # an unused routing state: no expert there
    {"experts.count": 2, "experts.operators": "rx+ry+rz", "experts.entangler": "cnot-chain"},
    {"experts.count": 3, "routing.encoding": "onehot"},  # several experts may run per shot
    {"experts.count": 4, "experts.reupload": True, "experts.hadamard": True},
    {"experts.count": 4, "routing.reupload": True, "encoder.entangle": "within"},
]


def _bound(model, circuit: QuantumCircuit, x, w) -> QuantumCircuit:
    values = dict(zip(model.input_params, x, strict=True))
    values.update(zip(model.weight_params, w, strict=True))
    return circuit.assign_parameters(values)


def _coherent(model, x, w) -> np.ndarray:
    state = Statevector(_bound(model, model.circuit, x, w))
    return np.array([state.expectation_value(o).real for o in model.observables])


def _branch_sum(model, x, w) -> np.ndarray:
    """Sum over outcomes b of <psi_b| P_b (x) Z_c |psi_b>, psi_b the branch without its
    measurements (the routing register is not touched after it is measured, so projecting at
    the end equals projecting at the measurement)."""
    route = model.route_qubits
    data = model.data_qubits
    total = np.zeros(model.num_classes)
    dynamic = _bound(model, model.dynamic_circuit, x, w)
    for key, branch in branch_circuits(dynamic).items():
        unitary = QuantumCircuit(branch.num_qubits)
        for inst in branch.data:
            if inst.operation.name != "measure":
                unitary.append(inst.operation, [branch.find_bit(q).index for q in inst.qubits])
        probs = np.abs(Statevector(unitary).data) ** 2
        index = np.arange(probs.size)
        bits = [int(b) for b in reversed(key)]  # bit j of the outcome: routing qubit j
        keep = np.ones(probs.size, dtype=bool)
        for j, qubit in enumerate(route):
            keep &= ((index >> qubit) & 1) == bits[j]
        for c in range(model.num_classes):
            sign = 1 - 2 * ((index >> data[c]) & 1)
            total[c] += float(np.sum(probs[keep] * sign[keep]))
    return total


@pytest.mark.parametrize("changes", CASES)
def test_measured_form_has_the_coherent_expectations(changes, rng):
    model = compile_model(make_spec(**changes, **MEASURED))
    dynamic = model.dynamic_circuit
    assert dynamic is not None and model.circuit.num_clbits == 0
    assert dynamic.count_ops()["if_else"] == model.num_experts
    assert dynamic.count_ops()["measure"] == len(model.route_qubits)
    assert set(dynamic.parameters) == set(model.circuit.parameters)
    for _ in range(2):
        x = rng.uniform(-1, 1, model.num_inputs)
        w = rng.uniform(-np.pi, np.pi, model.num_weights)
        np.testing.assert_allclose(_branch_sum(model, x, w), _coherent(model, x, w), atol=1e-10)


@pytest.mark.parametrize("changes", [CASES[1], CASES[3]])
def test_aer_dynamic_simulation_agrees_to_shot_noise(changes, rng):
    model = compile_model(make_spec(**changes, **MEASURED))
    x = rng.uniform(-1, 1, model.num_inputs)
    w = rng.uniform(-np.pi, np.pi, model.num_weights)
    circuit = _bound(model, model.dynamic_circuit, x, w)
    meas = ClassicalRegister(model.num_classes, "meas")
    circuit.add_register(meas)
    circuit.measure(list(model.data_qubits[: model.num_classes]), meas)
    simulator = AerSimulator(seed_simulator=7)
    shots = 100_000
    counts = simulator.run(transpile(circuit, simulator), shots=shots).result().get_counts()
    z = np.zeros(model.num_classes)
    for key, n in counts.items():
        bits = key.split()[0]  # the register added last is printed first
        z += n * np.array([1 - 2 * int(bits[-1 - c]) for c in range(model.num_classes)])
    # 5 standard errors of a +-1 variable's mean at 10^5 shots
    np.testing.assert_allclose(z / shots, _coherent(model, x, w), atol=5 / np.sqrt(shots))


def _two_qubit(circuit: QuantumCircuit) -> int:
    flat = transpile(circuit, basis_gates=["rx", "ry", "rz", "h", "cx"], optimization_level=0)
    return sum(1 for inst in flat.data if inst.operation.num_qubits == 2)


def test_one_expert_per_shot_in_the_two_qubit_count():
    coherent = compile_model(make_spec(**{"experts.count": 4}))
    measured = compile_model(make_spec(**{"experts.count": 4}, **MEASURED))
    summary = measured.summary()
    assert summary["two_qubit_gates"] == coherent.summary()["two_qubit_gates"]  # trains coherent
    # encoder + routing ansatz + one expert: 2 layers of a CNOT ring on 4 data qubits
    prefix = _two_qubit(measured.stages["encoder"]) + _two_qubit(measured.stages["routing"])
    assert summary["measured_two_qubit_gates"] == prefix + 2 * 4
    assert summary["measured_two_qubit_gates"] < summary["two_qubit_gates"]
    assert any("execution: measured" in line for line in measured.describe())
