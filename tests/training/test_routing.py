"""Routing statistics against Statevector computations and hand-computed information measures."""

from __future__ import annotations

import json

import numpy as np
import pytest
from qiskit.quantum_info import DensityMatrix, Statevector, entropy, partial_trace

from qmoe_qiskit import compile_model
from qmoe_qiskit.cli import main
from qmoe_qiskit.errors import NoRouterError
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
            "encoder": {"features": 5, "rotations": "rx", "entangle": False},
            "routing": {"encoding": encoding, "layers": 1, "operators": "rx"},
            "experts": {"count": count, "data_qubits": 2, "operators": "ry", "layers": 1},
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
    assert routing_information_bound(model, x, labels, 2) == pytest.approx(1.0, abs=1e-12)
    x[:, 0] = rng.uniform(0, np.pi, 12)  # now partly informative
    bound = routing_information_bound(model, x, labels, 2)
    assert bound == pytest.approx(_holevo(model, x, labels), abs=1e-10)
    for seed in range(5):  # no routing ansatz exceeds it
        weights = np.random.default_rng(seed).uniform(-np.pi, np.pi, model.num_weights)
        stats = routing_stats(routing_probabilities(model, weights, x), labels, 2)
        assert stats.mutual_information <= bound + 1e-12
    # the paper's encoder mixes the registers; the bound still holds (mixed states)
    paper = compile_model("paper-qmoe-mnist4-rxry")
    x = rng.uniform(0, np.pi, (8, 64))
    labels = np.arange(8) % 4
    bound = routing_information_bound(paper, x, labels, 4)
    assert bound == pytest.approx(_holevo(paper, x, labels), abs=1e-10)
    reupload = spec_from_dict(
        {
            **_as_dict(specialised_spec()),
            "routing": {"layers": 1, "operators": "rx", "reupload": True},
        }
    )
    assert routing_information_bound(compile_model(reupload), x[:, :5], labels, 4) is None


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
    assert "I(class; expert)" in text and "Holevo bound" in text
    assert main(["routing", str(run), "--bound", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["mutual_information"] <= out["information_bound"] + 1e-12
