"""Compiler tests: every value computed with Statevector, independently of the compiler."""

from __future__ import annotations

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.quantum_info import Operator, SparsePauliOp, Statevector

from qmoe_qiskit import compile_model
from qmoe_qiskit.errors import SpecError
from qmoe_qiskit.spec import parse_operators
from tests.conftest import expert_weights, make_spec, reference_expert

CASES = [
    {"experts.count": 4, "experts.operators": "rx+ry"},
    {"experts.count": 2, "experts.operators": "rx"},
    {"experts.count": 4, "experts.operators": "rx+ry+rz", "experts.entangler": "cnot-chain"},
    {"experts.count": 4, "experts.operators": "ry", "experts.construction": "controlled"},
    {"experts.count": 3, "experts.operators": "rz"},
    {"experts.count": 3, "routing.encoding": "onehot", "experts.operators": "rx+ry"},
]


def _random_state(num_qubits, rng):
    vec = rng.normal(size=2**num_qubits) + 1j * rng.normal(size=2**num_qubits)
    return vec / np.linalg.norm(vec)


def _route_index(spec, k):
    return 1 << k if spec.routing.encoding == "onehot" else k


def _expert_unitary(model, weights, k):
    spec = model.spec
    ops = parse_operators("experts.operators", spec.experts.operators)
    ref = reference_expert(
        spec.experts.data_qubits,
        expert_weights(model, weights, k),
        ops,
        spec.experts.layers,
        spec.experts.entangler,
    )
    return Operator(ref).data


@pytest.mark.parametrize("changes", CASES)
def test_branch_k_equals_expert_k_alone(changes, rng):
    """(a) With the routing register forced to |k>, the data register sees expert k alone."""
    model = compile_model(make_spec(**changes))
    r, d = len(model.route_qubits), len(model.data_qubits)
    weights = rng.uniform(-np.pi, np.pi, model.num_weights)
    stage = model.stages["experts"].assign_parameters(
        dict(zip(model.weight_params, weights, strict=True)), strict=False
    )
    for k in range(model.spec.experts.count):
        psi = _random_state(d, rng)
        route = np.zeros(2**r)
        route[_route_index(model.spec, k)] = 1.0
        out = Statevector(np.kron(psi, route)).evolve(stage).data  # qubit 0 = route bit 0
        expected = np.kron(_expert_unitary(model, weights, k) @ psi, route)
        np.testing.assert_allclose(out, expected, atol=1e-10)


def _random_front(model, rng):
    """Random inputs and weights, and the encoder + routing stages bound to them."""
    x = rng.uniform(0, np.pi, model.num_inputs)
    weights = rng.uniform(-np.pi, np.pi, model.num_weights)
    values = dict(zip(model.input_params, x, strict=True)) | dict(
        zip(model.weight_params, weights, strict=True)
    )
    stages = model.stages["encoder"].compose(model.stages["routing"])
    return x, weights, stages.assign_parameters(values, strict=False)


@pytest.mark.parametrize("changes", CASES[:5])
def test_output_is_probability_weighted_mixture(changes, rng):
    """(b) Aggregation 'none': output_c = sum_k p_k(x) <O_c>_k, each term computed separately."""
    model = compile_model(make_spec(**changes))
    r, d = len(model.route_qubits), len(model.data_qubits)
    x, weights, front = _random_front(model, rng)
    state = Statevector(front).data.reshape(2**d, 2**r)  # [data index, route index]
    full = Statevector(model.bind(x, weights))
    for c in range(model.spec.classes):
        z = np.diag([1.0 if not (i >> c) & 1 else -1.0 for i in range(2**d)])
        total, total_p = 0.0, 0.0
        for k in range(model.spec.experts.count):
            phi = state[:, k]  # unnormalised data state given routing |k>
            p_k = float(np.vdot(phi, phi).real)
            out_k = _expert_unitary(model, weights, k) @ (phi / np.sqrt(p_k))
            total += p_k * float(np.vdot(out_k, z @ out_k).real)
            total_p += p_k
        for k in range(model.spec.experts.count, 2**r):  # unused routing states: no expert
            phi = state[:, k]
            total += float(np.vdot(phi, z @ phi).real)
            total_p += float(np.vdot(phi, phi).real)
        assert total_p == pytest.approx(1.0)
        assert full.expectation_value(model.observables[c]).real == pytest.approx(total, abs=1e-10)


