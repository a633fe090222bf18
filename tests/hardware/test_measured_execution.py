"""routing.execution = "measured" on backends: transpile, resource report, local submission."""

from __future__ import annotations

import json

import numpy as np
import pytest
from qiskit.providers.fake_provider import GenericBackendV2
from qiskit.quantum_info import Statevector
from qiskit_aer import AerSimulator
from qiskit_ibm_runtime.fake_provider import FakeFez

from qmoe_qiskit import compile_model
from qmoe_qiskit.cli import main
from qmoe_qiskit.errors import TranspileError
from qmoe_qiskit.hardware import BackendHandle, resource_report, submit_evaluation, transpile_model
from qmoe_qiskit.hardware.ledger import Ledger
from qmoe_qiskit.training import RunConfig, load_run, train
from tests.conftest import make_spec

SMALL = {"experts.count": 2, "experts.layers": 1}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    spec = make_spec(**SMALL, **{"routing.execution": "measured"})
    config = RunConfig.from_spec(spec, epochs=1, train_limit=16, test_limit=6, batch_size=16)
    out = tmp_path_factory.mktemp("measured") / "r"
    train(spec, out, config, progress=False, log=lambda _: None)
    return load_run(out)


@pytest.fixture(scope="module")
def fez():
    return FakeFez()


def _ideal(model, x, w):
    out = []
    for row in x:
        state = Statevector(model.bind(row, w))  # the coherent circuit
        out.append([state.expectation_value(o).real for o in model.observables])
    return np.array(out)


@pytest.mark.parametrize("count", [2, 4])
def test_fake_fez_runs_one_expert_per_shot(fez, count):
    changes = {"experts.count": count}
    coherent = transpile_model(compile_model(make_spec(**changes)), fez, "default")
    measured_model = compile_model(make_spec(**changes, **{"routing.execution": "measured"}))
    measured = transpile_model(measured_model, fez, "default")
    a, b = resource_report(coherent, fez), resource_report(measured, fez)
    assert (a.branches, b.branches) == (1, count)
    assert b.logical_two_qubit_gates == measured_model.summary()["measured_two_qubit_gates"]
    assert b.two_qubit_gates < a.two_qubit_gates and b.depth < a.depth
    assert b.two_qubit_gates <= b.two_qubit_gates_all_branches
    assert b.gate_counts["if_else"] == count and a.two_qubit_gates_all_branches == a.two_qubit_gates
    assert b.circuit_duration_s > 0 and "if_else" not in b.missing_durations


def test_backend_without_feed_forward_is_refused():
    backend = GenericBackendV2(num_qubits=8, control_flow=False, seed=1)
    model = compile_model(make_spec(**SMALL, **{"routing.execution": "measured"}))
    with pytest.raises(TranspileError, match="does not run dynamic circuits"):
        transpile_model(model, backend, "fast")


def test_noiseless_local_sampler_gives_the_coherent_expectations(run, tmp_path):
    """Layout, parameter binding and the sampler's bit order, free of device noise."""
    simulator = AerSimulator(seed_simulator=3)
    handle = BackendHandle(name="aer_simulator", mode="local", backend=simulator)
    transpiled = transpile_model(run.model, simulator, "fast")
    data = run.config.load_data()
    with pytest.raises(ValueError, match="runs on the sampler"):
        submit_evaluation(handle, transpiled, run.model, x=data.x_test[:3], weights=run.weights,
                          ledger=Ledger(tmp_path / "e.sqlite"))  # fmt: skip
    shots = 20_000
    sub = submit_evaluation(
        handle, transpiled, run.model, x=data.x_test[:3], weights=run.weights,
        ledger=Ledger(tmp_path / "j.sqlite"), labels=data.y_test[:3], primitive="sampler",
        shots=shots,
    )  # fmt: skip
    evs = np.array(sub.records[0].result_data["expectations"])
    ideal = _ideal(run.model, data.x_test[:3], run.weights)
    np.testing.assert_allclose(evs, ideal, atol=5 / np.sqrt(shots))


def test_cli_submits_the_measured_form_on_fake_fez_with_a_ledger_row(run, tmp_path, capsys):
    db = tmp_path / "jobs.sqlite"
    argv = ["submit", str(run.path), "--backend", "fake_fez", "--limit", "3", "--shots", "4000",
            "--ledger", str(db), "--json"]  # fmt: skip
    assert main([*argv, "--primitive", "estimator"]) == 2
    err = capsys.readouterr().err
    assert "estimator cannot run" in err and err.count("\n") == 1 and not db.exists()
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    job = out["jobs"][0]
    assert out["mode"] == "local" and job["status"] == "done"
    assert job["api"] == "executor-sampler" and job["backend"] == "fake_fez"
    listed = Ledger(db).rows()
    assert len(listed) == 1 and listed[0].status == "done"
    evs = np.array(listed[0].result_data["expectations"])
    data = run.config.load_data()
    ideal = _ideal(run.model, data.x_test[:3], run.weights)
    # The device noise of fake_fez (readout ~1-2 %, 2q errors ~3e-3 on ~20 gates per shot)
    # moves the expectations by less than 0.1; shot noise at 4000 shots is ~0.016.
    assert np.max(np.abs(evs - ideal)) < 0.15


def test_noisy_evaluation_points_a_measured_model_to_submit(run, capsys):
    assert main(["evaluate", str(run.path), "--noise", "fake_fez"]) == 2
    err = capsys.readouterr().err
    assert "qmoe submit RUN --backend fake_NAME" in err and err.count("\n") == 1
