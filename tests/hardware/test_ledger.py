"""Job ledger: rows written before submission, read back with sqlite3 directly."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys

import pytest

from qmoe_qiskit.hardware import recover_jobs
from qmoe_qiskit.hardware.ledger import (
    Ledger,
    LedgerError,
    default_ledger_path,
    owner_alive,
    process_identity,
)


def _raw(path, row_id):
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        return dict(conn.execute("SELECT * FROM jobs WHERE id = ?", (row_id,)).fetchone())
    finally:
        conn.close()


def test_begin_commits_submitting_row_before_any_job(tmp_path):
    ledger = Ledger(tmp_path / "l.sqlite")
    rec = ledger.begin(
        mode="ibm",
        backend="ibm_x",
        primitive="estimator",
        input_start=3,
        input_stop=7,
        labels=[0, 1, 2, 3],
        spec_name="s",
        weights_hash="abc",
    )
    raw = _raw(ledger.path, rec.id)  # another connection sees it: committed
    assert raw["status"] == "submitting" and raw["job_id"] is None
    assert raw["tag"].startswith("qmoe-") and len(raw["tag"]) == 37
    assert (raw["input_start"], raw["input_stop"]) == (3, 7)
    assert json.loads(raw["labels"]) == [0, 1, 2, 3]
    other = ledger.begin(mode="ibm", backend="ibm_x", primitive="estimator")
    assert other.tag != rec.tag and other.id == rec.id + 1


def test_submitted_result_and_lookup(tmp_path):
    ledger = Ledger(tmp_path / "l.sqlite")
    rec = ledger.begin(mode="local", backend="fake_x", primitive="estimator")
    ledger.set_submitted(rec.id, "job-123", "queued", batch_id="b1")
    ledger.update(rec.id, status="done", result={"accuracy": 0.5, "predictions": [1, 0]})
    raw = _raw(ledger.path, rec.id)
    assert (raw["job_id"], raw["status"], raw["batch_id"]) == ("job-123", "done", "b1")
    assert json.loads(raw["result"])["accuracy"] == 0.5
    fresh = Ledger(ledger.path)  # a new process
    assert fresh.get("job-123").id == rec.id == fresh.get(rec.tag).id == fresh.get(str(rec.id)).id
    assert fresh.get(rec.id).result_data["predictions"] == [1, 0]
    with pytest.raises(LedgerError, match="no job"):
        fresh.get("nope")
    with pytest.raises(LedgerError, match="unknown ledger columns"):
        fresh.update(rec.id, token="x")


def test_rows_filter_and_order(tmp_path):
    ledger = Ledger(tmp_path / "l.sqlite")
    ids = [ledger.begin(mode="local", backend="b", primitive="estimator").id for _ in range(3)]
    ledger.update(ids[1], status="done")
    assert [r.id for r in ledger.rows()] == ids[::-1]
    assert [r.id for r in ledger.rows(status="submitting")] == [ids[2], ids[0]]
    assert len(ledger.rows(limit=2)) == 2


def test_default_path_from_env(monkeypatch, tmp_path):
    monkeypatch.setenv("QMOE_LEDGER", str(tmp_path / "env.sqlite"))
    assert default_ledger_path() == tmp_path / "env.sqlite"
    monkeypatch.delenv("QMOE_LEDGER")
    assert default_ledger_path().name == "jobs.sqlite" and ".qmoe" in str(default_ledger_path())


class _Job:
    def __init__(self, job_id, status="QUEUED"):
        self._id, self._status = job_id, status

    def job_id(self):
        return self._id

    def status(self):
        return self._status


class _Service:
    """Knows one job by its tags (what IBM's service does with job_tags)."""

    def __init__(self):
        self.by_tag = {}
        self.by_id = {}

    def job(self, job_id):
        return self.by_id[job_id]

    def jobs(self, job_tags=None, limit=10):
        return [self.by_tag[t] for t in job_tags or () if t in self.by_tag][:limit]


def _rows_from_a_process_that_ended(path, modes):
    """Ledger rows written by another Python process that has exited (a crashed submit)."""
    code = (
        "import sys\n"
        "from qmoe_qiskit.hardware.ledger import Ledger\n"
        "ledger = Ledger(sys.argv[1])\n"
        "for mode in sys.argv[2:]:\n"
        "    print(ledger.begin(mode=mode, backend='b', primitive='estimator').id)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(path), *modes], capture_output=True, text=True, check=True
    )
    return [int(v) for v in out.stdout.split()]


def test_rows_name_their_process_and_liveness_is_told_apart(tmp_path):
    ledger = Ledger(tmp_path / "l.sqlite")
    mine = ledger.begin(mode="local", backend="b", primitive="estimator")
    assert mine.owner == process_identity()
    assert mine.owner.split(":")[1] == str(os.getpid())
    assert owner_alive(mine.owner) is True
    (dead,) = _rows_from_a_process_that_ended(ledger.path, ["local"])
    assert ledger.get(dead).owner.split(":")[1] != str(os.getpid())
    assert owner_alive(ledger.get(dead).owner) is False
    # the pid of a live process with another start time is a recycled pid: not the owner
    host, pid, start = process_identity().split(":")
    assert owner_alive(f"{host}:{pid}:{int(start) + 1}") is False
    assert owner_alive(f"elsewhere.example:{pid}:{start}") is None
    assert owner_alive(None) is None and owner_alive("garbage") is None


def test_recover_settles_rows_of_dead_processes_and_leaves_live_ones(tmp_path):
    ledger = Ledger(tmp_path / "l.sqlite")
    lost_real, never_sent, local, sent = _rows_from_a_process_that_ended(
        ledger.path, ["ibm", "ibm", "local", "ibm"]
    )
    ledger.set_submitted(sent, "d1f2-sent", "queued")
    live_local = ledger.begin(mode="local", backend="fake_x", primitive="estimator")
    live_real = ledger.begin(mode="ibm", backend="ibm_x", primitive="estimator")
    service = _Service()
    service.by_tag[ledger.get(lost_real).tag] = _Job("d1f2-real", "RUNNING")  # exists there
    service.by_id = {"d1f2-sent": _Job("d1f2-sent", "DONE")}
    recovered = {r.record.id: r for r in recover_jobs(Ledger(ledger.path), service=service)}
    assert {k: r.action for k, r in recovered.items()} == {
        lost_real: "found",
        never_sent: "lost",
        local: "lost",
        sent: "refreshed",
        live_local.id: "live",
        live_real.id: "live",
    }
    assert _raw(ledger.path, lost_real)["job_id"] == "d1f2-real"
    assert recovered[lost_real].record.status == "running"
    assert _raw(ledger.path, never_sent)["status"] == "lost"
    assert "no job carries its tag" in _raw(ledger.path, never_sent)["error"]
    assert _raw(ledger.path, local)["status"] == "lost"
    assert _raw(ledger.path, sent)["status"] == "done"  # result: 'qmoe jobs fetch'
    assert _raw(ledger.path, live_local.id)["status"] == "submitting"  # untouched
    assert _raw(ledger.path, live_real.id)["status"] == "submitting"


def test_rows_from_before_owners_keep_the_old_recovery(tmp_path):
    """Rows without an owner (ledgers before version 3): local ones are lost, real ones are
    looked up by tag and left alone when the service does not have them."""
    ledger = Ledger(tmp_path / "l.sqlite")
    local = ledger.begin(mode="local", backend="b", primitive="estimator")
    real = ledger.begin(mode="ibm", backend="b", primitive="estimator")
    conn = sqlite3.connect(ledger.path)
    conn.execute("UPDATE jobs SET owner = NULL")
    conn.commit()
    conn.close()
    actions = {r.record.id: r.action for r in recover_jobs(ledger, service=_Service())}
    assert actions == {local.id: "lost", real.id: "unsent"}


#: The ledger table as version 1 of qmoe-qiskit wrote it (no user_version, no api, mitigation
#: or estimated_qpu_seconds), written out here so the migration is tested against real old files.
_VERSION_1 = """
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, tag TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL, mode TEXT NOT NULL, backend TEXT NOT NULL, primitive TEXT NOT NULL,
    run_path TEXT, spec_name TEXT, spec_hash TEXT, weights_hash TEXT, input_start INTEGER,
    input_stop INTEGER, labels TEXT, shots INTEGER, precision REAL, profile TEXT, batch_id TEXT,
    job_id TEXT, status TEXT NOT NULL, result TEXT, error TEXT
)
"""


def test_version_1_ledger_is_migrated_and_stays_readable(tmp_path):
    from qmoe_qiskit.hardware.ledger import SCHEMA_VERSION

    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path)
    conn.execute(_VERSION_1)
    conn.execute(
        "INSERT INTO jobs (tag, created_at, updated_at, mode, backend, primitive, labels, "
        "shots, job_id, status, result) VALUES ('qmoe-old', '2026-09-01T00:00:00+00:00', "
        "'2026-09-01T00:00:00+00:00', 'ibm', 'ibm_fez', 'estimator', '[1, 0]', 1024, "
        "'d1abc', 'done', '{\"accuracy\": 0.5, \"predictions\": [0, 0]}')"
    )
    conn.commit()
    conn.close()

    ledger = Ledger(path)
    old = ledger.get("d1abc")
    assert (old.tag, old.backend, old.shots, old.status) == ("qmoe-old", "ibm_fez", 1024, "done")
    assert old.result_data == {"accuracy": 0.5, "predictions": [0, 0]}
    assert old.api is None and old.mitigation_data is None and old.estimated_qpu_seconds is None
    assert old.owner is None
    assert old.to_dict()["labels"] == [1, 0]

    new = ledger.begin(
        mode="local",
        backend="fake_x",
        primitive="estimator",
        api="executor-estimator",
        mitigation={"measure_twirling": True},
        estimated_qpu_seconds=1.5,
    )
    again = Ledger(path).get(new.id)  # reopening a current ledger changes nothing
    assert again.mitigation_data == {"measure_twirling": True}
    assert again.api == "executor-estimator" and again.estimated_qpu_seconds == 1.5
    assert again.owner == process_identity()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3
    conn.close()


