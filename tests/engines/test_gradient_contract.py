"""BatchedParamShiftEstimatorGradient keeps BaseEstimatorGradient's contract.

Cases modelled on qiskit-machine-learning's own estimator-gradient tests (operators, gates,
coefficients, parameter subsets and order, several circuits, validation, options, preserved
instructions, pass managers), written here against values computed independently: analytic
derivatives, or central finite differences of ``Statevector`` expectation values.
"""

from __future__ import annotations

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.circuit.library import RXXGate, RYYGate, RZXGate, RZZGate, efficient_su2
from qiskit.primitives import StatevectorEstimator
from qiskit.providers.fake_provider import GenericBackendV2
from qiskit.quantum_info import SparsePauliOp, Statevector
from qiskit.transpiler import generate_preset_pass_manager
from qiskit_machine_learning.gradients import DerivativeType

from qmoe_qiskit.engines.aer import BatchedParamShiftEstimatorGradient

Z = SparsePauliOp("Z")
ZI = SparsePauliOp("ZI")


def _gradient(**kwargs) -> BatchedParamShiftEstimatorGradient:
    return BatchedParamShiftEstimatorGradient(StatevectorEstimator(), **kwargs)


def _finite_difference(circuit, observable, values, parameters=None, eps=1e-6):
    order = list(circuit.parameters)
    parameters = order if parameters is None else parameters

    def f(v):
        bound = circuit.assign_parameters(dict(zip(order, v, strict=True)))
        return Statevector(bound).expectation_value(observable).real

    values = np.asarray(values, dtype=float)
    out = []
    for p in parameters:
        i = order.index(p)
        up, down = values.copy(), values.copy()
        up[i] += eps
        down[i] -= eps
        out.append((f(up) - f(down)) / (2 * eps))
    return np.array(out)


def _h_p_h() -> tuple[QuantumCircuit, Parameter]:
    a = Parameter("a")
    qc = QuantumCircuit(1)
    qc.h(0)
    qc.p(a, 0)
    qc.h(0)
    return qc, a


def test_single_circuit_and_observable_need_no_lists():
    qc, _ = _h_p_h()
    gradient = _gradient()
    for value, expected in ((np.pi / 4, -1 / np.sqrt(2)), (0.0, 0.0), (np.pi / 2, -1.0)):
        listed = gradient.run([qc], [Z], [[value]]).result().gradients[0]
        bare = gradient.run(qc, Z, [[value]]).result().gradients[0]
        assert listed[0] == pytest.approx(expected, abs=1e-12)
        assert bare[0] == pytest.approx(expected, abs=1e-12)


def test_u_gate_and_efficient_su2_match_finite_differences(rng):
    a, b, c = Parameter("a"), Parameter("b"), Parameter("c")
    u = QuantumCircuit(1)
    u.h(0)
    u.u(a, b, c, 0)
    u.h(0)
    su2 = efficient_su2(2, reps=1)
    for circuit, op in ((u, Z), (su2, ZI)):
        gradient = _gradient()
        for _ in range(3):
            values = rng.uniform(-np.pi, np.pi, circuit.num_parameters)
            got = gradient.run([circuit], [op], [values]).result().gradients[0]
            np.testing.assert_allclose(got, _finite_difference(circuit, op, values), atol=1e-8)


@pytest.mark.parametrize("gate", [RXXGate, RYYGate, RZZGate, RZXGate])
def test_two_qubit_rotations(gate):
    a = Parameter("a")
    qc = QuantumCircuit(2)
    if gate is RZZGate:
        qc.h([0, 1])
    qc.append(gate(a), [0, 1])
    if gate is RZZGate:
        qc.h([0, 1])
    gradient = _gradient()
    for value, expected in ((np.pi / 4, -1 / np.sqrt(2)), (np.pi / 2, -1.0)):
        got = gradient.run([qc], [ZI], [[value]]).result().gradients[0]
        assert got[0] == pytest.approx(expected, abs=1e-12)


def test_parameter_coefficients_affine_and_not(rng):
    w = [Parameter(f"w{i}") for i in range(4)]
    qc = QuantumCircuit(2)
    qc.ry(w[0], 0)
    qc.ry(w[1], 1)
    qc.cx(0, 1)
    qc.ry(w[2], 0)
    qc.ry(w[3], 1)
    qc.rz(w[0].exp() + 2 * w[1], 0)
    qc.rx(3.0 * w[0] + w[1].sin(), 1)
    qc.u(w[0], w[1], w[3], 1)
    qc.p(2 * w[0] + 1, 0)
    qc.rxx(w[0] + 2, 0, 1)
    gradient = _gradient()
    for values in ([np.pi / 4] * 4, [np.pi / 2] * 4, rng.uniform(-2, 2, 4)):
        got = gradient.run([qc], [ZI], [values]).result().gradients[0]
        np.testing.assert_allclose(got, _finite_difference(qc, ZI, values), atol=1e-8)


