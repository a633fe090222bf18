"""Accuracy from shots on a fake backend: expectations against Statevector, costs per shot."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from qiskit.quantum_info import Statevector

from qmoe_qiskit import compile_model, load_spec
from qmoe_qiskit.hardware import sampled_accuracy
from qmoe_qiskit.hardware.sampled import sampled_expectations
from qmoe_qiskit.spec import equal_budget_baseline
from qmoe_qiskit.training.routing import routing_probabilities


def _measured():
    spec = load_spec("qmoe-digits4-pca8")
    routing = dataclasses.replace(spec.routing, execution="measured", reupload="trainable")
    return compile_model(dataclasses.replace(spec, routing=routing))


def _exact(model, x, w) -> np.ndarray:
    """The coherent logical circuit's expectations (deferred measurement: the same values)."""
    coherent = dataclasses.replace(
        model.spec, routing=dataclasses.replace(model.spec.routing, execution="coherent")
    )
    logical = compile_model(coherent)
    return np.array(
        [[Statevector(logical.bind(row, w)).expectation_value(o).real for o in logical.observables]
         for row in x]
    )  # fmt: skip


def test_ideal_shots_estimate_the_exact_expectations_and_routing(rng):
    model = _measured()
    w = model.initial_weights(5)
    x = rng.uniform(0, np.pi, (3, model.num_inputs))
    shots = 4000
    evs, branches, transpiled = sampled_expectations(
        model, w, x, "fake_fez", noisy=False, shots=shots, seed=1
    )
    # each estimate is a mean of +-1 outcomes: 5 standard errors at most
    np.testing.assert_allclose(evs, _exact(model, x, w), atol=5 / np.sqrt(shots))
    assert sum(branches.values()) == shots * len(x)
    routed = routing_probabilities(model, w, x).mean(axis=0)  # P(k) averaged over the inputs
    for k, p in enumerate(routed):
        assert branches.get(format(k, "02b"), 0) / (shots * len(x)) == pytest.approx(p, abs=0.03)
    assert "if_else" in transpiled.circuit.count_ops()


def test_noise_costs_the_deeper_circuit_more_and_costs_are_per_shot(rng):
    model = _measured()
    baseline = compile_model(equal_budget_baseline(model.spec))
    x = rng.uniform(0, np.pi, (4, model.num_inputs))
    y = np.zeros(4, dtype=int)
    a = sampled_accuracy(model, model.initial_weights(0), x, y, "fake_fez", shots=300)
    b = sampled_accuracy(baseline, baseline.initial_weights(0), x, y, "fake_fez", shots=300)
    assert a.two_qubit_gates_max < b.two_qubit_gates_max  # one expert per shot
    assert a.two_qubit_gates_mean <= a.two_qubit_gates_max
    assert b.two_qubit_gates_mean == b.two_qubit_gates_max and b.branch_share == {}
    assert sum(a.branch_share.values()) == pytest.approx(1.0)
    assert a.backend == b.backend == "fake_fez" and a.shots == 300 and a.test_size == 4
