"""Noise-aware training: exact noisy expectations and gradients, checked against finite
differences of the noisy expectation; the CLI trains on a fake backend's noise."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from qiskit_aer.noise import NoiseModel, depolarizing_error
from qiskit_ibm_runtime.fake_provider import FakeManilaV2

from qmoe_qiskit import build_network, compile_model
from qmoe_qiskit.cli import main
from qmoe_qiskit.hardware import parameter_table, transpile_model
from qmoe_qiskit.hardware.noise import noise_model_for, noisy_expectations, readout_errors
from qmoe_qiskit.hardware.noise_aware import noisy_network_factory, shift_rule_report
from tests.conftest import make_spec

#: 1 routing + 4 data qubits (fits a 5-qubit device), 8 inputs, 2 experts of 1 layer.
FIVE = {"encoder.features": 8, "experts.count": 2, "experts.layers": 1, "routing.layers": 1}


@pytest.fixture(scope="module")
def model():
    return compile_model(make_spec(**FIVE))


def _angle_noise() -> NoiseModel:
    """Depolarizing noise on every gate, the trainable rz included."""
    noise = NoiseModel(basis_gates=["rz", "sx", "x", "cx"])
    noise.add_all_qubit_quantum_error(depolarizing_error(0.02, 1), ["rz", "sx", "x"])
    noise.add_all_qubit_quantum_error(depolarizing_error(0.05, 2), ["cx"])
    return noise


@pytest.mark.parametrize("custom", [False, True], ids=["fake_manila", "noise-on-rz"])
def test_gradients_are_those_of_the_noisy_expectation(model, rng, custom):
    backend = FakeManilaV2()
    noise = _angle_noise() if custom else noise_model_for(backend)
    transpiled = transpile_model(model, backend, "fast")
    report = shift_rule_report(transpiled, noise)
    assert report.exact and set(report.gates) == {"rz"}
    assert report.noisy_gates == (("rz",) if custom else ())  # IBM's rz is virtual: no noise
    factory = noisy_network_factory(backend, "fast", noise_model=noise)
    w = rng.uniform(-np.pi, np.pi, model.num_weights)
    x = rng.uniform(0, 1, (2, model.num_inputs))
    network = build_network(model, w, factory=factory)
    coeffs = rng.normal(size=(2, model.num_classes))

    def reference(weights: np.ndarray) -> np.ndarray:
        table = parameter_table(
            transpiled.circuit, model.input_params, model.weight_params, x, weights
        )
        return noisy_expectations(transpiled, table, noise, readout_errors(noise))

    out = network(torch.as_tensor(x))
    np.testing.assert_allclose(out.detach().numpy(), reference(w), atol=1e-9)
    (out * torch.as_tensor(coeffs)).sum().backward()
    grad = network.weight.grad.numpy()
    eps = 1e-4
    for i in rng.choice(model.num_weights, size=6, replace=False):
        up, down = w.copy(), w.copy()
        up[i] += eps
        down[i] -= eps
        fd = np.sum(coeffs * (reference(up) - reference(down))) / (2 * eps)
        assert grad[i] == pytest.approx(fd, abs=1e-6)
    ideal = build_network(model, w, engine="torch")(torch.as_tensor(x)).detach().numpy()
    assert np.max(np.abs(ideal - out.detach().numpy())) > 1e-3  # the noise is really there


def test_cli_trains_on_the_noise_and_scores_on_the_same_simulator(tmp_path, capsys):
    spec = tmp_path / "five.toml"
    spec.write_text(
        'name = "five"\nkind = "qmoe"\nclasses = 4\n[encoder]\nfeatures = 8\n'
        "[routing]\nlayers = 1\n[experts]\ncount = 2\nlayers = 1\n"
        '[data]\nname = "digits"\npca = 8\n'
    )
    run = tmp_path / "run"
    argv = ["train", str(spec), "--out", str(run), "--noise", "fake_manila",
            "--noise-profile", "fast", "--train-limit", "16", "--test-limit", "12",
            "--epochs", "1", "--batch-size", "16", "--quiet"]  # fmt: skip
    assert main(argv) == 0
    capsys.readouterr()
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["noise"] == "fake_manila"
    args = ["evaluate", str(run), "--noise", "fake_manila", "--noise-profile", "fast", "--json"]
    assert main(args) == 0
    noisy = json.loads(capsys.readouterr().out)
    assert noisy["noisy_accuracy"] == metrics["test_accuracy"]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--engine", "torch"], "use --engine aer"),
        (["--noise-profile", "nope"], "unknown transpile profile 'nope'"),
    ],
)
def test_bad_noise_settings_are_one_line(tmp_path, capsys, extra, expected):
    out = tmp_path / "run"
    argv = ["train", "qmoe-digits4", "--out", str(out), "--noise", "fake_manila", *extra]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert expected in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_too_small_or_unknown_backend_is_one_line(tmp_path, capsys):
    for name, expected in [("fake_manila", "has 5 qubits, the model needs 6"),
                           ("fake_nowhere", "fake_nowhere")]:  # fmt: skip
        out = tmp_path / name
        assert main(["train", "qmoe-digits4", "--out", str(out), "--noise", name]) == 2
        err = capsys.readouterr().err.strip()
        assert expected in err and len(err.splitlines()) == 1
        assert not out.exists()


def test_restricting_to_the_active_qubits_changes_no_value(model, rng):
    """A 133-qubit device's noise model, full width (Aer directly) vs restricted."""
    from qiskit_aer.primitives import EstimatorV2 as AerEstimator
    from qiskit_ibm_runtime.fake_provider import FakeTorino

    from qmoe_qiskit.hardware.noise import apply_readout, restrict_to_active

    backend = FakeTorino()
    noise = noise_model_for(backend)
    transpiled = transpile_model(model, backend, "fast")
    x = rng.uniform(0, 1, (2, model.num_inputs))
    w = rng.uniform(-np.pi, np.pi, model.num_weights)
    table = parameter_table(transpiled.circuit, model.input_params, model.weight_params, x, w)
    readout = readout_errors(noise)
    observables = [apply_readout(o, readout) for o in transpiled.observables]
    options = {"method": "density_matrix", "noise_model": noise}
    full = AerEstimator(options={"default_precision": 0.0, "backend_options": options})
    pub = (transpiled.circuit, [[o] for o in observables], table)
    expected = np.asarray(full.run([pub]).result()[0].data.evs).reshape(len(observables), -1).T
    np.testing.assert_allclose(noisy_expectations(transpiled, table, noise, readout), expected,
                               atol=1e-12)  # fmt: skip
    circuit, mapped, small = restrict_to_active(transpiled.circuit, observables, noise)
    assert circuit.num_qubits == model.num_qubits and mapped[0].num_qubits == model.num_qubits
    assert set(readout_errors(small)) == set(range(model.num_qubits))
