"""Routing statistics against Statevector computations and hand-computed information measures."""

from __future__ import annotations

import json

import numpy as np
import pytest
from qiskit.quantum_info import DensityMatrix, Statevector, entropy, partial_trace

from qmoe_qiskit import compile_model
from qmoe_qiskit.cli import main
from qmoe_qiskit.errors import NoRouterError
from qmoe_qiskit.models import circuit_of
from qmoe_qiskit.spec import spec_from_dict
from qmoe_qiskit.training.routing import (
    routing_information_bound,
    routing_probabilities,
    routing_stats,
)


def specialised_spec(encoding: str = "binary", count: int = 2):
    """Routing qubit 0 is RX(x[0])|0>; with zero routing weights P(expert 1 | x) = sin^2(x0/2)."""
    return spec_from_dict(
        {
            "name": "specialised",
            "classes": 2,
            "encoder": {"features": 5, "rotations": "rx", "entangle": False, "scale": 1.0},
            "routing": {"encoding": encoding, "layers": 1, "operators": "rx", "reupload": False},
            "experts": {"count": count, "data_qubits": 2, "operators": "ry", "layers": 1},
            "readout": {"head": "none"},
        }
    )


def route_marginal(model, x, weights) -> np.ndarray:
    """Routing-register distribution of the FULL circuit (experts and all), by Statevector."""
    state = Statevector(model.bind(x, weights))
    return state.probabilities(list(model.route_qubits))


def test_probabilities_match_statevector_of_the_full_circuit(rng):
    model = compile_model(specialised_spec())
    weights = rng.uniform(-np.pi, np.pi, model.num_weights)
    x = rng.uniform(0, np.pi, (6, model.num_inputs))
    probs = routing_probabilities(model, weights, x)
    expected = np.array([route_marginal(model, row, weights) for row in x])
    np.testing.assert_allclose(probs, expected, atol=1e-10)
    aer = routing_probabilities(model, weights, x[:3], engine="aer")
    np.testing.assert_allclose(aer, expected[:3], atol=1e-6)


def test_onehot_routing_reads_the_one_hot_states(rng):
    model = compile_model(specialised_spec("onehot", 3))
    weights = rng.uniform(-np.pi, np.pi, model.num_weights)
    x = rng.uniform(0, np.pi, (4, model.num_inputs))
    probs = routing_probabilities(model, weights, x)
    full = np.array([route_marginal(model, row, weights) for row in x])
    np.testing.assert_allclose(probs, full[:, [1, 2, 4]], atol=1e-10)  # |001>, |010>, |100>


def test_specialised_router_gives_the_expected_information():
    model = compile_model(specialised_spec())
    weights = np.zeros(model.num_weights)
    x0 = np.array([0.0, 0.2, np.pi, np.pi - 0.2, 0.4])
    x = np.zeros((5, model.num_inputs))
    x[:, 0] = x0
    labels = np.array([0, 0, 1, 1, 0])
    stats = routing_stats(routing_probabilities(model, weights, x), labels, 2)
    p1 = np.sin(x0 / 2) ** 2
    matrix = np.array([[1 - p1[labels == c].mean(), p1[labels == c].mean()] for c in (0, 1)])
    np.testing.assert_allclose(stats.matrix, matrix, atol=1e-12)
    joint = np.array([[3 / 5], [2 / 5]]) * matrix  # P(c, e)
    pe, pc = joint.sum(axis=0), joint.sum(axis=1)
    mi = sum(
        joint[c, e] * np.log2(joint[c, e] / (pc[c] * pe[e]))
        for c in range(2)
        for e in range(2)
        if joint[c, e] > 0
    )
    assert stats.mutual_information == pytest.approx(mi, abs=1e-12)
    assert stats.mutual_information > 0.8
    h = [-(m * np.log2(m)).sum() for m in np.clip(matrix, 1e-300, 1)]
    np.testing.assert_allclose(stats.class_entropy, h, atol=1e-9)
    assert stats.top_fraction == 1.0 and stats.unrouted == pytest.approx(0, abs=1e-12)


