"""Hybrid QMoE: router circuit, engines, linear experts, specs, training and noise."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from qiskit.quantum_info import Statevector

from qmoe_qiskit.circuits import basis_projectors, quantum_router_circuit
from qmoe_qiskit.engines import build_network
from qmoe_qiskit.errors import SpecError, TrainingError
from qmoe_qiskit.models import CompiledModel, HybridModel, compile_model
from qmoe_qiskit.spec import load_spec, spec_from_dict
from qmoe_qiskit.training import RunConfig, flat_weights, load_run, train


def hybrid_spec(router="quantum", features=3, layers=2, count=4, **extra):
    values = {
        "name": f"h-{router}",
        "kind": "hybrid",
        "classes": 2,
        "encoder": {"features": features},
        "routing": {"kind": router, "layers": layers, "hidden": 5},
        "experts": {"kind": "linear", "count": count},
        "training": {"lr": 0.01, "logit_scale": 1.0},
        "data": {"name": "moons", "classes": [0, 1]},
    }
    for key, value in extra.items():
        section, name = key.split(".")
        values.setdefault(section, {})[name] = value
    return spec_from_dict(values)


def reference_probabilities(x, theta, layers, num_route):
    """Router probabilities from a gate-by-gate circuit and Qiskit's Statevector."""
    from qiskit import QuantumCircuit

    n = len(x)
    qc = QuantumCircuit(n)
    for q in range(n):
        qc.ry(float(x[q]), q)
    for layer in range(layers):
        for q in range(n):
            qc.ry(float(theta[layer * n + q]), q)
        for q in range(n - 1):
            qc.cz(q, q + 1)
    return Statevector(qc).probabilities(qargs=list(range(num_route)))


@pytest.fixture
def inputs(rng):
    return rng.uniform(0, np.pi, (6, 3))


def test_compile_quantum_router(inputs):
    model = compile_model(hybrid_spec(layers=3))
    assert isinstance(model, HybridModel) and isinstance(model.router, CompiledModel)
    router = model.router
    assert [p.name for p in router.weight_params] == [f"route[{i}]" for i in range(9)]
    assert model.num_router_weights == 9 and model.num_weights == 9 + 4 * (2 * 3 + 2)
    ops = dict(router.circuit.count_ops())
    assert ops == {"ry": 3 + 9, "cz": 3 * 2}
    assert len(router.observables) == 4 and router.route_qubits == (0, 1)
    # the projectors sum to the identity and are idempotent
    total = sum(router.observables[1:], router.observables[0]).simplify()
    assert np.allclose(total.to_matrix(), np.eye(8))
    p = router.observables[2].to_matrix()
    assert np.allclose(p @ p, p)


def test_classical_routers_have_no_circuit():
    linear = compile_model(hybrid_spec("linear"))
    mlp = compile_model(hybrid_spec("mlp", layers=2))
    assert linear.router is None and linear.num_router_weights == 3 * 4 + 4
    assert mlp.router_sizes == (3, 5, 5, 4)
    assert mlp.num_router_weights == (3 * 5 + 5) + (5 * 5 + 5) + (5 * 4 + 4)


def test_torch_router_matches_statevector(inputs):
    model = compile_model(hybrid_spec(layers=3))
    weights = model.initial_weights(3)
    network = build_network(model, weights, engine="torch")
    probs = network.routing(torch.as_tensor(inputs)).detach().numpy()
    for x, p in zip(inputs, probs, strict=True):
        assert np.allclose(p, reference_probabilities(x, weights[:9], 3, 2), atol=1e-12)
        assert np.allclose(p, Statevector(model.router.bind(x, weights[:9])).probabilities([0, 1]))
    # all qubits measured when experts = 2^n
    full = compile_model(hybrid_spec(features=2, layers=4))
    w = full.initial_weights(1)
    got = build_network(full, w, engine="torch").routing(torch.as_tensor(inputs[:, :2]))
    for x, p in zip(inputs[:, :2], got.detach().numpy(), strict=True):
        assert np.allclose(p, reference_probabilities(x, w[:8], 4, 2), atol=1e-12)