def test_a_newer_ledger_is_refused_not_misread(tmp_path):
    path = tmp_path / "future.sqlite"
    Ledger(path)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.commit()
    conn.close()
    with pytest.raises(LedgerError, match="schema version 99, newer"):
        Ledger(path)


@pytest.mark.parametrize("kind", ["not-sqlite", "directory", "under-a-file"])
def test_a_ledger_path_that_cannot_be_a_ledger_is_one_line(tmp_path, kind):
    if kind == "not-sqlite":
        path = tmp_path / "jobs.sqlite"
        path.write_text("these are my notes, not a database\n" * 50)
        message = "not an SQLite database"
    elif kind == "directory":
        path = tmp_path
        message = "is a directory"
    else:
        (tmp_path / "file").write_text("x")
        path = tmp_path / "file" / "jobs.sqlite"
        message = "cannot be created"
    with pytest.raises(LedgerError, match=message) as info:
        Ledger(path)
    assert len(str(info.value).splitlines()) == 1
    if kind == "not-sqlite":
        assert path.read_text().startswith("these are my notes")


def test_concurrent_openers_of_old_ledgers_never_fail(tmp_path):
    """4 processes open the same 25 version-1 ledgers at once (100 opens, each ledger migrated
    by four processes racing): no open fails (13 of 90 did before)."""
    paths = []
    for i in range(25):
        path = tmp_path / f"old{i}.sqlite"
        conn = sqlite3.connect(path)
        conn.execute(_VERSION_1)
        conn.commit()
        conn.close()
        paths.append(str(path))
    code = (
        "import sys, json\n"
        "from qmoe_qiskit.hardware.ledger import Ledger\n"
        "failed = 0\n"
        "for p in json.loads(sys.argv[1]):\n"
        "    try:\n"
        "        Ledger(p)\n"
        "    except Exception as exc:\n"
        "        failed += 1; print(type(exc).__name__, exc, file=sys.stderr)\n"
        "print(failed)\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, json.dumps(paths)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]  # fmt: skip
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [int(out.strip()) for out, _ in outputs] == [0, 0, 0, 0], [e for _, e in outputs]
    for path in paths:
        columns = {row[1] for row in sqlite3.connect(path).execute("PRAGMA table_info(jobs)")}
        assert {"api", "mitigation", "estimated_qpu_seconds", "owner"} <= columns
        assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