def _holevo(model, x, labels):
    """chi of the class-mean routing states, with qiskit's partial trace and entropy."""
    data = [q for q in range(model.num_qubits) if q not in model.route_qubits]
    means = []
    for c in np.unique(labels):
        states = [
            partial_trace(
                Statevector(
                    model.stages["encoder"].assign_parameters(
                        dict(zip(model.input_params, row, strict=True))
                    )
                ),
                data,
            ).data
            for row in x[labels == c]
        ]
        means.append(np.mean(states, axis=0))
    p = np.bincount(labels) / len(labels)
    total = sum(pc * rho for pc, rho in zip(p, means, strict=True))
    return entropy(DensityMatrix(total)) - sum(
        pc * entropy(DensityMatrix(rho)) for pc, rho in zip(p, means, strict=True)
    )


def test_information_bound_is_holevo_and_bounds_every_router(rng):
    model = compile_model(specialised_spec())
    x = rng.uniform(0, np.pi, (12, model.num_inputs))
    labels = np.arange(12) % 2
    x[:, 3] = 0.0  # the routing qubit is RX(x[0]) RX(x[3]) |0>:
    x[:, 0] = np.where(labels == 0, 0.0, np.pi)  # |0> for class 0, |1> for class 1
    bound = routing_information_bound(model, x, labels, 2)
    assert bound.holevo == pytest.approx(1.0, abs=1e-12) and bound.register == "routing"
    assert bound.bits == pytest.approx(1.0, abs=1e-12) and not bound.information_limited
    x[:, 0] = rng.uniform(0, np.pi, 12)  # now partly informative
    bound = routing_information_bound(model, x, labels, 2)
    assert bound.holevo == pytest.approx(_holevo(model, x, labels), abs=1e-10)
    assert bound.information_limited and bound.bits == bound.holevo
    for seed in range(5):  # no routing ansatz exceeds it
        weights = np.random.default_rng(seed).uniform(-np.pi, np.pi, model.num_weights)
        stats = routing_stats(routing_probabilities(model, weights, x), labels, 2)
        assert stats.mutual_information <= bound.bits + 1e-12
    # the paper's encoder mixes the registers; the bound still holds (mixed states)
    paper = compile_model("paper-qmoe-mnist4-rxry")
    x = rng.uniform(0, np.pi, (8, 64))
    labels = np.arange(8) % 4
    bound = routing_information_bound(paper, x, labels, 4)
    assert bound.holevo == pytest.approx(_holevo(paper, x, labels), abs=1e-10)
    for reupload in (True, "trainable"):  # re-uploading routers: only the capacity applies
        spec = spec_from_dict(
            {
                **_as_dict(specialised_spec()),
                "routing": {"layers": 1, "operators": "rx", "reupload": reupload},
            }
        )
        bound = routing_information_bound(compile_model(spec), x[:, :5], labels, 4)
        assert bound.holevo is None and bound.register == ""
        assert bound.bits == bound.capacity == pytest.approx(1.0)  # 2 experts, 4 classes


def test_coupled_router_bound_is_the_holevo_of_both_registers(rng):
    """A router that reads the data register is capped by the Holevo information of the
    whole register after the encoder, which no coupled router exceeds."""
    values = _as_dict(specialised_spec())
    values["routing"] = {"layers": 2, "operators": "rx+ry", "couplings": 2, "reupload": False}
    model = compile_model(spec_from_dict(values))
    x = rng.uniform(0, np.pi, (10, model.num_inputs))
    labels = np.arange(10) % 2
    bound = routing_information_bound(model, x, labels, 2)
    assert bound.register == "all" and "couplings" in bound.reason
    encoder = circuit_of(model).stages["encoder"]
    states = [
        Statevector(encoder.assign_parameters(dict(zip(model.input_params, row, strict=True))))
        for row in x
    ]
    pure = [s.to_operator().data for s in states]
    means = [np.mean([p for p, y in zip(pure, labels, strict=True) if y == c], axis=0)
             for c in (0, 1)]  # fmt: skip
    total = (means[0] + means[1]) / 2
    chi = entropy(DensityMatrix(total)) - sum(entropy(DensityMatrix(m)) for m in means) / 2
    assert bound.holevo == pytest.approx(chi, abs=1e-10)
    for seed in range(4):
        weights = np.random.default_rng(seed).uniform(-np.pi, np.pi, model.num_weights)
        stats = routing_stats(routing_probabilities(model, weights, x), labels, 2)
        assert stats.mutual_information <= bound.bits + 1e-12


