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
