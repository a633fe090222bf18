"""Qiskit-native interop: headed models, the top-level ``build_qnn``, qiskit-machine-learning's
``NeuralNetworkClassifier`` (``examples/qml_classifier.py``), user errors as ``QmoeError``.

Every value is checked against ``Statevector`` expectations of the bound logical circuit.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from qiskit.circuit import Parameter
from qiskit.quantum_info import SparsePauliOp, Statevector

import qmoe_qiskit as qm
from qmoe_qiskit.engines.aer import build_torch_network
from qmoe_qiskit.engines.statevector.network import TorchStatevectorNetwork
from qmoe_qiskit.errors import (
    EngineError,
    HardwareError,
    NotCircuitModelError,
    QmoeError,
    SpecError,
)
from qmoe_qiskit.models import CompiledModel, HeadedModel
from tests.conftest import REPO, load_module


def _expectations(model: CompiledModel, x: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Class expectations ``(rows, classes)`` of the bound logical circuit, by Statevector."""
    rows = []
    for row in np.atleast_2d(x):
        state = Statevector(model.bind(row, weights))
        rows.append([state.expectation_value(o).real for o in model.observables])
    return np.array(rows)


@pytest.fixture(scope="module")
def headed():
    return qm.compile_model("qmoe-mnist4-rx")


@pytest.fixture(scope="module")
def plain():
    return qm.compile_model("qmoe-digits4-pca8")


def test_headed_model_exposes_its_circuit_part_and_head(headed, rng):
    assert isinstance(headed, HeadedModel) and headed.head == "affine"
    circuit = headed.circuit_model
    assert isinstance(circuit, CompiledModel) and circuit.num_weights < headed.num_weights
    weights = rng.uniform(-1.0, 1.0, headed.num_weights)
    circuit_w, head_w = headed.split_weights(weights)
    n, c = circuit.num_weights, headed.num_classes
    np.testing.assert_array_equal(circuit_w, weights[:n])
    np.testing.assert_array_equal(head_w, weights[n:])
    # the documented layout: A row-major, then b
    a, b = weights[n : n + c * c].reshape(c, c), weights[n + c * c :]
    matrix, offset = headed.head_affine(weights)
    np.testing.assert_array_equal(matrix, a)
    np.testing.assert_array_equal(offset, b)
    x = rng.uniform(0.0, np.pi, (2, headed.num_inputs))
    z = _expectations(circuit, x, circuit_w)
    expected = z @ a.T + b
    np.testing.assert_allclose(headed.readout(z, x, weights), expected, atol=1e-12)
    module = headed.head_module(weights)
    np.testing.assert_allclose(module(torch.as_tensor(z)).detach().numpy(), expected, atol=1e-12)
    network = qm.build_network(headed, weights, engine="torch")
    with torch.no_grad():
        scores = network(torch.as_tensor(x)).numpy()
    np.testing.assert_allclose(scores, expected, atol=1e-9)
    identity = headed.head_module()  # the initial head is the identity
    np.testing.assert_allclose(identity(torch.as_tensor(z)).detach().numpy(), z, atol=0)
    with pytest.raises(EngineError, match=f"expected {headed.num_weights} weights"):
        headed.split_weights(weights[:-1])


@pytest.mark.parametrize(
    "build", [qm.build_qnn, build_torch_network, TorchStatevectorNetwork], ids=lambda f: f.__name__
)
def test_circuit_builders_refuse_a_headed_model(headed, build):
    with pytest.raises(NotCircuitModelError) as info:
        build(headed)
    message = str(info.value)
    assert "\n" not in message
    assert "model.circuit_model" in message and "20 classical weights" in message
    assert "head" in message
    assert isinstance(info.value, QmoeError) and isinstance(info.value, ValueError)


def test_build_qnn_refuses_a_hybrid_model():
    hybrid = qm.compile_model("hybrid-mnist01-linear-pca8")
    with pytest.raises(NotCircuitModelError, match="plain circuit model"):
        qm.build_qnn(hybrid)