def test_interfering_aggregation_is_coherent_sum(rng):
    """'interfere': output_c = 2^-r <chi|Z_c|chi> with chi = sum_k E_k phi_k (an LCU)."""
    model = compile_model(make_spec(**{"routing.aggregation": "interfere"}))
    r, d = len(model.route_qubits), len(model.data_qubits)
    x, weights, front = _random_front(model, rng)
    state = Statevector(front).data.reshape(2**d, 2**r)
    chi = sum(_expert_unitary(model, weights, k) @ state[:, k] for k in range(2**r))
    full = Statevector(model.bind(x, weights))
    for c in range(model.spec.classes):
        z = np.diag([1.0 if not (i >> c) & 1 else -1.0 for i in range(2**d)])
        expected = float(np.vdot(chi, z @ chi).real) / 2**r
        assert full.expectation_value(model.observables[c]).real == pytest.approx(expected)


ANY_COUNT = [
    {"experts.count": count, "experts.operators": ops, "experts.data_qubits": 3, "classes": 3}
    for count, ops in [(3, "rx+ry"), (5, "ry"), (6, "rx"), (7, "rz")]
]


@pytest.mark.parametrize("changes", ANY_COUNT)
def test_any_expert_count_is_multiplexed_with_identity_branches(changes, rng):
    """Branch k < count is expert k alone, unused routing states apply nothing, and changing
    expert j changes branch j only; 3, 5, 6 and 7 experts (binary routing)."""
    model = compile_model(make_spec(**changes))
    assert model.spec.multiplexed
    r, d = len(model.route_qubits), len(model.data_qubits)
    count = model.spec.experts.count
    weights = rng.uniform(-np.pi, np.pi, model.num_weights)

    def branch(w, k, psi):
        stage = model.stages["experts"].assign_parameters(
            dict(zip(model.weight_params, w, strict=True)), strict=False
        )
        route = np.zeros(2**r)
        route[k] = 1.0
        return Statevector(np.kron(psi, route)).evolve(stage).data, route

    for k in range(2**r):
        psi = _random_state(d, rng)
        out, route = branch(weights, k, psi)
        unitary = _expert_unitary(model, weights, k) if k < count else np.eye(2**d)
        np.testing.assert_allclose(out, np.kron(unitary @ psi, route), atol=1e-10)
    for j in range(count):
        changed = weights.copy()
        start, stop = model.weight_groups[f"expert{j}"]
        changed[start:stop] += rng.uniform(0.3, 1.0, stop - start)
        for k in range(2**r):
            psi = _random_state(d, rng)
            same = np.allclose(branch(weights, k, psi)[0], branch(changed, k, psi)[0], atol=1e-10)
            assert same == (k != j), (j, k)


@pytest.mark.parametrize("changes", ANY_COUNT)
def test_any_count_multiplexed_equals_controlled_with_fewer_two_qubit_gates(changes, rng):
    mux = compile_model(make_spec(**changes))
    ctl = compile_model(make_spec(**changes, **{"experts.construction": "controlled"}))
    assert mux.spec.multiplexed and not ctl.spec.multiplexed
    for _ in range(2):
        x = rng.uniform(0, np.pi, mux.num_inputs)
        weights = rng.uniform(-np.pi, np.pi, mux.num_weights)
        a, b = Statevector(mux.bind(x, weights)), Statevector(ctl.bind(x, weights))
        assert abs(np.vdot(a.data, b.data)) == pytest.approx(1.0, abs=1e-9)
    assert mux.summary()["two_qubit_gates"] < ctl.summary()["two_qubit_gates"]


def test_reuploading_experts_need_an_expert_on_every_routing_state():
    spec = make_spec(**{"experts.count": 3, "experts.reupload": True})
    assert not spec.multiplexed
    with pytest.raises(SpecError, match="expert on every routing state"):
        make_spec(
            **{
                "experts.count": 3,
                "experts.reupload": True,
                "experts.construction": "multiplexed",
            }
        )


@pytest.mark.parametrize("count,ops", [(2, "rx+ry+rz"), (4, "rx+ry"), (8, "rz")])
def test_multiplexed_equals_controlled(count, ops, rng):
    """(c) The multiplexed and controlled constructions give the same state."""
    data_qubits = 4 if count < 8 else 3
    base = {"experts.count": count, "experts.operators": ops, "experts.data_qubits": data_qubits}
    if data_qubits == 3:
        base["classes"] = 3
    mux = compile_model(make_spec(**base, **{"experts.construction": "multiplexed"}))
    ctl = compile_model(make_spec(**base, **{"experts.construction": "controlled"}))
    assert mux.spec.multiplexed and not ctl.spec.multiplexed
    assert [p.name for p in mux.weight_params] == [p.name for p in ctl.weight_params]
    for _ in range(3):
        x = rng.uniform(0, np.pi, mux.num_inputs)
        weights = rng.uniform(-np.pi, np.pi, mux.num_weights)
        a = Statevector(mux.bind(x, weights))
        b = Statevector(ctl.bind(x, weights))
        assert abs(np.vdot(a.data, b.data)) == pytest.approx(1.0, abs=1e-10)
        np.testing.assert_allclose(a.data, b.data, atol=1e-9)  # same global phase too


