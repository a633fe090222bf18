"""Real IBM hardware: opt in with ``pytest -m hardware`` and an IBM Quantum account.

Set ``QISKIT_IBM_TOKEN`` (and ``QISKIT_IBM_INSTANCE``) or save an account with
``QiskitRuntimeService.save_account``; ``QMOE_IBM_BACKEND`` picks the device (default: the least
busy operational one). Costs a few seconds of QPU time.
"""

from __future__ import annotations

import os

import pytest

from qmoe_qiskit.hardware import credentials_available

pytestmark = [
    pytest.mark.hardware,
    pytest.mark.skipif(
        not credentials_available(),
        reason="no IBM Quantum credentials: set QISKIT_IBM_TOKEN (+ QISKIT_IBM_INSTANCE) or "
        "save an account with QiskitRuntimeService.save_account",
    ),
]


@pytest.fixture(scope="module")
def handle():
    from qmoe_qiskit.hardware import make_service, open_backend

    service = make_service()
    name = (
        os.environ.get("QMOE_IBM_BACKEND")
        or service.least_busy(operational=True, simulator=False).name
    )
    return open_backend(name, service=service)


def test_real_transpile_report(handle):
    from qmoe_qiskit import compile_model
    from qmoe_qiskit.hardware import resource_report, transpile_model

    model = compile_model("qmoe-digits4")
    report = resource_report(transpile_model(model, handle.backend), handle.backend)
    assert report.two_qubit_gates >= report.logical_two_qubit_gates > 0
    assert report.circuit_duration_s > 0


def test_real_submit_status_fetch(handle, tmp_path):
    from qmoe_qiskit.hardware import fetch_job, refresh_status, submit_evaluation, transpile_model
    from qmoe_qiskit.hardware.ledger import Ledger
    from qmoe_qiskit.training import RunConfig, load_run, train

    config = RunConfig.from_spec(
        __import__("qmoe_qiskit").load_spec("qmoe-digits4"), epochs=1, train_limit=16, test_limit=4
    )
    train("qmoe-digits4", tmp_path / "run", config, progress=False, log=lambda _: None)
    run = load_run(tmp_path / "run")
    data = run.config.load_data()
    ledger = Ledger(tmp_path / "jobs.sqlite")
    sub = submit_evaluation(
        handle,
        transpile_model(run.model, handle.backend),
        run.model,
        x=data.x_test[:2],
        weights=run.weights,
        ledger=ledger,
        labels=data.y_test[:2],
        precision=0.05,
        wait=False,
    )
    (rec,) = sub.records
    assert rec.mode == "ibm" and rec.job_id
    fresh = Ledger(ledger.path)
    assert refresh_status(fresh, rec.job_id).status in {
        "queued",
        "validating",
        "running",
        "done",
        "initializing",
    }
    assert len(fetch_job(fresh, rec.id).result_data["predictions"]) == 2
