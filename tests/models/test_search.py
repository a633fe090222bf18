"""DiffQAS search over a QMoE's experts: the mixture against each candidate's circuit in
Statevector, gradients against finite differences, derive, and what a search refuses."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from qiskit.quantum_info import Statevector

import qmoe_qiskit as qm
from qmoe_qiskit.circuits import CANDIDATES, entangler_circuit
from qmoe_qiskit.engines import build_network
from qmoe_qiskit.errors import NoCircuitError, SpecError
from qmoe_qiskit.models import SearchModel, circuit_of
from qmoe_qiskit.models.search import candidate_spec, derive_spec
from qmoe_qiskit.spec import spec_to_toml

SPEC = {
    "name": "search",
    "kind": "qmoe",
    "classes": 2,
    "encoder": {"features": 4, "entangle": "within"},
    "experts": {"count": 2, "data_qubits": 2, "operators": "diffqas", "layers": 2},
    "routing": {"reupload": False},  # the candidates' circuits as the search space has them
    "readout": {"head": "none"},  # scores are the circuits' expectations
}


def _expectations(member, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    state = Statevector(member.bind(x, w))
    return np.array([state.expectation_value(op).real for op in member.observables])


@pytest.mark.parametrize("engine", ["torch", "aer"])
def test_search_output_is_the_weighted_sum_of_candidate_circuits(engine):
    model = qm.compile_model(SPEC)
    assert isinstance(model, SearchModel) and model.num_candidates == 12
    rng = np.random.default_rng(0)
    weights = model.initial_weights(1)
    weights[-12:] = rng.normal(size=12)
    assert model.blocks == ("experts",)
    network = build_network(model, weights, engine=engine, device="cpu")
    x = rng.uniform(0, np.pi, size=(3, 4))
    out = network(torch.as_tensor(x)).detach().numpy()
    w = np.exp(weights[-12:]) / np.exp(weights[-12:]).sum()
    shared = weights[:-12]
    expected = sum(
        w[j] * np.array([_expectations(m, row, shared) for row in x])
        for j, m in enumerate(model.members)
    )
    np.testing.assert_allclose(out, expected, atol=1e-6 if engine == "aer" else 1e-12)


def test_search_gradients_match_finite_differences():
    model = qm.compile_model(SPEC)
    weights = model.initial_weights(2)
    weights[-12:] = np.linspace(-1, 1, 12)
    network = build_network(model, weights, engine="torch", device="cpu")
    x = torch.as_tensor(np.random.default_rng(3).uniform(0, np.pi, size=(4, 4)))
    target = torch.tensor([0, 1, 1, 0])

    def loss() -> torch.Tensor:
        return torch.nn.functional.cross_entropy(5 * network(x), target)

    loss().backward()
    params = list(network.parameters())
    assert [p.numel() for p in params] == [model.num_member_weights, 12]
    assert params[1].shape == (1, 12)
    for param in params:
        flat = param.data.reshape(-1)
        for k in range(0, flat.numel(), 3):
            with torch.no_grad():
                flat[k] += 1e-6
                up = loss().item()
                flat[k] -= 2e-6
                down = loss().item()
                flat[k] += 1e-6
            assert param.grad.reshape(-1)[k].item() == pytest.approx((up - down) / 2e-6, abs=1e-7)


def test_flat_weights_round_trip_through_the_network():
    from qmoe_qiskit.training.loop import flat_weights

    model = qm.compile_model({**SPEC, "readout": {"head": "affine"}})
    weights = np.random.default_rng(4).normal(size=model.num_weights)
    network = build_network(model, weights, engine="torch", device="cpu")
    np.testing.assert_array_equal(flat_weights(network), weights)


def test_derive_writes_the_argmax_candidate_as_a_plain_spec(tmp_path):
    model = qm.compile_model(SPEC)
    weights = model.initial_weights(0)
    weights[-12:] = 0.0
    weights[-12 + 4] = 2.0  # candidate 5: H + Cyc + RY
    spec = derive_spec(model, weights)
    assert spec.name == "search-e5"
    assert (spec.experts.operators, spec.experts.entangler, spec.experts.hadamard) == (
        "ry",
        "diffqas-cyc",
        True,
    )
    (tmp_path / "derived.toml").write_text(spec_to_toml(spec))
    plain = qm.compile_model(str(tmp_path / "derived.toml"))
    member = model.members[4]
    x = np.linspace(0.1, 0.4, 4)
    shared = model.member_weights(weights)
    assert np.allclose(
        Statevector(plain.bind(x, shared)).data, Statevector(member.bind(x, shared)).data
    )
    stage = plain.stages["experts"]
    assert [inst.operation.name for inst in stage.data[:2]] == ["h", "h"]


def test_candidate_specs_and_entanglers():
    spec = qm.load_spec(SPEC)
    for candidate in CANDIDATES:
        plain = candidate_spec(spec, candidate)
        assert plain.experts.operators == candidate.rotation
        assert plain.experts.hadamard == candidate.hadamard
    ring = entangler_circuit(3, "diffqas-cyc")
    assert [tuple(ring.find_bit(q).index for q in i.qubits) for i in ring.data] == [
        (0, 1),
        (1, 2),
        (2, 0),
    ]
    brick = entangler_circuit(4, "diffqas-ent")
    assert [tuple(brick.find_bit(q).index for q in i.qubits) for i in brick.data] == [
        (0, 1),
        (2, 3),
        (1, 2),
    ]


def test_a_search_refuses_hardware_paths_and_bad_specs():
    model = qm.compile_model(SPEC)
    with pytest.raises(NoCircuitError, match="qmoe derive"):
        circuit_of(model)
    with pytest.raises(SpecError, match="each candidate decides the Hadamard"):
        qm.load_spec({**SPEC, "experts": {**SPEC["experts"], "hadamard": True}})
    text = spec_to_toml(qm.load_spec(SPEC))
    assert 'operators = "diffqas"' in text
    assert isinstance(qm.compile_model(qm.load_spec(SPEC)), SearchModel)


def test_derive_cli(tmp_path, capsys):
    from qmoe_qiskit.cli import main

    spec = tmp_path / "search.toml"
    spec.write_text(
        spec_to_toml(
            qm.load_spec(
                {
                    **SPEC,
                    "encoder": {"features": 8},
                    "data": {"name": "digits", "pca": 8, "classes": [0, 1]},
                    "training": {"epochs": 1},
                }
            )
        )
    )
    assert main(["train", str(spec), "--out", str(tmp_path / "run"), "--engine", "torch"]) == 0
    assert main(["derive", str(tmp_path / "run"), "-o", str(tmp_path / "d.toml"), "--json"]) == 0
    assert '"derived"' in capsys.readouterr().out
    derived = qm.load_spec(str(tmp_path / "d.toml"))
    assert derived.experts.operators in ("rx", "ry", "rz")
    assert main(["derive", str(tmp_path / "nope"), "-o", str(tmp_path / "e.toml")]) == 2
    assert "not a run directory" in capsys.readouterr().err


def test_router_search_matches_the_candidate_routers_and_mixes_routing():
    spec = {**SPEC, "routing": {"operators": "diffqas", "layers": 1}, "experts": {
        "count": 2, "data_qubits": 2, "operators": "ry", "layers": 1}}  # fmt: skip
    model = qm.compile_model(spec)
    assert model.blocks == ("routing",) and len(model.members) == 12
    rng = np.random.default_rng(5)
    weights = model.initial_weights(0)
    weights[-12:] = rng.normal(size=12)
    w = np.exp(weights[-12:]) / np.exp(weights[-12:]).sum()
    x = rng.uniform(0, np.pi, size=(2, 4))
    shared = model.member_weights(weights)
    out = build_network(model, weights, engine="torch", device="cpu")(torch.as_tensor(x))
    expected = sum(
        w[j] * np.array([_expectations(m, row, shared) for row in x])
        for j, m in enumerate(model.members)
    )
    np.testing.assert_allclose(out.detach().numpy(), expected, atol=1e-12)
    # P(k|x) of the search: the members' routing probabilities, mixed.
    router = model.routing_network(weights, _factory())
    p = router(torch.as_tensor(x)).detach().numpy()
    per_member = [
        m.routing_network(shared, _factory())(torch.as_tensor(x)).detach().numpy()
        for m in model.members
    ]
    np.testing.assert_allclose(p, sum(w[j] * per_member[j] for j in range(12)), atol=1e-12)
    member = model.members[4]  # candidate 5 on the router: H + Cyc + RY
    assert member.spec.routing.hadamard and member.spec.routing.entangler == "diffqas-cyc"
    assert member.stages["routing"].data[0].operation.name == "h"


def test_searching_both_blocks_has_144_members_and_derives_both():
    spec = {**SPEC, "routing": {"operators": "diffqas", "layers": 1}}
    model = qm.compile_model(spec)
    assert model.blocks == ("routing", "experts") and len(model.members) == 144
    assert model.num_weights == model.num_member_weights + 24
    weights = model.initial_weights(0)
    weights[model.num_member_weights + 7] = 3.0  # routing: candidate 8
    weights[model.num_member_weights + 12 + 10] = 3.0  # experts: candidate 11
    derived = derive_spec(model, weights)
    assert derived.name == "search-r8-e11"
    assert (derived.routing.operators, derived.routing.entangler) == ("ry", "diffqas-ent")
    assert (derived.experts.operators, derived.experts.entangler) == ("ry", "diffqas-cyc")
    network = build_network(model, weights, engine="torch", device="cpu")
    assert network.member_weights().sum().item() == pytest.approx(1.0)
    assert network.member_weights()[7 * 12 + 10].item() == pytest.approx(
        float(model.structural_weights(weights)[0, 7] * model.structural_weights(weights)[1, 10])
    )


def _factory():
    from qmoe_qiskit.engines import circuit_network_factory

    return circuit_network_factory("torch", "cpu")