def test_multiplexed_has_13x_fewer_two_qubit_gates_in_the_expert_stage():
    from qiskit import transpile

    def two_qubit(model):
        stage = transpile(model.stages["experts"], basis_gates=["cx", "rx", "ry", "rz", "h"])
        return sum(1 for inst in stage.data if inst.operation.num_qubits == 2)

    mux = compile_model(make_spec())
    ctl = compile_model(make_spec(**{"experts.construction": "controlled"}))
    assert two_qubit(ctl) >= 13 * two_qubit(mux)


@pytest.mark.parametrize("changes", [CASES[0], CASES[3], CASES[5]])
def test_changing_expert_j_leaves_other_branches(changes, rng):
    """(d) Changing expert j's weights leaves every branch k != j unchanged."""
    model = compile_model(make_spec(**changes))
    r, d = len(model.route_qubits), len(model.data_qubits)
    count = model.spec.experts.count
    weights = rng.uniform(-np.pi, np.pi, model.num_weights)
    for j in range(count):
        changed = weights.copy()
        start, stop = model.weight_groups[f"expert{j}"]
        changed[start:stop] += rng.uniform(0.3, 1.0, stop - start)
        for k in range(count):
            psi = _random_state(d, rng)
            route = np.zeros(2**r)
            route[_route_index(model.spec, k)] = 1.0
            init = Statevector(np.kron(psi, route))
            before = init.evolve(
                model.stages["experts"].assign_parameters(
                    dict(zip(model.weight_params, weights, strict=True)), strict=False
                )
            )
            after = init.evolve(
                model.stages["experts"].assign_parameters(
                    dict(zip(model.weight_params, changed, strict=True)), strict=False
                )
            )
            same = np.allclose(before.data, after.data, atol=1e-10)
            assert same == (k != j), (j, k)


def test_baseline_is_encoder_plus_one_pqc(rng):
    model = compile_model(make_spec(kind="baseline", **{"experts.count": 1}))
    assert model.route_qubits == ()
    assert {p.name.split("[")[0] for p in model.weight_params} == {"pqc"}
    x = rng.uniform(0, np.pi, 64)
    weights = rng.uniform(-np.pi, np.pi, model.num_weights)
    ref = QuantumCircuit(4)
    gates = ["ry", "rz", "rx", "ry"]
    for layer in range(16):
        for q in range(4):
            getattr(ref, gates[layer % 4])(x[layer * 4 + q], q)
        if layer < 15:
            for q in range(3):
                ref.cx(q, q + 1)
    ref.compose(reference_expert(4, weights, ("rx", "ry"), 2, "cnot-ring"), inplace=True)
    np.testing.assert_allclose(
        Statevector(model.bind(x, weights)).data, Statevector(ref).data, atol=1e-10
    )


def test_interface_names_and_observables():
    model = compile_model("qmoe-digits4")
    assert type(model.circuit) is QuantumCircuit
    assert [p.name for p in model.input_params] == [f"x[{i}]" for i in range(64)]
    names = [p.name for p in model.weight_params]
    assert names[:8] == [f"route[{i}]" for i in range(8)]
    assert names[8:24] == [f"expert0[{i}]" for i in range(16)]
    assert names[-1] == "expert3[15]"
    assert set(model.circuit.parameters) == set(model.input_params) | set(model.weight_params)
    assert model.route_qubits == (0, 1) and model.data_qubits == (2, 3, 4, 5)
    for c, obs in enumerate(model.observables):
        assert obs == SparsePauliOp.from_sparse_list([("Z", [2 + c], 1.0)], 6)
    summary = model.summary()
    assert summary["num_qubits"] == 6 and summary["num_weights"] == 72
    assert summary["two_qubit_gates"] == sum(
        1 for inst in model.decomposed.data if inst.operation.num_qubits == 2
    )


def test_decomposed_circuit_is_the_same_operator(rng):
    model = compile_model(make_spec(**{"experts.construction": "controlled"}))
    x = rng.uniform(0, np.pi, 64)
    weights = rng.uniform(-np.pi, np.pi, model.num_weights)
    values = dict(zip(model.input_params, x, strict=True)) | dict(
        zip(model.weight_params, weights, strict=True)
    )
    a = Operator(model.circuit.assign_parameters(values))
    b = Operator(model.decomposed.assign_parameters(values))
    assert a.equiv(b)
    assert set(model.decomposed.count_ops()) <= {"rx", "ry", "rz", "h", "x", "cx", "cz"}