def test_parameter_subsets_keep_the_requested_order():
    a, b, c = Parameter("a"), Parameter("b"), Parameter("c")
    qc = QuantumCircuit(1)
    qc.rx(a, 0)
    qc.rz(b, 0)
    qc.rx(c, 0)
    values = [np.pi / 4, np.pi / 2, np.pi / 3]
    for subset in ([a, b, c], [c, b, a], [a, c], [c, a], [b]):
        got = _gradient().run([qc], [Z], [values], parameters=[subset]).result().gradients[0]
        np.testing.assert_allclose(got, _finite_difference(qc, Z, values, subset), atol=1e-8)


def test_several_circuits_with_their_own_parameters():
    a, b, c = Parameter("a"), Parameter("b"), Parameter("c")
    qc1 = QuantumCircuit(1)
    qc1.rx(a, 0)
    qc2 = QuantumCircuit(1)
    qc2.rx(b, 0)
    qc3 = QuantumCircuit(1)
    qc3.rx(c, 0)
    qc3.ry(a, 0)
    gradient = _gradient()
    got = gradient.run([qc1, qc2], [Z, Z], [[np.pi / 4], [np.pi / 2]]).result().gradients
    np.testing.assert_allclose(got, [[-1 / np.sqrt(2)], [-1.0]], atol=1e-12)
    values = [[np.pi / 4], [np.pi / 4, np.pi / 4], [np.pi / 4, np.pi / 4]]
    got = gradient.run([qc1, qc3, qc3], [Z] * 3, values, parameters=[[a], [c], None])
    got = got.result().gradients
    np.testing.assert_allclose(got[0], [-1 / np.sqrt(2)], atol=1e-12)
    np.testing.assert_allclose(got[1], [-0.5], atol=1e-12)
    np.testing.assert_allclose(got[2], [-0.5, -0.5], atol=1e-12)


def test_mismatched_arguments_are_value_errors():
    a = Parameter("a")
    qc = QuantumCircuit(1)
    qc.rx(a, 0)
    gradient = _gradient()
    values = [[np.pi / 4], [np.pi / 2]]
    with pytest.raises(ValueError):
        gradient.run([qc], [Z], values)
    with pytest.raises(ValueError):
        gradient.run([qc, qc], [Z, Z], values, parameters=[[a]])
    with pytest.raises(ValueError):
        gradient.run([qc, qc], [Z], values, parameters=[[a]])
    with pytest.raises(ValueError):
        gradient.run([qc], [Z], [[np.pi / 4, np.pi / 4]])


def test_only_real_derivatives_are_offered():
    for kind in (DerivativeType.IMAG, DerivativeType.COMPLEX):
        with pytest.raises(ValueError, match="real derivatives only"):
            _gradient(derivative_type=kind)
    assert _gradient().derivative_type == DerivativeType.REAL


class _PrecisionSpy(StatevectorEstimator):
    def __init__(self):
        super().__init__()
        self.precisions: list[float | None] = []

    def run(self, pubs, *, precision=None):
        self.precisions.append(precision)
        return super().run(pubs, precision=precision)


def test_options_priority_and_precision_reach_the_estimator():
    qc, _ = _h_p_h()
    spy = _PrecisionSpy()
    gradient = BatchedParamShiftEstimatorGradient(spy, options={"precision": 0.2})
    assert gradient.options.get("precision") == 0.2
    assert gradient.run([qc], [Z], [[1.0]]).result().options.get("precision") == 0.2
    gradient.update_default_options(precision=0.1)
    assert gradient.options.get("precision") == 0.1
    assert gradient.run([qc], [Z], [[1.0]]).result().options.get("precision") == 0.1
    result = gradient.run([qc], [Z], [[1.0]], precision=0.05).result()
    assert result.options.get("precision") == 0.05
    assert gradient.options.get("precision") == 0.1  # run options are not kept
    assert spy.precisions == [0.2, 0.1, 0.05]
    plain = BatchedParamShiftEstimatorGradient(spy)
    plain.run([qc], [Z], [[1.0]]).result()
    assert spy.precisions[-1] is None  # the estimator's own default applies


def test_options_a_v2_estimator_cannot_take_are_refused():
    qc, _ = _h_p_h()
    with pytest.raises(ValueError, match="unknown gradient option 'shots'"):
        _gradient(options={"shots": 100})
    gradient = _gradient()
    with pytest.raises(ValueError, match="unknown gradient option 'shots'"):
        gradient.update_default_options(shots=100)
    with pytest.raises(ValueError, match="unknown gradient option 'shots'"):
        gradient.run([qc], [Z], [[1.0]], shots=300).result()


