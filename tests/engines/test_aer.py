"""Device selection and the EstimatorQNN/TorchConnector layering."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from qiskit.quantum_info import Statevector
from qiskit_machine_learning.connectors import TorchConnector
from qiskit_machine_learning.neural_networks import EstimatorQNN

from qmoe_qiskit import compile_model
from qmoe_qiskit.engines import build_network, describe_device
from qmoe_qiskit.engines import devices as engine_devices
from qmoe_qiskit.errors import DeviceError
from tests.conftest import make_spec


@pytest.fixture
def fake_devices(monkeypatch):
    def use(devices):
        monkeypatch.setattr(engine_devices, "aer_devices", lambda: tuple(devices))

    return use


def test_auto_picks_gpu_only_when_aer_lists_one(fake_devices):
    fake_devices(["CPU"])
    assert engine_devices.resolve_aer_device("auto") == "CPU"
    fake_devices(["CPU", "GPU"])
    assert engine_devices.resolve_aer_device("auto") == "GPU"
    assert engine_devices.resolve_aer_device("cpu") == "CPU"


def test_missing_gpu_is_a_clear_error_before_training(fake_devices):
    fake_devices(["CPU"])
    with pytest.raises(DeviceError, match="'gpu' was requested.*lists only CPU"):
        engine_devices.resolve_aer_device("gpu")
    with pytest.raises(DeviceError, match="lists only CPU"):
        describe_device("aer", "gpu")
    with pytest.raises(DeviceError, match="unknown device"):
        engine_devices.resolve_aer_device("tpu")


def test_qnn_is_exact_and_layered(rng):
    model = compile_model(make_spec(**{"experts.count": 2}))
    network = build_network(model, engine="aer", device="cpu", seed=3)
    assert isinstance(network, TorchConnector)
    assert isinstance(network.neural_network, EstimatorQNN)
    assert network.neural_network.input_gradients is False
    weights = model.initial_weights(3)
    np.testing.assert_allclose(network.weight.detach().numpy(), weights, atol=1e-6)
    x = rng.uniform(0, np.pi, (2, 64))
    out = network(torch.as_tensor(x)).detach().numpy()
    w32 = network.weight.detach().double().numpy()
    for s in range(2):
        state = Statevector(model.bind(x[s], w32))
        expected = [state.expectation_value(o).real for o in model.observables]
        np.testing.assert_allclose(out[s], expected, atol=1e-6)  # float32 connector output


def test_memory_budget_reaches_the_aer_calls():
    model = compile_model(make_spec(**{"experts.count": 2}))
    network = build_network(model, engine="aer", device="cpu", memory_gb=0.25)
    qnn = network.neural_network
    assert qnn.estimator.memory_gb == 0.25
    assert qnn.gradient._memory_gb == 0.25
    default = build_network(model, engine="aer", device="cpu").neural_network
    assert default.estimator.memory_gb == model.spec.training.memory_gb == 1.0
