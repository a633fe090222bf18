"""Routers with trainable access to the input: trainable re-uploading, couplings to the data
register, wider routing registers; their circuits, weights and equal-budget baselines."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from qiskit import QuantumCircuit
from qiskit.quantum_info import Operator, Statevector

from qmoe_qiskit import compile_model, load_spec
from qmoe_qiskit.circuits import coupling_circuit, trainable_reupload_circuit
from qmoe_qiskit.engines.statevector import TorchStatevectorNetwork
from qmoe_qiskit.errors import SpecError
from qmoe_qiskit.models import circuit_of
from qmoe_qiskit.spec import (
    equal_budget_baseline,
    spec_from_dict,
    spec_to_dict,
    spec_to_toml,
    spec_weight_count,
)
from qmoe_qiskit.training.routing import routing_probabilities

#: Router designs on the 8-feature digits preset, each a ``[routing]`` / ``[experts]`` change.
DESIGNS = {
    "trainable": {"routing": {"reupload": "trainable"}},
    "trainable-subset": {"routing": {"reupload": "trainable", "features": 3}},
    "couplings": {"routing": {"couplings": 2}},
    "wider": {"routing": {"qubits": 3}},
    "wider-3-experts": {"routing": {"qubits": 3, "reupload": "trainable"}, "experts": {"count": 3}},
    "all": {
        "routing": {"reupload": "trainable", "couplings": 1, "qubits": 3},
        "experts": {"reupload": "trainable", "reupload_layers": 1},
    },
    "onehot": {
        "routing": {"encoding": "onehot", "couplings": 1, "reupload": "trainable"},
        "experts": {"count": 2},
    },
    "measured": {"routing": {"qubits": 3, "couplings": 1, "execution": "measured"}},
}


def design(name: str, base: str = "qmoe-digits4-pca8"):
    spec = load_spec(base)
    values = spec_to_dict(spec)
    for section, changes in DESIGNS[name].items():
        values[section] = {**values[section], **changes}
    return spec_from_dict(values)


def statevector_outputs(model, x, w) -> np.ndarray:
    return np.array(
        [
            [Statevector(model.bind(xi, w)).expectation_value(o).real for o in model.observables]
            for xi in x
        ]
    )


def test_trainable_reupload_circuit_is_w_x_plus_b():
    x, w, b = [0.3, -1.1, 2.0], [0.5, 2.0, -0.7], [0.1, 0.2, 0.3]
    circuit = trainable_reupload_circuit(2, x, w, b, ("ry", "rz"))
    reference = QuantumCircuit(2)
    reference.ry(0.5 * 0.3 + 0.1, 0)  # feature 0: qubit 0, first pass (ry)
    reference.ry(2.0 * -1.1 + 0.2, 1)  # feature 1: qubit 1, first pass
    reference.rz(-0.7 * 2.0 + 0.3, 0)  # feature 2: qubit 0, second pass (rz)
    assert Operator(circuit).equiv(Operator(reference))
    with pytest.raises(ValueError, match="3 scales and 3 offsets"):
        trainable_reupload_circuit(2, x, w[:2], b, ("ry",))


def test_couplings_read_the_data_register_and_keep_its_populations(rng):
    weights = rng.uniform(-np.pi, np.pi, 6)
    circuit = coupling_circuit(2, 3, weights)
    reference = QuantumCircuit(5)
    for j in range(2):
        for i in range(3):
            reference.cry(weights[j * 3 + i], 2 + i, j)
    assert Operator(circuit).equiv(Operator(reference))
    prep = QuantumCircuit(5)
    for q, angle in enumerate(rng.uniform(0, np.pi, 5)):
        prep.ry(angle, q)
    before = Statevector(prep).probabilities([2, 3, 4])
    after = Statevector(prep.compose(circuit)).probabilities([2, 3, 4])
    np.testing.assert_allclose(after, before, atol=1e-12)
    # data qubit 2 in |1> rotates routing qubit 0 by the coupling's angle
    flip = QuantumCircuit(5)
    flip.x(2)
    routed = Statevector(flip.compose(circuit)).probabilities([0])
    assert routed[1] == pytest.approx(np.sin(weights[0] / 2) ** 2, abs=1e-12)


@pytest.mark.parametrize("name", sorted(DESIGNS))
def test_designs_match_statevector_and_finite_differences(name, rng):
    model = compile_model(design(name))
    w = model.initial_weights(4)
    x = rng.uniform(0, np.pi, (3, model.num_inputs))
    net = TorchStatevectorNetwork(model, w)
    xt = torch.tensor(x)
    out = net(xt)
    np.testing.assert_allclose(
        out.detach().numpy(), statevector_outputs(model, x, w), atol=1e-9, rtol=0
    )
    (grad,) = torch.autograd.grad(out.sum(), net.weight)
    h = 1e-6
    for i in rng.choice(model.num_weights, size=5, replace=False):
        e = np.zeros_like(w)
        e[i] = h
        fd = (statevector_outputs(model, x, w + e) - statevector_outputs(model, x, w - e)) / (2 * h)
        assert grad[i].item() == pytest.approx(fd.sum(), abs=1e-6)


@pytest.mark.parametrize("name", ["wider", "all", "onehot", "couplings"])
def test_router_probabilities_are_the_full_circuits_selection_marginals(name, rng):
    """P(k|x) of the router model = the full circuit's distribution of the selecting qubits
    (the experts, controlled by them, leave it unchanged)."""
    spec = design(name)
    model = compile_model(spec)
    w = model.initial_weights(2)
    x = rng.uniform(0, np.pi, (3, model.num_inputs))
    probs = routing_probabilities(model, w, x)
    select = list(range(spec.num_select_qubits))
    for row, xi in zip(probs, x, strict=True):
        marginal = Statevector(model.bind(xi, w)).probabilities(select)
        if spec.routing.encoding == "onehot":  # expert k: only routing qubit k reads 1
            expected = [marginal[1 << k] for k in range(spec.experts.count)]
        else:
            expected = marginal[: spec.experts.count]
        np.testing.assert_allclose(row, expected, atol=1e-10)


def test_wider_register_selects_experts_with_its_first_qubits(rng):
    """With a 3-qubit register over 4 experts, expert k acts on routing states k and k + 4:
    forcing the extra qubit to |1> changes nothing for the data register."""
    model = compile_model(design("wider"))
    w = model.initial_weights(1)
    experts = model.stages["experts"]
    for k in range(4):
        for extra in (0, 1):
            prep = QuantumCircuit(model.num_qubits)
            for bit in range(2):
                if (k >> bit) & 1:
                    prep.x(bit)
            if extra:
                prep.x(2)
            bound = experts.assign_parameters(
                dict(zip(model.weight_params, w, strict=True)), strict=False
            )
            data = Statevector(prep.compose(bound)).probabilities(list(model.data_qubits))
            if extra == 0:
                reference = data
            else:
                np.testing.assert_allclose(data, reference, atol=1e-12)


def test_trainable_reupload_weights_start_near_the_encoder_scale():
    spec = design("trainable")
    model = compile_model(spec)
    w = model.initial_weights(0)
    start, stop = model.weight_groups["route.scale"]
    assert stop - start == spec.routing.layers * spec.encoder.features
    assert np.all((w[start:stop] >= 0) & (w[start:stop] <= 2 * spec.encoder.scale))
    plain = compile_model(load_spec("qmoe-digits4-pca8"))  # unchanged for existing specs
    np.testing.assert_array_equal(
        plain.initial_weights(3), np.random.default_rng(3).uniform(-np.pi, np.pi, 72)
    )
    assert plain.router_span == plain.weight_groups["route"] == (0, 8)
    assert model.router_span == (0, model.weight_groups["route"][1])


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"routing": {"couplings": 3}}, "routing.couplings = 3 is invalid"),
        ({"routing": {"qubits": 1}}, "need at least 2 routing qubits"),
        ({"routing": {"reupload": "learned"}}, "'none', 'fixed', 'trainable'"),
        ({"routing": {"reupload": "trainable", "features": 9}}, "at most encoder.features"),
        ({"experts": {"extra_rotations": 2}}, "extra rotations are for a baseline"),
        ({"experts": {"reupload_layers": 3}}, "experts.reupload_layers = 3 is invalid"),
    ],
)
def test_invalid_router_options_are_named(changes, message):
    values = spec_to_dict(load_spec("qmoe-digits4-pca8"))
    for section, fields in changes.items():
        values[section] = {**values[section], **fields}
    with pytest.raises(SpecError, match=message):
        spec_from_dict(values)


@pytest.mark.parametrize("name", sorted(DESIGNS) + ["plain"])
def test_equal_budget_baseline_matches_qubits_and_weights(name):
    qmoe = design(name) if name != "plain" else load_spec("qmoe-mnist4-rxry")
    if name == "all":  # router and experts re-upload different feature counts: refused
        uneven = dataclasses.replace(qmoe, routing=dataclasses.replace(qmoe.routing, features=3))
        with pytest.raises(SpecError, match="different feature counts"):
            equal_budget_baseline(uneven)
    baseline = equal_budget_baseline(qmoe)
    a, b = compile_model(qmoe), compile_model(baseline)
    assert b.num_weights == a.num_weights == spec_weight_count(qmoe) == spec_weight_count(baseline)
    assert baseline.num_qubits == qmoe.num_qubits and baseline.kind == "baseline"
    assert baseline.encoder == qmoe.encoder and baseline.readout == qmoe.readout
    assert baseline.training.lr == qmoe.training.lr and baseline.data == qmoe.data
    assert baseline.training.class_routing == 0.0  # no router for routing losses
    trainable = "trainable" in (qmoe.routing.reupload_mode, qmoe.experts.reupload_mode)
    assert (baseline.experts.reupload_mode == "trainable") == trainable
    if trainable:  # the same input scalings, on the baseline's own qubits
        assert "experts.scale" in circuit_of(b).weight_groups


def test_fair_baseline_presets_follow_their_qmoe(tmp_path):
    for task in ("mnist4", "mnist2", "fashion4", "fashion2"):
        for ops in ("rx", "ry", "rxry", "rxryrz"):
            fair = load_spec(f"fair-baseline-{task}-{ops}")
            derived = equal_budget_baseline(load_spec(f"qmoe-{task}-{ops}"), fair.name)
            assert spec_to_toml(fair) == spec_to_toml(derived)
    qmoe = tmp_path / "q.toml"
    values = spec_to_dict(load_spec("qmoe-digits4-pca8"))
    values["routing"]["couplings"] = 1
    qmoe.write_text(spec_to_toml(spec_from_dict(values)))
    fair = tmp_path / "fair.toml"
    fair.write_text(f'name = "fair"\nequal_budget_of = "{qmoe}"\n')
    assert compile_model(load_spec(fair)).num_weights == compile_model(load_spec(qmoe)).num_weights
    fair.write_text(f'equal_budget_of = "{qmoe}"\n[training]\nlr = 0.1\n')
    with pytest.raises(SpecError, match="training cannot be set beside equal_budget_of"):
        load_spec(fair)