class _RecordingEstimator(StatevectorEstimator):
    def __init__(self):
        super().__init__()
        self.circuits: list[QuantumCircuit] = []

    def run(self, pubs, *, precision=None):
        pubs = list(pubs)
        self.circuits.extend(pub[0] for pub in pubs)
        return super().run(pubs, precision=precision)


def test_non_parameterized_instructions_are_preserved():
    x = Parameter("x")
    qc = QuantumCircuit(2)
    qc.initialize([0.5, 0.5, 0.5, 0.5])
    qc.crx(x, 0, 1)
    recorder = _RecordingEstimator()
    gradient = BatchedParamShiftEstimatorGradient(recorder)
    got = gradient.run([qc], [SparsePauliOp("XX")], [[np.pi / 2]]).result().gradients[0]
    assert got[0] == pytest.approx(-1 / (2 * np.sqrt(2)), abs=1e-12)
    assert all("initialize" in c.count_ops() for c in recorder.circuits)
    assert all("crx" not in c.count_ops() for c in recorder.circuits)


class _IsaEstimator(StatevectorEstimator):
    """An exact estimator that, like a Runtime estimator on hardware, rejects non-ISA input."""

    def __init__(self, backend):
        super().__init__()
        self.target = backend.target
        self.num_qubits = backend.num_qubits

    def run(self, pubs, *, precision=None):
        pubs = list(pubs)
        for circuit, observables, *_ in pubs:
            if circuit.num_qubits != self.num_qubits:
                raise ValueError("circuit is not laid out: not supported by the target")
            for instruction in circuit.data:
                qargs = tuple(circuit.find_bit(q).index for q in instruction.qubits)
                name = instruction.operation.name
                if not self.target.instruction_supported(name, qargs):
                    raise ValueError(f"The instruction {name} on qubits {qargs} is not supported")
            for (op,) in observables:
                if op.num_qubits != self.num_qubits:
                    raise ValueError("observable is not laid out: not supported by the target")
        return super().run(pubs, precision=precision)


@pytest.fixture(scope="module")
def backend():
    return GenericBackendV2(num_qubits=3, seed=123)


def test_pass_manager_sends_isa_circuits_and_laid_out_observables(backend, rng):
    qc = efficient_su2(2, reps=1)
    values = rng.uniform(-np.pi, np.pi, qc.num_parameters)
    without = BatchedParamShiftEstimatorGradient(_IsaEstimator(backend))
    with pytest.raises(ValueError, match="not supported"):
        without.run([qc], [ZI], [values]).result()
    pass_manager = generate_preset_pass_manager(optimization_level=1, backend=backend)
    gradient = BatchedParamShiftEstimatorGradient(_IsaEstimator(backend), pass_manager=pass_manager)
    got = gradient.run([qc], [ZI], [values]).result().gradients[0]
    np.testing.assert_allclose(got, _finite_difference(qc, ZI, values), atol=1e-8)
    subset = [qc.parameters[5], qc.parameters[0]]
    got = gradient.run([qc], [ZI], [values], parameters=[subset]).result().gradients[0]
    np.testing.assert_allclose(got, _finite_difference(qc, ZI, values, subset), atol=1e-8)


def test_runtime_estimator_on_a_fake_backend(rng):
    """qiskit-ibm-runtime's current Estimator in local mode (FakeManila's noise, shots)."""
    from qiskit_ibm_runtime.executor_estimator import Estimator
    from qiskit_ibm_runtime.fake_provider import FakeManilaV2

    backend = FakeManilaV2()
    estimator = Estimator(mode=backend)
    estimator.options.resilience_level = 0
    estimator.options.default_shots = 20_000
    estimator.options.simulator.seed_simulator = 5
    qc = efficient_su2(2, reps=1)
    values = rng.uniform(-np.pi, np.pi, qc.num_parameters)
    pass_manager = generate_preset_pass_manager(optimization_level=1, backend=backend)
    gradient = BatchedParamShiftEstimatorGradient(estimator, pass_manager=pass_manager)
    got = gradient.run([qc], [ZI], [values]).result().gradients[0]
    # Shot noise (sigma ~ 0.005 per gradient entry) and the device noise model's bias.
    np.testing.assert_allclose(got, _finite_difference(qc, ZI, values), atol=0.1)
    bare = BatchedParamShiftEstimatorGradient(estimator)
    with pytest.raises(Exception, match="(?i)not supported|ISA|target|unexpected operand"):
        bare.run([qc], [ZI], [values]).result()