def test_projectors_are_basis_probabilities(rng):
    theta = rng.uniform(-np.pi, np.pi, 6)
    qc = quantum_router_circuit(3, 2, [0.3, 1.1, 2.0], theta)
    state = Statevector(qc)
    probs = state.probabilities([0])
    values = [state.expectation_value(op).real for op in basis_projectors(3, 1)]
    assert np.allclose(values, probs)


def test_aer_qnn_matches_torch_with_gradients(inputs):
    from qmoe_qiskit.engines.aer import build_qnn

    model = compile_model(hybrid_spec(layers=2))
    weights = model.initial_weights(5)
    router_w = weights[:6]
    qnn = build_qnn(model.router)
    aer_probs = qnn.forward(inputs, router_w)
    _, aer_grad = qnn.backward(inputs, router_w)
    torch_net = build_network(model, weights, engine="torch")
    theta = torch_net.router.weight
    probs = torch_net.routing(torch.as_tensor(inputs))
    assert np.allclose(aer_probs, probs.detach().numpy(), atol=1e-9)
    jac = np.stack(
        [
            torch.autograd.grad(probs[:, k].sum(), theta, retain_graph=True)[0].numpy()
            for k in range(4)
        ]
    )
    assert np.allclose(aer_grad.sum(axis=0), jac, atol=1e-9)
    # full networks (TorchConnector returns float32 outputs)
    aer_net = build_network(model, weights, engine="aer")
    x = torch.as_tensor(inputs)
    out_aer, out_torch = aer_net(x), torch_net(x)
    assert torch.allclose(out_aer, out_torch, atol=1e-6)
    (out_aer**2).sum().backward()
    (out_torch**2).sum().backward()
    grads = [torch.cat([p.grad.flatten() for p in n.parameters()]) for n in (aer_net, torch_net)]
    assert torch.allclose(grads[0], grads[1], atol=1e-5, rtol=1e-5)
    assert np.allclose(flat_weights(aer_net), weights) and np.allclose(
        flat_weights(torch_net), weights
    )


@pytest.mark.parametrize("router", ["quantum", "linear", "mlp"])
def test_gradients_match_finite_differences(router, inputs):
    model = compile_model(hybrid_spec(router))
    weights = model.initial_weights(2)
    x = torch.as_tensor(inputs)

    def loss(w):
        net = build_network(model, w, engine="torch")
        with torch.no_grad():
            return float((net(x) ** 2).sum())

    net = build_network(model, weights, engine="torch")
    (net(x) ** 2).sum().backward()
    grad = torch.cat([p.grad.flatten() for p in net.parameters()]).numpy()
    h = 1e-6
    fd = np.array(
        [(loss(weights + h * e) - loss(weights - h * e)) / (2 * h) for e in np.eye(len(weights))]
    )
    assert np.allclose(grad, fd, atol=1e-6)


@pytest.mark.parametrize("router", ["quantum", "linear", "mlp"])
def test_output_is_probability_weighted_linear_experts(router, inputs):
    model = compile_model(hybrid_spec(router))
    weights = model.initial_weights(7)
    net = build_network(model, weights, engine="torch")
    x = torch.as_tensor(inputs)
    probs = net.routing(x).detach().numpy()
    assert np.allclose(probs.sum(axis=1), 1.0) and (probs >= 0).all()
    start, stop = model.weight_groups["experts.weight"]
    w = weights[start:stop].reshape(4, 2, 3)
    b = weights[stop:].reshape(4, 2)
    expected = np.zeros((len(inputs), 2))
    for i, xi in enumerate(inputs):
        for k in range(4):
            expected[i] += probs[i, k] * (w[k] @ xi + b[k])
    assert np.allclose(net(x).detach().numpy(), expected, atol=1e-12)
    assert np.allclose(flat_weights(net), weights)


