"""Gradients: finite differences of Statevector expectations, independent of Aer and of us."""

from __future__ import annotations

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.quantum_info import SparsePauliOp, Statevector
from qiskit_aer.primitives import EstimatorV2

from qmoe_qiskit import compile_model
from qmoe_qiskit.engines.aer import BatchedParamShiftEstimatorGradient, build_qnn
from tests.conftest import make_spec


def _statevector_outputs(model, x, w):
    state = Statevector(model.bind(x, w))
    return np.array([state.expectation_value(o).real for o in model.observables])


def _finite_difference(f, v, eps=1e-6):
    grads = []
    for i in range(len(v)):
        up, down = v.copy(), v.copy()
        up[i] += eps
        down[i] -= eps
        grads.append((f(up) - f(down)) / (2 * eps))
    return np.stack(grads, axis=-1)


SMALL = {
    "experts.data_qubits": 2,
    "classes": 2,
    "encoder.features": 8,
    "experts.layers": 1,
    "routing.layers": 1,
}


@pytest.mark.parametrize(
    "changes",
    [
        {"experts.count": 2, "experts.operators": "rx+ry+rz"},
        {"experts.count": 3, "experts.operators": "ry"},  # controlled gates: angles theta/2
        {"experts.count": 2, "routing.encoding": "onehot", "routing.aggregation": "interfere"},
    ],
)
def test_qnn_gradients_match_finite_differences(changes, rng):
    model = compile_model(make_spec(**SMALL, **changes))
    qnn = build_qnn(model, device="cpu", input_gradients=True)
    x = rng.uniform(0, np.pi, (3, model.num_inputs))
    w = rng.uniform(-np.pi, np.pi, model.num_weights)
    forward = qnn.forward(x, w)
    input_grad, weight_grad = qnn.backward(x, w)
    for s in range(len(x)):
        np.testing.assert_allclose(forward[s], _statevector_outputs(model, x[s], w), atol=1e-10)
        fd_w = _finite_difference(lambda v, s=s: _statevector_outputs(model, x[s], v), w)
        fd_x = _finite_difference(lambda v: _statevector_outputs(model, v, w), x[s])
        np.testing.assert_allclose(weight_grad[s], fd_w, atol=1e-7)
        np.testing.assert_allclose(input_grad[s], fd_x, atol=1e-7)


def test_weight_only_gradients_and_default_gradient_agree(rng):
    model = compile_model(make_spec(**SMALL, **{"experts.count": 2}))
    x = rng.uniform(0, np.pi, (4, model.num_inputs))
    w = rng.uniform(-np.pi, np.pi, model.num_weights)
    ours = build_qnn(model, device="cpu")
    default = build_qnn(model, device="cpu", gradient="param-shift")
    in_ours, w_ours = ours.backward(x, w)
    _, w_default = default.backward(x, w)
    assert in_ours is None
    np.testing.assert_allclose(w_ours, w_default, atol=1e-12)


class _CountingEstimator(EstimatorV2):
    calls = 0

    def run(self, pubs, precision=None):
        type(self).calls += 1
        return super().run(pubs, precision=precision)


def test_one_primitive_call_per_backward_pass(rng):
    model = compile_model(make_spec(**SMALL, **{"experts.count": 2}))
    estimator = _CountingEstimator(options={"default_precision": 0.0})
    qnn = build_qnn(model, estimator=estimator)
    x = rng.uniform(0, np.pi, (8, model.num_inputs))
    w = rng.uniform(-np.pi, np.pi, model.num_weights)
    _CountingEstimator.calls = 0
    qnn.backward(x, w)
    assert _CountingEstimator.calls == 1


def test_non_affine_angles_fall_back_exactly():
    a, b = Parameter("a"), Parameter("b")
    qc = QuantumCircuit(2)
    qc.ry(a * b, 0)
    qc.cx(0, 1)
    qc.rx(a**2 + 0.3, 1)
    obs = SparsePauliOp.from_list([("ZI", 1.0), ("XX", 0.5)])
    gradient = BatchedParamShiftEstimatorGradient(EstimatorV2(options={"default_precision": 0.0}))
    values = np.array([[0.7, -1.1], [0.2, 0.4]])
    result = gradient.run([qc, qc], [obs, obs], values).result()

    def f(v):
        bound = qc.assign_parameters(dict(zip(qc.parameters, v, strict=True)))
        return Statevector(bound).expectation_value(obs).real

    for row, grad in zip(values, result.gradients, strict=True):
        np.testing.assert_allclose(grad, _finite_difference(f, row.copy()), atol=1e-7)
