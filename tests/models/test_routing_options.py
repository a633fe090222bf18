"""Circuit options that let the router depend on the input and the experts differ."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from qiskit.quantum_info import DensityMatrix, Statevector, partial_trace

from qmoe_qiskit import compile_model
from qmoe_qiskit.errors import SpecError
from qmoe_qiskit.spec import load_spec, spec_from_dict, spec_to_toml


def variant(base: str = "qmoe-digits4-pca8", *, entangle=True, route=False, experts=False, **kw):
    spec = load_spec(base)
    return dataclasses.replace(
        spec,
        encoder=dataclasses.replace(spec.encoder, entangle=entangle),
        routing=dataclasses.replace(spec.routing, reupload=route),
        experts=dataclasses.replace(spec.experts, reupload=experts, **kw),
    )


def route_purity(model, x) -> float:
    """Purity of the routing register right after the encoder stage (Statevector)."""
    encoder = model.stages["encoder"].assign_parameters(
        dict(zip(model.input_params, x, strict=True))
    )
    data = [q for q in range(model.num_qubits) if q not in model.route_qubits]
    rho = partial_trace(DensityMatrix(Statevector(encoder)), data)
    return float(np.real(np.trace(rho.data @ rho.data)))


def test_encoder_entangling_modes(rng):
    x = rng.uniform(0, np.pi, 8)
    across = compile_model(variant(entangle="all"))
    within = compile_model(variant(entangle="within"))
    none = compile_model(variant(entangle="none"))
    assert route_purity(across, x) < 0.99  # the paper's encoder mixes the routing register
    assert route_purity(within, x) == pytest.approx(1.0, abs=1e-12)
    assert route_purity(none, x) == pytest.approx(1.0, abs=1e-12)
    route = set(within.route_qubits)
    for model in (within, none):
        for inst in model.stages["encoder"].data:
            if inst.operation.name == "cx":
                qubits = {model.stages["encoder"].find_bit(q).index for q in inst.qubits}
                assert qubits <= route or not qubits & route  # never across the registers
    assert compile_model(variant(entangle=True)).summary() == across.summary()


def route_distribution(model, x, w) -> np.ndarray:
    return Statevector(model.bind(x, w)).probabilities(list(model.route_qubits))


def test_router_reupload_makes_routing_see_every_feature(rng):
    """With registers kept apart, x[2] only reaches a data qubit: routing ignores it, unless
    the router re-uploads the input."""
    plain = compile_model(variant(entangle="within"))
    reupload = compile_model(variant(entangle="within", route=True))
    assert plain.num_weights == reupload.num_weights
    x = rng.uniform(0, np.pi, 8)
    moved = x.copy()
    moved[2] += 1.0
    for model, changes in ((plain, False), (reupload, True)):
        w = rng.uniform(-np.pi, np.pi, model.num_weights)
        a, b = route_distribution(model, x, w), route_distribution(model, moved, w)
        assert (np.abs(a - b).max() > 1e-3) == changes


@pytest.mark.parametrize("entangle", ["all", "within"])
def test_expert_reupload_multiplexed_equals_controlled(rng, entangle):
    """Two different constructions of the same experts give the same state."""
    multiplexed = compile_model(variant(entangle=entangle, experts=True, construction="auto"))
    controlled = compile_model(variant(entangle=entangle, experts=True, construction="controlled"))
    assert multiplexed.spec.multiplexed and not controlled.spec.multiplexed
    x = rng.uniform(0, np.pi, 8)
    w = rng.uniform(-np.pi, np.pi, multiplexed.num_weights)
    a = Statevector(multiplexed.bind(x, w))
    b = Statevector(controlled.bind(x, w))
    assert a.equiv(b)
    plain = compile_model(variant(entangle=entangle))
    assert not a.equiv(Statevector(plain.bind(x, w)))


def test_expert_reupload_branch_is_the_expert_alone(rng):
    """Branch |k> of the routing register sees expert k with the input re-uploaded."""
    from qiskit import QuantumCircuit

    model = compile_model(variant(entangle="none", experts=True))
    x = rng.uniform(0, np.pi, 8)
    w = rng.uniform(-np.pi, np.pi, model.num_weights)
    stage = model.stages["experts"]
    values = dict(zip(model.input_params, x, strict=True))
    values.update(zip(model.weight_params, w, strict=True))
    bound = stage.assign_parameters({p: values[p] for p in stage.parameters})
    start, _ = model.weight_groups["expert2"]
    expected = QuantumCircuit(4)
    rotations = ("ry", "rz", "rx", "ry")
    for layer in range(2):  # by hand: encoder on 4 data qubits (8 features = 2 layers), no CNOTs
        for lay in range(2):
            for q in range(4):
                getattr(expected, rotations[lay])(x[lay * 4 + q], q)
        for q in range(4):
            expected.rx(w[start + (layer * 4 + q) * 2], q)
            expected.ry(w[start + (layer * 4 + q) * 2 + 1], q)
        for q in range(3):
            expected.cx(q, q + 1)
        expected.cx(3, 0)
    branch = QuantumCircuit(6)
    branch.x(1)  # routing register |k = 2> (qubit 0 least significant)
    branch.compose(bound, inplace=True)
    out = Statevector(branch)
    reference = Statevector.from_label("000010")  # route |10>, data |0000>
    reference = reference.evolve(expected, qargs=[2, 3, 4, 5])
    assert out.equiv(reference)


def test_spec_options_validate_and_round_trip():
    spec = spec_from_dict(
        {
            "name": "m",
            "encoder": {"entangle": "within"},
            "routing": {"reupload": True},
            "experts": {"reupload": True},
        }
    )
    text = spec_to_toml(spec)
    assert 'entangle = "within"' in text and text.count("reupload = true") == 2
    with pytest.raises(SpecError, match="encoder.entangle.*'within'"):
        spec_from_dict({"name": "m", "encoder": {"entangle": "sideways"}})
    with pytest.raises(SpecError, match="routing.reupload"):
        spec_from_dict({"name": "m", "routing": {"reupload": "yes"}})
    baseline = compile_model(variant("baseline-mnist2-rx", experts=True))
    assert baseline.num_weights == compile_model("baseline-mnist2-rx").num_weights


@pytest.mark.parametrize(
    "options",
    [
        {"entangle": "within", "route": True, "experts": True},
        {"entangle": "none", "route": True, "construction": "controlled"},
    ],
)
def test_engines_run_the_options_exactly(rng, options):
    """Torch engine and Aer outputs equal Statevector expectations for the new circuits."""
    import torch

    from qmoe_qiskit import build_network

    model = compile_model(variant(**options))
    w = rng.uniform(-np.pi, np.pi, model.num_weights)
    x = rng.uniform(0, np.pi, (3, 8))
    expected = np.array(
        [
            [Statevector(model.bind(row, w)).expectation_value(o).real for o in model.observables]
            for row in x
        ]
    )
    for engine in ("torch", "aer"):
        with torch.no_grad():
            out = build_network(model, w, engine=engine)(torch.as_tensor(x)).double().numpy()
        np.testing.assert_allclose(out, expected, atol=1e-6)


@pytest.mark.parametrize("kind", ["qmoe-digits4-pca8", "paper-baseline-mnist2-rx"])
def test_encoder_scale_multiplies_every_angle(kind, rng):
    """A scaled model on x equals the unscaled circuit on scale * x (Statevector)."""
    spec = load_spec(kind)
    scaled = compile_model(
        dataclasses.replace(spec, encoder=dataclasses.replace(spec.encoder, scale=0.3))
    )
    plain = compile_model(spec)
    x = rng.uniform(0, np.pi, plain.num_inputs)
    w = plain.initial_weights(2)
    a = Statevector(scaled.bind(x, w))
    b = Statevector(plain.bind(0.3 * x, w))
    assert a.equiv(b)
    assert not a.equiv(Statevector(plain.bind(x, w)))
    assert "x 0.3" in scaled.describe()[0]
    with pytest.raises(SpecError, match="encoder.scale"):
        spec_from_dict({"name": "m", "encoder": {"scale": 0}})
    assert spec_from_dict({"name": "m", "encoder": {"scale": 1}}).encoder.scale == 1.0
