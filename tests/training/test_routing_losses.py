"""Routing losses: values, where their gradients go, and what a run refuses."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from qmoe_qiskit import build_network, compile_model, load_spec
from qmoe_qiskit.cli import main
from qmoe_qiskit.errors import NoRouterError
from qmoe_qiskit.training.loop import balance_loss, class_routing_information, routing_entropy
from qmoe_qiskit.training.routing import routing_probabilities


def test_loss_values():
    uniform = torch.full((6, 4), 0.25, dtype=torch.float64)
    one_expert = torch.zeros(6, 4, dtype=torch.float64)
    one_expert[:, 2] = 1
    spread = torch.eye(4, dtype=torch.float64)
    assert balance_loss(uniform).item() == pytest.approx(1.0)
    assert balance_loss(one_expert).item() == pytest.approx(4.0)
    assert balance_loss(spread).item() == pytest.approx(1.0)
    assert routing_entropy(uniform).item() == pytest.approx(2.0)
    assert routing_entropy(one_expert).item() == pytest.approx(0.0, abs=1e-9)
    assert routing_entropy(spread).item() == pytest.approx(0.0, abs=1e-9)


def test_class_routing_information_against_a_direct_sum(rng):
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    by_class = torch.tensor([[1.0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1]])
    assert class_routing_information(by_class.double(), labels).item() == pytest.approx(np.log2(3))
    uniform = torch.full((6, 3), 1 / 3, dtype=torch.float64)
    assert class_routing_information(uniform, labels).item() == pytest.approx(0.0, abs=1e-12)
    # a random case against I = sum_ck p(c,k) log2 p(c,k) / (p(c) p(k)), written out
    p = rng.dirichlet(np.ones(4), size=10)
    y = rng.integers(0, 3, size=10)
    joint = np.zeros((3, 4))
    for row, c in zip(p, y, strict=True):
        joint[c] += row / 10
    pc, pk = joint.sum(1), joint.sum(0)
    expected = sum(
        joint[c, k] * np.log2(joint[c, k] / (pc[c] * pk[k]))
        for c in range(3)
        for k in range(4)
        if joint[c, k] > 0
    )
    got = class_routing_information(torch.as_tensor(p), torch.as_tensor(y))
    assert got.item() == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("engine", ["torch", "aer"])
def test_routed_network_measures_routing_in_the_same_pass(engine, rng):
    model = compile_model("qmoe-digits4-pca8")
    weights = model.initial_weights(3)
    x = rng.uniform(0, np.pi, (5, 8))
    plain = build_network(model, weights, engine=engine)
    routed = build_network(model, weights, engine=engine, routed=True)
    with torch.no_grad():
        scores = routed(torch.as_tensor(x)).double().numpy()
        np.testing.assert_allclose(scores, plain(torch.as_tensor(x)).double().numpy(), atol=1e-6)
    expected = routing_probabilities(model, weights, x)  # from the router circuit alone
    np.testing.assert_allclose(routed.last_routing.detach().numpy(), expected, atol=1e-6)
    a = torch.nn.utils.parameters_to_vector(routed.parameters()).detach().double().numpy()
    np.testing.assert_array_equal(a, weights)  # same flat weights: checkpoints unchanged


def test_routing_loss_gradient_reaches_only_the_router(rng):
    """Expert blocks are controlled by the routing register: they cannot change P(k|x)."""
    model = compile_model("qmoe-digits4-pca8")
    routed = build_network(model, model.initial_weights(0), engine="torch", routed=True)
    routed(torch.as_tensor(rng.uniform(0, np.pi, (8, 8))))
    loss = balance_loss(routed.last_routing) + routing_entropy(routed.last_routing)
    loss.backward()
    grad = next(routed.parameters()).grad.numpy()
    start, stop = model.weight_groups["route"]
    assert np.abs(grad[start:stop]).max() > 1e-4
    np.testing.assert_allclose(grad[stop:], 0.0, atol=1e-12)


def test_hybrid_network_keeps_its_routing(rng):
    model = compile_model("hybrid-moons-quantum")
    network = build_network(model, engine="torch", routed=True)
    x = torch.as_tensor(rng.uniform(0, np.pi, (4, 2)))
    network(x)
    np.testing.assert_allclose(network.last_routing.detach().numpy(), network.router(x).detach())


def test_routing_losses_train_and_are_refused_without_a_router(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "qmoe-digits4-pca8", "--data", "digits", "--train-limit", "32"]
    argv += ["--test-limit", "8", "--epochs", "1", "--engine", "torch", "--quiet"]
    losses = ["--balance", "1", "--specialise", "0.5", "--class-routing", "0.25"]
    assert main([*argv, "--out", str(out), *losses]) == 0
    saved = (out / "run.json").read_text()
    assert '"balance": 1.0' in saved and '"class_routing": 0.25' in saved
    capsys.readouterr()
    base = tmp_path / "base"
    bad = ["train", "baseline-mnist2-rx", "--data", "digits", "--classes", "3,6"]
    assert main([*bad, "--out", str(base), "--balance", "1", "--quiet"]) == 2
    assert "has no router" in capsys.readouterr().err and not base.exists()
    interfere = load_spec("qmoe-digits4-pca8")
    interfere = dataclasses.replace(
        interfere, routing=dataclasses.replace(interfere.routing, aggregation="interfere")
    )
    with pytest.raises(NoRouterError, match="interference"):
        build_network(compile_model(interfere), engine="torch", routed=True)