def _as_dict(spec):
    import tomllib

    from qmoe_qiskit.spec import spec_to_toml

    return tomllib.loads(spec_to_toml(spec))


def test_uniform_routing_has_no_information():
    probs = np.full((8, 4), 0.25)
    stats = routing_stats(probs, np.arange(8) % 4, 4)
    assert stats.mutual_information == pytest.approx(0, abs=1e-12)
    np.testing.assert_allclose(stats.class_entropy, 2.0)
    assert stats.top_fraction == 0.0


def test_hybrid_routers_and_baseline(rng):
    quantum = compile_model("hybrid-moons-quantum")
    weights = quantum.initial_weights(1)
    x = rng.uniform(0, np.pi, (3, 2))
    probs = routing_probabilities(quantum, weights, x)
    router = quantum.router
    theta = quantum.circuit_weights(weights)
    for row, p in zip(x, probs, strict=True):
        state = Statevector(router.bind(row, theta))
        np.testing.assert_allclose(p, state.probabilities([0, 1]), atol=1e-10)
    mlp = compile_model("hybrid-moons-mlp")
    probs = routing_probabilities(mlp, mlp.initial_weights(0), x)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    with pytest.raises(NoRouterError, match="has no router"):
        baseline = compile_model("baseline-mnist2-rx")
        routing_probabilities(baseline, np.zeros(baseline.num_weights), np.zeros((1, 64)))


def test_cli_routing_and_per_epoch_information(tmp_path, capsys):
    run = tmp_path / "run"
    argv = ["train", "qmoe-digits4-pca8", "--out", str(run), "--data", "digits", "--epochs", "2"]
    assert main([*argv, "--train-limit", "64", "--test-limit", "16", "--engine", "torch"]) == 0
    rows = json.loads((run / "metrics.json").read_text())["epochs"]
    assert all(0 <= row["routing_mi"] <= 2 for row in rows)
    capsys.readouterr()
    assert main(["routing", str(run), "--json", "-o", str(tmp_path / "routing.png")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert np.asarray(out["matrix"]).shape == (4, 4) and out["class_counts"] == [4, 4, 4, 4]
    assert out["mutual_information"] == pytest.approx(rows[-1]["routing_mi"])
    assert (tmp_path / "routing.png").stat().st_size > 10_000
    assert main(["routing", str(run), "--bound"]) == 0
    text = capsys.readouterr().out
    assert "I(class; expert)" in text and "Holevo (routing)" in text and "ceiling" in text
    assert "per expert" in text and "accuracy" in text
    assert main(["routing", str(run), "--bound", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    bound = out["information_bound"]
    assert out["mutual_information"] <= bound["bits"] + 1e-12
    assert bound["register"] == "routing" and bound["capacity"] == pytest.approx(2.0)
    # per expert: the inputs routed to it, their classes, and the model's accuracy on them
    experts = out["experts"]
    assert sum(e["inputs"] for e in experts) == 16
    from qmoe_qiskit.training import load_run, predict_classes

    loaded = load_run(run)
    x, y = loaded.config.load_data().x_test, loaded.config.load_data().y_test
    probs = routing_probabilities(loaded.model, loaded.weights, x)
    correct = predict_classes(loaded, x) == y
    for e in experts:
        mine = probs.argmax(axis=1) == e["expert"]
        assert e["inputs"] == mine.sum()
        if mine.any():
            assert e["accuracy"] == pytest.approx(correct[mine].mean())
            np.testing.assert_allclose(e["classes"], np.bincount(y[mine], minlength=4) / mine.sum())
