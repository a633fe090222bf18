"""The Aer memory budget: split calls give the same numbers as one call, and bound the rows."""

from __future__ import annotations

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import ParameterVector
from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit.quantum_info import SparsePauliOp, Statevector
from qiskit_aer.primitives import EstimatorV2

from qmoe_qiskit import compile_model
from qmoe_qiskit.engines.aer import (
    BatchedParamShiftEstimatorGradient,
    ChunkedEstimator,
    build_qnn,
    rows_per_call,
)
from qmoe_qiskit.engines.aer.budget import estimated_row_bytes
from tests.conftest import make_spec
from tests.engines.test_gradients import SMALL as GRADIENT_CASE

SMALL = {**GRADIENT_CASE, "experts.count": 2}


class _RowCounter(EstimatorV2):
    """Aer's estimator, recording how many parameter rows each call carried."""

    def __init__(self):
        super().__init__(options={"default_precision": 0.0})
        self.rows: list[int] = []

    def run(self, pubs, precision=None):
        pubs = [EstimatorPub.coerce(pub, precision) for pub in pubs]
        self.rows.append(sum(int(np.prod(pub.parameter_values.shape)) for pub in pubs))
        return super().run(pubs, precision=precision)


def _tiny_budget(circuit: QuantumCircuit, rows: int) -> float:
    """A budget (GB) that admits exactly ``rows`` parameter rows of ``circuit`` per call."""
    return rows * estimated_row_bytes(circuit) / 1e9


def test_rows_per_call_follows_the_cost_model():
    qc = QuantumCircuit(3)
    qc.h(range(3))
    per_row = estimated_row_bytes(qc)
    assert per_row == 32_000 + 700 * 3 + 16 * 8
    assert rows_per_call(qc, 10 * per_row / 1e9) == 10
    assert rows_per_call(qc, 1e-12) == 1  # a single row is never split


def test_tiny_budget_splits_gradient_into_three_or_more_calls_with_identical_values(rng):
    model = compile_model(make_spec(**SMALL))
    x = rng.uniform(0, np.pi, (6, model.num_inputs))
    w = rng.uniform(-np.pi, np.pi, model.num_weights)
    unsplit = build_qnn(model, device="cpu", memory_gb=1e3)
    _, reference = unsplit.backward(x, w)

    counter = _RowCounter()
    # Room for about 1.5 samples' shifted rows: the gradient sends one sample per call.
    shifts = 2 * model.num_weights
    budget = _tiny_budget(model.decomposed, int(1.5 * shifts))
    chunked = build_qnn(model, estimator=ChunkedEstimator(counter, budget), memory_gb=budget)
    _, ours = chunked.backward(x, w)
    assert len(counter.rows) >= 3
    assert max(counter.rows) <= rows_per_call(model.decomposed, budget)
    np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-12)


def test_tiny_budget_qnn_forward_and_backward_match_statevector(rng):
    model = compile_model(make_spec(**SMALL))
    x = rng.uniform(0, np.pi, (5, model.num_inputs))
    w = rng.uniform(-np.pi, np.pi, model.num_weights)
    big = build_qnn(model, device="cpu", memory_gb=1e3)
    small = build_qnn(model, device="cpu", memory_gb=_tiny_budget(model.decomposed, 2))
    np.testing.assert_allclose(small.forward(x, w), big.forward(x, w), rtol=0, atol=1e-12)
    np.testing.assert_allclose(small.backward(x, w)[1], big.backward(x, w)[1], atol=1e-12)
    for s in range(len(x)):
        state = Statevector(model.bind(x[s], w))
        expected = [state.expectation_value(o).real for o in model.observables]
        np.testing.assert_allclose(small.forward(x[s : s + 1], w)[0], expected, atol=1e-10)
    assert small.estimator.calls > big.estimator.calls


def test_split_pub_keeps_broadcast_shape_and_order():
    theta = ParameterVector("t", 2)
    qc = QuantumCircuit(2)
    qc.ry(theta[0], 0)
    qc.rx(theta[1], 1)
    qc.cx(0, 1)
    values = np.linspace(0, 3, 14).reshape(7, 2)
    observables = [[SparsePauliOp("ZI")], [SparsePauliOp("IZ")], [SparsePauliOp("ZZ")]]
    inner = _RowCounter()
    chunked = ChunkedEstimator(inner, memory_gb=_tiny_budget(qc, 3))
    result = chunked.run([(qc, observables, values), (qc, SparsePauliOp("XX"), values[0])])
    evs = result.result()[0].data.evs
    assert evs.shape == (3, 7)
    assert inner.rows[:3] == [3, 3, 1]
    for r, row in enumerate(values):
        state = Statevector(qc.assign_parameters(row))
        for o, (op,) in enumerate(observables):
            assert evs[o, r] == pytest.approx(state.expectation_value(op).real, abs=1e-12)
    assert result.result()[0].metadata["chunks"] == 3
    last = Statevector(qc.assign_parameters(values[0])).expectation_value(SparsePauliOp("XX"))
    assert result.result()[1].data.evs == pytest.approx(last.real, abs=1e-12)


def test_budget_must_be_positive():
    with pytest.raises(ValueError, match="positive"):
        ChunkedEstimator(EstimatorV2(), memory_gb=0)
    with pytest.raises(ValueError, match="positive"):
        BatchedParamShiftEstimatorGradient(EstimatorV2(), memory_gb=-1)


def test_row_estimate_counts_only_the_qubits_in_use():
    small = QuantumCircuit(3)
    small.h(0)
    small.cx(0, 1)
    small.cx(1, 2)
    wide = QuantumCircuit(127)  # an ISA circuit of the same gates on a 127-qubit device
    wide.h(40)
    wide.cx(40, 41)
    wide.cx(41, 42)
    assert estimated_row_bytes(wide) == estimated_row_bytes(small)
    dense = estimated_row_bytes(small, density_matrix=True) - estimated_row_bytes(small)
    assert dense == 16 * (4**3 - 2**3)  # a density matrix holds 4^n amplitudes