def test_fast_engine_agrees_when_available(inputs):
    engine = pytest.importorskip("qmoe_qiskit.engines.statevector")
    model = compile_model(hybrid_spec(layers=2))
    weights = model.initial_weights(4)
    try:
        fast = engine.TorchStatevectorNetwork(model.router, weights[:6])
    except Exception as exc:  # the engine is developed separately
        pytest.skip(f"fast engine cannot run the router: {exc}")
    ours = build_network(model, weights, engine="torch").routing(torch.as_tensor(inputs))
    got = fast(torch.as_tensor(inputs))
    assert np.allclose(got.detach().cpu().double().numpy(), ours.detach().numpy(), atol=1e-6)


@pytest.mark.parametrize(
    "changes,needles",
    [
        ({"experts.kind": "quantum"}, ["experts.kind", "'linear'"]),
        ({"experts.count": 3}, ["experts.count", "power of two"]),
        ({"experts.count": 16}, ["experts.count", "at most 8"]),
        ({"encoder.features": 20}, ["encoder.features", "data.pca"]),
        ({"routing.kind": "tree"}, ["routing.kind", "'mlp'"]),
        ({"routing.hidden": 0}, ["routing.hidden"]),
        ({"data.pca": 5}, ["data.pca", "encoder.features"]),
    ],
)
def test_hybrid_validation_names_fields(changes, needles):
    with pytest.raises(SpecError) as info:
        hybrid_spec(**changes)
    for needle in needles:
        assert needle in str(info.value)


def test_qmoe_models_still_need_quantum_parts():
    with pytest.raises(SpecError, match="routing.kind"):
        spec_from_dict({"name": "m", "routing": {"kind": "linear"}})
    with pytest.raises(SpecError, match="experts.kind"):
        spec_from_dict({"name": "m", "experts": {"kind": "linear"}})


def test_presets_compile():
    for name, router_params in [
        ("hybrid-moons-linear", 12),
        ("hybrid-moons-quantum", 24),
        ("hybrid-moons-mlp", 244),
        ("hybrid-mnist01-quantum-pca8", 32),
        ("hybrid-fashion01-linear-pca8", 36),
    ]:
        assert compile_model(load_spec(name)).num_router_weights == router_params


def test_pca_uses_training_split_only(rng):
    from qmoe_qiskit.data import Dataset, reduce_pca

    x_train = rng.normal(size=(50, 10))
    x_test = rng.normal(size=(20, 10)) * 5
    data = Dataset("toy", x_train, np.zeros(50, int), x_test, np.zeros(20, int), ("a",))
    reduced = reduce_pca(data, 3)
    assert reduced.x_train.shape == (50, 3) and reduced.x_test.shape == (20, 3)
    assert np.allclose(reduced.x_train.min(axis=0), 0) and np.allclose(
        reduced.x_train.max(axis=0), np.pi
    )
    again = reduce_pca(
        Dataset("toy", x_train, np.zeros(50, int), x_test * 0, np.zeros(20, int), ("a",)), 3
    )
    assert np.allclose(again.x_train, reduced.x_train)  # test data does not move the fit


def test_train_and_resume_match(tmp_path):
    spec = hybrid_spec(features=2, layers=2)
    config = RunConfig.from_spec(spec, epochs=2, engine="torch", train_limit=96, test_limit=40)
    straight = train(spec, tmp_path / "a", config, progress=False, log=lambda _: None)
    short = RunConfig.from_spec(spec, epochs=1, engine="torch", train_limit=96, test_limit=40)
    train(spec, tmp_path / "b", short, progress=False, log=lambda _: None)
    resumed = train(spec, tmp_path / "b", config, resume=True, progress=False, log=lambda _: None)
    assert resumed["test_accuracy"] == straight["test_accuracy"]
    assert np.array_equal(load_run(tmp_path / "a").weights, load_run(tmp_path / "b").weights)
    assert json.loads((tmp_path / "a" / "metrics.json").read_text())["epochs"][1]["epoch"] == 2
    run = load_run(tmp_path / "a")
    assert isinstance(run.model, HybridModel)
    net = build_network(run.model, run.weights, engine="torch")
    assert np.allclose(flat_weights(net), run.weights)