def test_build_qnn_is_top_level_and_matches_statevector(plain, rng):
    from qmoe_qiskit.engines.aer import build_qnn

    assert "build_qnn" in qm.__all__ and qm.build_qnn is build_qnn
    assert isinstance(plain, CompiledModel)
    qnn = qm.build_qnn(plain)
    assert qnn.output_shape == (plain.num_classes,)
    weights = plain.initial_weights(3)
    x = rng.uniform(0.0, np.pi, (3, plain.num_inputs))
    np.testing.assert_allclose(qnn.forward(x, weights), _expectations(plain, x, weights), atol=1e-9)
    # the circuit part of a headed model gives the QNN of that circuit
    headed = HeadedModel(plain, "scale")
    qnn = qm.build_qnn(headed.circuit_model)
    np.testing.assert_allclose(qnn.forward(x, weights), _expectations(plain, x, weights), atol=1e-9)


def test_build_qnn_user_errors_are_qmoe_errors(plain):
    wide = [SparsePauliOp("Z" * (plain.num_qubits + 1))] * plain.num_classes
    foreign = plain.decomposed.copy()
    foreign.rx(Parameter("nope"), 0)
    cases = [
        ({"gradient": "finite"}, "unknown gradient 'finite'"),
        ({"circuit": plain.decomposed}, "circuit and observables are given together"),
        ({"observables": list(plain.observables)}, "circuit and observables"),
        ({"circuit": plain.decomposed, "observables": wide}, "observables act on"),
        ({"circuit": foreign, "observables": list(plain.observables)}, r"\['nope'\]"),
    ]
    for kwargs, match in cases:
        with pytest.raises(EngineError, match=match) as info:
            qm.build_qnn(plain, **kwargs)
        assert isinstance(info.value, QmoeError) and isinstance(info.value, ValueError)
        assert "\n" not in str(info.value)


def test_user_errors_of_models_engines_hardware_are_qmoe_errors(plain):
    from qmoe_qiskit.engines.aer import ChunkedEstimator, aer_estimator
    from qmoe_qiskit.hardware.primitives import mitigation_settings
    from qmoe_qiskit.models.classical import mlp
    from qmoe_qiskit.models.diffqas import DiffQASSpace
    from qmoe_qiskit.models.head import head_weights

    cases = [
        (SpecError, lambda: head_weights("softmax", 4)),
        (SpecError, lambda: DiffQASSpace(num_qubits=0, depth=1)),
        (SpecError, lambda: mlp([4])),
        (EngineError, lambda: TorchStatevectorNetwork(plain, dtype=torch.float64)),
        (EngineError, lambda: TorchStatevectorNetwork(plain, np.zeros(3))),
        (EngineError, lambda: ChunkedEstimator(aer_estimator("cpu").estimator, 0.0)),
        (HardwareError, lambda: mitigation_settings("estimator", "magic")),
        (HardwareError, lambda: mitigation_settings("sampler", "trex")),
    ]
    for error, call in cases:
        with pytest.raises(error) as info:
            call()
        assert isinstance(info.value, ValueError) and "\n" not in str(info.value)


def _example():
    return load_module(REPO / "examples" / "qml_classifier.py", "qml_classifier")


def test_qml_classifier_example_predicts_as_the_torch_network():
    out = _example().main(samples=20, maxiter=80)
    model = out["model"]
    assert isinstance(model, HeadedModel)
    fitted = out["classifier"].weights
    circuit_w, head_w = model.split_weights(out["weights"])
    np.testing.assert_array_equal(circuit_w, fitted)
    assert not np.allclose(fitted, model.split_weights(model.initial_weights(0))[0])  # trained
    # the classifier's and the torch engine's predictions agree ...
    np.testing.assert_array_equal(out["classifier_predictions"], out["torch_predictions"])
    # ... and are those of Statevector expectations through the (identity) head
    z = _expectations(model.circuit_model, out["x_test"], circuit_w)
    c = model.num_classes
    a, b = head_w[: c * c].reshape(c, c), head_w[c * c :]
    np.testing.assert_array_equal(out["torch_predictions"], np.argmax(z @ a.T + b, axis=1))
    # the classifier's QNN is the circuit part's EstimatorQNN
    np.testing.assert_allclose(out["qnn"].forward(out["x_test"][:3], fitted), z[:3], atol=1e-9)
    assert len(out["y_train"]) == 20 and set(out["y_train"]) == {0, 1, 2, 3}
