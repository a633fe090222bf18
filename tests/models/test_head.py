"""Readout heads: scores checked against Statevector expectations and a head written out here."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from qiskit.quantum_info import Statevector

from qmoe_qiskit import build_network, compile_model, load_spec
from qmoe_qiskit.errors import SpecError
from qmoe_qiskit.models import CompiledModel, HeadedModel
from qmoe_qiskit.spec import spec_to_toml
from qmoe_qiskit.training import RunConfig, evaluate_run, load_run, train
from tests.conftest import make_spec

SMALL = {
    "classes": 2,
    "experts.count": 2,
    "experts.data_qubits": 2,
    "experts.layers": 1,
    "routing.layers": 1,
    "data.classes": (0, 1),
}


def _expectations(circuit: CompiledModel, x, w):
    return np.array(
        [
            [
                Statevector(circuit.bind(row, w)).expectation_value(o).real
                for o in circuit.observables
            ]
            for row in x
        ]
    )


@pytest.mark.parametrize("kind", ["qmoe", "baseline"])
@pytest.mark.parametrize("head", ["scale", "affine"])
def test_head_scores_equal_an_independent_affine_map(kind, head, rng):
    count = 1 if kind == "baseline" else 2
    spec = make_spec(kind=kind, **{"readout.head": head, **SMALL, "experts.count": count})
    model = compile_model(spec)
    assert isinstance(model, HeadedModel)
    c = model.num_classes
    circuit = model.circuit_model
    assert model.num_weights == circuit.num_weights + (2 * c if head == "scale" else c * c + c)
    assert model.weight_groups["head"] == (circuit.num_weights, model.num_weights)
    weights = rng.uniform(-2, 2, model.num_weights)
    head_w = weights[circuit.num_weights :]
    if head == "scale":
        matrix, offset = np.diag(head_w[:c]), head_w[c:]
    else:
        matrix, offset = head_w[: c * c].reshape(c, c), head_w[c * c :]
    x = rng.uniform(0, np.pi, (3, model.num_inputs))
    z = _expectations(circuit, x, weights[: circuit.num_weights])
    expected = z @ matrix.T + offset
    net = build_network(model, weights, engine="torch")
    got = net(torch.as_tensor(x)).detach().numpy()
    np.testing.assert_allclose(got, expected, atol=1e-10)
    np.testing.assert_allclose(model.readout(z, x, weights), expected, atol=1e-12)
    flat = torch.nn.utils.parameters_to_vector(net.parameters()).detach().numpy()
    np.testing.assert_array_equal(flat, weights)  # checkpoint order = flat weight order


def test_untrained_head_is_the_identity(rng):
    headed = compile_model(make_spec(**{"readout.head": "affine", **SMALL}))
    plain = compile_model(make_spec(**SMALL))
    w_head, w_plain = headed.initial_weights(3), plain.initial_weights(3)
    np.testing.assert_array_equal(w_head[: plain.num_weights], w_plain)
    x = torch.as_tensor(rng.uniform(0, np.pi, (4, plain.num_inputs)))
    a = build_network(headed, w_head, engine="torch")(x)
    b = build_network(plain, w_plain, engine="torch")(x)
    torch.testing.assert_close(a, b)


def test_head_gradients_match_finite_differences(rng):
    model = compile_model(make_spec(**{"readout.head": "scale", **SMALL}))
    weights = rng.uniform(-1, 1, model.num_weights)
    x = torch.as_tensor(rng.uniform(0, np.pi, (2, model.num_inputs)))
    net = build_network(model, weights, engine="torch")
    loss = torch.nn.functional.cross_entropy(net(x), torch.tensor([0, 1]))
    grads = torch.autograd.grad(loss, list(net.parameters()))
    grad = torch.cat([g.reshape(-1) for g in grads]).numpy()

    def value(w):
        out = build_network(model, w, engine="torch")(x)
        return torch.nn.functional.cross_entropy(out, torch.tensor([0, 1])).item()

    eps = 1e-6
    for i in [0, model.num_weights - 4, model.num_weights - 1]:
        step = np.zeros_like(weights)
        step[i] = eps
        fd = (value(weights + step) - value(weights - step)) / (2 * eps)
        assert grad[i] == pytest.approx(fd, abs=1e-7)


def test_headed_run_trains_saves_and_evaluates(tmp_path):
    spec = make_spec(**{"readout.head": "scale", **SMALL})
    config = RunConfig.from_spec(
        spec, data="digits", train_limit=32, test_limit=16, epochs=1, batch_size=16, lr=0.05
    )
    metrics = train(spec, tmp_path / "run", config, progress=False, log=lambda _: None)
    run = load_run(tmp_path / "run")
    assert run.spec.readout.head == "scale"
    head = run.weights[run.model.weight_groups["head"][0] :]
    assert not np.allclose(head, [1, 1, 0, 0])  # the head was trained
    assert evaluate_run(tmp_path / "run")["test_accuracy"] == pytest.approx(
        metrics["test_accuracy"]
    )


def test_readout_spec_checks_and_round_trip():
    with pytest.raises(SpecError, match="readout.head"):
        make_spec(**{"readout.head": "softmax"})
    with pytest.raises(SpecError, match="readout.head"):
        spec = load_spec("hybrid-moons-quantum")
        load_spec({**_as_dict(spec), "readout": {"head": "scale"}})
    spec = make_spec(**{"readout.head": "affine"})
    text = spec_to_toml(spec)
    assert '[readout]\nhead = "affine"' in text
    import tomllib

    assert load_spec(tomllib.loads(text)) == spec
    assert "[readout]" not in spec_to_toml(load_spec("hybrid-moons-quantum"))


def _as_dict(spec):
    import tomllib

    return tomllib.loads(spec_to_toml(spec))
