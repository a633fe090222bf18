"""Runtime submission (local testing mode, mocked service), retries, statuses, noise."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest
from qiskit.providers import JobStatus
from qiskit.quantum_info import SparsePauliOp, Statevector
from qiskit_aer.noise import NoiseModel
from qiskit_ibm_runtime.api.exceptions import RequestsApiError
from qiskit_ibm_runtime.fake_provider import FakeNairobiV2

from qmoe_qiskit.cli import main
from qmoe_qiskit.errors import RuntimeFailure
from qmoe_qiskit.hardware import (
    BackendHandle,
    fetch_job,
    open_backend,
    parameter_table,
    recover_jobs,
    refresh_status,
    submit_evaluation,
    transpile_model,
)
from qmoe_qiskit.hardware.ledger import Ledger
from qmoe_qiskit.hardware.noise import (
    apply_readout,
    noise_model_for,
    noisy_accuracy,
    noisy_expectations,
    readout_errors,
)
from qmoe_qiskit.hardware.retry import is_transient, normalize_status, with_retries
from qmoe_qiskit.training import load_run
from tests.conftest import train_tiny_run


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return load_run(train_tiny_run(tmp_path_factory.mktemp("run") / "r", test_limit=8))


@pytest.fixture(scope="module")
def transpiled(run):
    return transpile_model(run.model, FakeNairobiV2(), "fast")


def _exact(run, x):
    """Independent ideal class expectations: statevector of the logical bound circuit."""
    out = []
    for row in x:
        state = Statevector(run.model.bind(row, run.weights))
        out.append([state.expectation_value(o).real for o in run.model.observables])
    return np.array(out)


def test_normalize_status():
    assert normalize_status(JobStatus.DONE) == "done"
    assert normalize_status(JobStatus.QUEUED) == "queued"
    assert normalize_status("DONE") == "done" and normalize_status("RUNNING") == "running"
    assert normalize_status("CANCELLED - RAN TOO LONG") == "cancelled"
    assert normalize_status("ERROR") == "error" and normalize_status("weird") == "unknown"


def test_retries_with_backoff():
    sleeps, calls = [], []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise RequestsApiError("busy", status_code=503)
        return "ok"

    assert with_retries(flaky, sleep=sleeps.append, base_delay=1.0) == "ok"
    assert sleeps == [1.0, 2.0]
    with pytest.raises(RequestsApiError):
        with_retries(
            lambda: (_ for _ in ()).throw(RequestsApiError("bad", status_code=400)),
            sleep=sleeps.append,
        )
    assert sleeps == [1.0, 2.0]  # not transient: no retry
    assert is_transient(ConnectionError()) and not is_transient(ValueError())
    found = with_retries(
        lambda: (_ for _ in ()).throw(TimeoutError()),
        sleep=lambda _: None,
        before_retry=lambda: "existing-job",
    )
    assert found == "existing-job"


def test_parameter_table_by_name(run, transpiled, rng):
    data = run.config.load_data()
    table = parameter_table(
        transpiled.circuit,
        run.model.input_params,
        run.model.weight_params,
        data.x_test[:3],
        run.weights,
    )
    names = [p.name for p in transpiled.circuit.parameters]
    assert table.shape == (3, len(names))
    assert table[1, names.index("x[5]")] == data.x_test[1, 5]
    assert table[2, names.index(run.model.weight_params[4].name)] == run.weights[4]


def test_local_submit_records_rows_and_matches_noisy_reference(run, transpiled, tmp_path):
    data = run.config.load_data()
    ledger = Ledger(tmp_path / "jobs.sqlite")
    handle = open_backend("fake_nairobi")
    assert handle.mode == "local" and handle.service is None
    sub = submit_evaluation(
        handle,
        transpiled,
        run.model,
        x=data.x_test[:6],
        weights=run.weights,
        ledger=ledger,
        labels=data.y_test[:6],
        chunk=4,
        shots=4000,
        mitigation="none",  # compared with the unmitigated noisy reference below
    )
    conn = sqlite3.connect(ledger.path)
    rows = conn.execute(
        "SELECT status, mode, input_start, input_stop, job_id, result, shots FROM jobs ORDER BY id"
    ).fetchall()
    assert [(r[0], r[1], r[2], r[3], r[6]) for r in rows] == [
        ("done", "local", 0, 4, 4000),
        ("done", "local", 4, 6, 4000),
    ]
    evs = np.concatenate([json.loads(r[5])["expectations"] for r in rows])
    preds = np.concatenate([json.loads(r[5])["predictions"] for r in rows])
    assert np.array_equal(preds, evs.argmax(axis=1))
    assert np.isclose(sub.accuracy, np.mean(preds == data.y_test[:6]))
    nm = noise_model_for(FakeNairobiV2())
    table = parameter_table(
        transpiled.circuit,
        run.model.input_params,
        run.model.weight_params,
        data.x_test[:6],
        run.weights,
    )
    reference = noisy_expectations(transpiled, table, nm, readout_errors(nm))
    assert np.max(np.abs(evs - reference)) < 0.12  # 4000 shots: sigma ~ 0.016


def test_sampler_counts_give_expectations(run, transpiled, tmp_path):
    data = run.config.load_data()
    handle = open_backend("fake_nairobi")
    sub = submit_evaluation(
        handle,
        transpiled,
        run.model,
        x=data.x_test[:2],
        weights=run.weights,
        ledger=Ledger(tmp_path / "j.sqlite"),
        labels=data.y_test[:2],
        primitive="sampler",
        shots=4000,
    )
    evs = np.array(sub.records[0].result_data["expectations"])
    nm = noise_model_for(FakeNairobiV2())
    table = parameter_table(
        transpiled.circuit,
        run.model.input_params,
        run.model.weight_params,
        data.x_test[:2],
        run.weights,
    )
    assert (
        np.max(np.abs(evs - noisy_expectations(transpiled, table, nm, readout_errors(nm)))) < 0.12
    )


class _RemoteJob:
    def __init__(self, inner):
        self.inner, self.cancelled = inner, False

    def job_id(self):
        return "remote-" + self.inner.job_id()

    def status(self):
        return "DONE"  # real jobs report strings

    def result(self):
        return self.inner.result()

    def cancel(self):
        self.cancelled = True


class _Service:
    """Stands in for QiskitRuntimeService: backends are fake, jobs keep their tags."""

    def __init__(self):
        self.jobs_by_id, self.submitted = {}, []

    def backend(self, name):
        assert name == "ibm_nairobi"
        return FakeNairobiV2()

    def job(self, job_id):
        return self.jobs_by_id[job_id]

    def jobs(self, job_tags=None, limit=10):
        return []


def test_ibm_mode_path_with_mock_service(run, transpiled, tmp_path, monkeypatch):
    import qmoe_qiskit.hardware.submit as rt

    service = _Service()
    handle = open_backend("ibm_nairobi", service=service)
    assert handle.mode == "ibm" and handle.backend.name == "fake_nairobi"
    real_primitive = rt.make_primitive
    tags = []

    def primitive(kind, mode, **kwargs):
        prim = real_primitive(kind, mode, **kwargs)
        if kwargs.get("tag") is None:
            return prim  # the pricing primitive: never run
        tags.append(list(prim.options.environment.job_tags))
        run_ = prim.run

        class Wrapped:
            def run(self, pubs):
                job = _RemoteJob(run_(pubs))
                service.jobs_by_id[job.job_id()] = job
                return job

        return Wrapped()

    monkeypatch.setattr(rt, "make_primitive", primitive)
    data = run.config.load_data()
    ledger = Ledger(tmp_path / "jobs.sqlite")
    sub = submit_evaluation(
        handle,
        transpiled,
        run.model,
        x=data.x_test[:3],
        weights=run.weights,
        ledger=ledger,
        labels=data.y_test[:3],
        precision=0.05,
        wait=False,
    )
    (rec,) = sub.records
    assert rec.mode == "ibm" and rec.status == "done" and rec.result is None
    assert tags == [["qmoe", rec.tag]] and rec.job_id.startswith("remote-")
    fresh = Ledger(ledger.path)  # as from a new process
    assert refresh_status(fresh, rec.job_id, service=service).status == "done"
    fetched = fetch_job(fresh, rec.id, service=service)
    assert len(fetched.result_data["predictions"]) == 3
    assert fetched.result_data["labels"] == [int(v) for v in data.y_test[:3]]


def test_transient_submit_error_is_retried_and_fatal_one_recorded(
    run, transpiled, tmp_path, monkeypatch
):
    import qmoe_qiskit.hardware.submit as rt

    data = run.config.load_data()
    real_primitive = rt.make_primitive
    failures = {"left": 1, "exc": ConnectionError("reset by peer")}

    def primitive(*a, **kw):
        prim = real_primitive(*a, **kw)
        if kw.get("tag") is None:
            return prim  # the pricing primitive: never run

        class Flaky:
            def run(self, pubs):
                if failures["left"]:
                    failures["left"] -= 1
                    raise failures["exc"]
                return prim.run(pubs)

        return Flaky()

    monkeypatch.setattr(rt, "make_primitive", primitive)
    monkeypatch.setattr(rt.time, "sleep", lambda _: None)
    ledger = Ledger(tmp_path / "jobs.sqlite")
    handle = BackendHandle("fake_nairobi", "local", FakeNairobiV2())
    sub = submit_evaluation(
        handle,
        transpiled,
        run.model,
        x=data.x_test[:2],
        weights=run.weights,
        ledger=ledger,
        sleep=lambda _: None,
    )
    assert [r.status for r in sub.records] == ["done"]
    failures.update(left=5, exc=ValueError("invalid pub"))
    with pytest.raises(RuntimeFailure, match="invalid pub"):
        submit_evaluation(
            handle, transpiled, run.model, x=data.x_test[:2], weights=run.weights, ledger=ledger
        )
    assert ledger.rows()[0].status == "submit_failed" and "invalid pub" in ledger.rows()[0].error


def test_cli_submit_and_jobs_local(run, tmp_path, capsys):
    db = tmp_path / "jobs.sqlite"
    assert (
        main(
            [
                "submit",
                str(run.path),
                "--backend",
                "fake_nairobi",
                "--limit",
                "3",
                "--shots",
                "500",
                "--ledger",
                str(db),
                "--json",
                "--profile",
                "fast",
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["mode"] == "local" and out["jobs"][0]["status"] == "done"
    job = out["jobs"][0]
    assert job["api"] == "executor-estimator" and job["mitigation"]["name"] == "trex"
    assert job["mitigation"]["measure_mitigation"] is True
    assert job["estimated_qpu_seconds"] > 0
    assert job["estimated_qpu_seconds"] == pytest.approx(out["estimated_qpu_seconds"])
    assert main(["jobs", "list", "--ledger", str(db), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["jobs"]
    assert listed[0]["job_id"] == out["jobs"][0]["job_id"]
    assert main(["jobs", "cancel", "1", "--ledger", str(db)]) == 2
    assert "local testing mode" in capsys.readouterr().err
    assert main(["jobs", "status", "1", "--ledger", str(db)]) == 0
    assert "cannot be queried again" in capsys.readouterr().out


def test_noise_zero_model_equals_ideal_and_readout_scaling(run, transpiled):
    data = run.config.load_data()
    table = parameter_table(
        transpiled.circuit,
        run.model.input_params,
        run.model.weight_params,
        data.x_test[:3],
        run.weights,
    )
    ideal = noisy_expectations(transpiled, table)
    assert np.allclose(ideal, _exact(run, data.x_test[:3]), atol=1e-8)
    assert np.allclose(noisy_expectations(transpiled, table, NoiseModel(), {}), ideal, atol=1e-10)
    obs = SparsePauliOp.from_list([("IZZ", 0.5), ("ZII", 0.25)])
    scaled = apply_readout(obs, {0: 0.1, 1: 0.2, 2: 0.05})
    assert np.allclose(scaled.coeffs, [0.5 * 0.8 * 0.6, 0.25 * 0.9])
    nm = noise_model_for(FakeNairobiV2())
    errors = readout_errors(nm)
    backend = FakeNairobiV2()
    assert np.isclose(errors[0], backend.target["measure"][(0,)].error)
    noisy = noisy_expectations(transpiled, table, nm, errors)
    assert np.max(np.abs(noisy - ideal)) > 1e-3  # the device noise is visible


def test_noisy_accuracy_and_cli(run, capsys):
    data = run.config.load_data()
    result = noisy_accuracy(
        run.model, run.weights, data.x_test, data.y_test, "fake_nairobi", profile="fast"
    )
    ideal_pred = _exact(run, data.x_test).argmax(axis=1)
    assert np.isclose(result.ideal_accuracy, np.mean(ideal_pred == data.y_test))
    assert result.test_size == len(data.y_test) and 0 <= result.noisy_accuracy <= 1
    assert (
        main(
            [
                "evaluate",
                str(run.path),
                "--noise",
                "fake_nairobi",
                "--noise-profile",
                "fast",
                "--json",
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["noise_backend"] == "fake_nairobi"
    assert out["ideal_accuracy"] == result.ideal_accuracy
    assert out["noisy_accuracy"] == result.noisy_accuracy and "test_accuracy" in out


def test_dry_run_prices_without_sending_or_recording(run, tmp_path, capsys, monkeypatch):
    import qiskit_ibm_runtime

    def no_service(*args, **kwargs):
        raise AssertionError("a dry run on a fake backend must not open the service")

    monkeypatch.setattr(qiskit_ibm_runtime, "QiskitRuntimeService", no_service)
    monkeypatch.setattr(qiskit_ibm_runtime.Batch, "__init__", no_service)
    db = tmp_path / "jobs.sqlite"
    base = ["submit", str(run.path), "--backend", "fake_nairobi", "--limit", "5", "--chunk", "2"]
    base += ["--shots", "1000", "--ledger", str(db), "--profile", "fast", "--dry-run"]
    prices = {}
    for mitigation in ("none", "trex+zne"):
        assert main([*base, "--mitigation", mitigation, "--json"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["dry_run"] is True and out["jobs"] == 3 and out["samples"] == 5
        spans = [(p["input_start"], p["input_stop"]) for p in out["prices"]]
        assert spans == [(0, 2), (2, 4), (4, 5)]
        prices[mitigation] = out
    plain = prices["none"]
    assert plain["circuits"] == 5 and plain["total_shots"] == 5000
    assert plain["estimated_qpu_seconds"] > 5000 * 250e-6  # at least the repetition delays
    assert prices["trex+zne"]["estimated_qpu_seconds"] > plain["estimated_qpu_seconds"]
    assert main(base) == 0
    text = capsys.readouterr().out
    assert "nothing sent to fake_nairobi" in text and "estimated QPU time" in text
    assert Ledger(db).rows() == []


def test_mitigation_needs_the_estimator(run, tmp_path, capsys):
    argv = ["submit", str(run.path), "--backend", "fake_nairobi", "--limit", "2"]
    argv += ["--ledger", str(tmp_path / "j.sqlite"), "--primitive", "sampler"]
    assert main([*argv, "--mitigation", "zne"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "needs the estimator" in err
    assert not (tmp_path / "j.sqlite").exists() or Ledger(tmp_path / "j.sqlite").rows() == []


def test_kill_9_of_one_of_two_concurrent_submits_leaves_no_row_stuck(run, tmp_path):
    """Two ``qmoe submit`` processes share a ledger; one is killed with SIGKILL mid-way.
    ``jobs recover`` run while the other still submits leaves the live one's rows alone;
    after it ends, every row is final: ``done`` (with no error text) or ``lost``."""
    import signal
    import subprocess
    import sys
    import time

    db = tmp_path / "jobs.sqlite"
    Ledger(db)
    argv = [
        sys.executable, "-c", "import sys; from qmoe_qiskit.cli import main; sys.exit(main())",
        "submit", str(run.path), "--backend", "fake_nairobi", "--limit", "8", "--chunk", "1",
        "--shots", "100", "--ledger", str(db), "--profile", "fast",
    ]  # fmt: skip
    victim = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    survivor = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def owned_by(proc):
        return [r for r in Ledger(db).rows() if r.owner.split(":")[1] == str(proc.pid)]

    deadline = time.monotonic() + 240
    while len(owned_by(victim)) < 2 and victim.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert victim.poll() is None, "the victim finished before it could be killed"
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    while not owned_by(survivor) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert survivor.poll() is None, "the survivor finished before recover could run beside it"
    during = recover_jobs(Ledger(db))
    by_owner = {r.record.id: r.action for r in during}
    for row in owned_by(survivor):
        if row.id in by_owner:
            assert by_owner[row.id] == "live"
    killed = owned_by(victim)
    assert any(r.status == "lost" for r in killed), [r.status for r in killed]
    assert survivor.wait(timeout=300) == 0, survivor.stderr.read()
    assert recover_jobs(Ledger(db)) == []  # nothing unfinished is left
    rows = Ledger(db).rows()
    assert {r.status for r in rows} <= {"done", "lost"}
    assert len(owned_by(survivor)) == 8
    assert all(r.status == "done" and r.error is None for r in owned_by(survivor))
    assert all(r.status in ("done", "lost") for r in killed)


def test_a_backend_v2_becomes_a_handle():
    from qiskit.providers import BackendV2
    from qiskit_ibm_runtime import IBMBackend

    from qmoe_qiskit.errors import HardwareError
    from qmoe_qiskit.hardware import as_backend_handle

    fake = FakeNairobiV2()
    handle = as_backend_handle(fake)
    assert (handle.name, handle.mode, handle.backend, handle.service) == (
        "fake_nairobi", "local", fake, None,
    )  # fmt: skip
    assert as_backend_handle(handle) is handle

    class _Real(IBMBackend):  # an IBMBackend as QiskitRuntimeService.backend gives it
        def __init__(self, service):
            BackendV2.__init__(self, name="ibm_test")
            self._service = service

    service = object()
    real = as_backend_handle(_Real(service))
    assert (real.name, real.mode, real.service) == ("ibm_test", "ibm", service)
    with pytest.raises(HardwareError, match="expected a BackendV2") as info:
        as_backend_handle("fake_nairobi")
    assert isinstance(info.value, ValueError)


def test_submit_takes_a_backend_v2_with_keyword_arguments(run, tmp_path):
    """A plain (noiseless) BackendV2 runs in local mode and gives the exact expectations."""
    from qiskit_aer import AerSimulator

    from qmoe_qiskit.errors import HardwareError

    simulator = AerSimulator(seed_simulator=5)
    transpiled = transpile_model(run.model, simulator, "fast")
    data = run.config.load_data()
    x, y = data.x_test[:3], data.y_test[:3]
    ledger = Ledger(tmp_path / "jobs.sqlite")
    with pytest.raises(TypeError):  # x, weights, ledger are keyword-only
        submit_evaluation(simulator, transpiled, run.model, x, run.weights, ledger)
    with pytest.raises(HardwareError, match="primitive must be one of") as info:
        submit_evaluation(
            simulator, transpiled, run.model, x=x, weights=run.weights, ledger=ledger,
            primitive="counts",
        )  # fmt: skip
    assert isinstance(info.value, ValueError)
    sub = submit_evaluation(
        simulator,
        transpiled,
        run.model,
        x=x,
        weights=run.weights,
        ledger=ledger,
        labels=y,
        precision=0.01,
        mitigation="none",
    )
    (rec,) = sub.records
    assert (rec.mode, rec.backend, rec.status) == ("local", simulator.name, "done")
    evs = np.array(rec.result_data["expectations"])
    np.testing.assert_allclose(evs, _exact(run, x), atol=0.06)  # 6 sigma at precision 0.01


def test_submit_dry_run_takes_a_fake_backend_directly(run, transpiled, tmp_path):
    backend = FakeNairobiV2()
    data = run.config.load_data()
    ledger = Ledger(tmp_path / "jobs.sqlite")
    sub = submit_evaluation(
        backend,
        transpiled,
        run.model,
        x=data.x_test[:2],
        weights=run.weights,
        ledger=ledger,
        shots=1000,
        mitigation="none",
        dry_run=True,
    )
    assert sub.dry_run and sub.records == [] and ledger.rows() == []
    (price,) = sub.prices
    assert (price["input_start"], price["input_stop"], price["circuits"]) == (0, 2, 2)
    assert price["shots"] == 1000 and price["qpu_seconds"] > 0