def test_noise_free_model_equals_ideal_accuracy():
    from qmoe_qiskit.experiments.hybrid_noise import (
        depolarizing_noise_model,
        noisy_accuracy,
        noisy_routing,
    )
    from qmoe_qiskit.experiments.hybrid_protocol import fit_hybrid, load_study_data

    spec = load_spec("hybrid-moons-quantum")
    model = compile_model(spec)
    data = load_study_data(spec, 0)
    fit = fit_hybrid(model, data, 0, epochs=3)
    net = build_network(model, fit.weights, engine="torch")
    x = torch.as_tensor(data.x_test)
    ideal = float((net(x).argmax(dim=1).numpy() == data.y_test).mean())
    zero = depolarizing_noise_model(0.0)
    assert noisy_accuracy(model, fit.weights, data.x_test, data.y_test, zero) == ideal
    probs = noisy_routing(model, fit.weights, data.x_test[:10], zero)
    assert np.allclose(probs, net.routing(x[:10]).detach().numpy(), atol=1e-10)
    noisy = noisy_routing(model, fit.weights, data.x_test[:10], depolarizing_noise_model(0.05))
    assert np.allclose(noisy.sum(axis=1), 1.0) and not np.allclose(noisy, probs, atol=1e-3)


@pytest.mark.slow
def test_quick_study_writes_report(tmp_path):
    from qmoe_qiskit.experiments.hybrid_study import run_study

    run_study(
        tmp_path, seeds=(0, 1), epochs=3, datasets=("moons",), fake_backends=("FakeManilaV2",),
        shots=256, log=lambda _: None,
    )  # fmt: skip
    report = (tmp_path / "report.md").read_text()
    assert "| B | quantum |" in report and "eps = 0.02" in report
    for name in ("decision_boundaries.png", "router_map.png", "training_curves.png", "noise.png"):
        assert (tmp_path / name).is_file()


def test_study_resumes_finished_runs(tmp_path):
    from qmoe_qiskit.experiments.hybrid_study import run_study

    quick = dict(epochs=1, datasets=("moons",), noise_eps=(), fake_backends=())
    first = run_study(tmp_path, seeds=(0,), log=lambda _: None, **quick)
    lines: list[str] = []
    second = run_study(tmp_path, seeds=(0, 1), log=lines.append, **quick)
    kept = [line for line in lines if "kept from results.json" in line]
    assert len(kept) == 3 and all("seed 0" in line for line in kept)  # A, B, C of seed 0
    assert len(second["runs"]) == 6
    again = {(r["model"], r["seed"]): r["weights"] for r in second["runs"]}
    for run in first["runs"]:
        assert again[run["model"], 0] == run["weights"]
    with pytest.raises(TrainingError, match="different epochs"):
        run_study(tmp_path, seeds=(0,), log=lambda _: None, **{**quick, "epochs": 2})


def test_bind_is_part_of_every_family(rng):
    from qiskit.quantum_info import Statevector

    from qmoe_qiskit.errors import NoCircuitError

    model = compile_model("hybrid-moons-quantum")
    weights = model.initial_weights(2)
    x = rng.uniform(0, np.pi, 2)
    probs = Statevector(model.bind(x, weights)).probabilities([0, 1])
    np.testing.assert_allclose(probs.sum(), 1.0)
    with pytest.raises(NoCircuitError):
        compile_model("hybrid-moons-linear").bind(x, np.zeros(36))
