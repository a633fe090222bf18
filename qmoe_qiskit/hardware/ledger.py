"""The job ledger: an SQLite record of every Runtime submission, written before it is sent.

Write-ahead protocol (so a crash between *submit* and *record* cannot lose a job id):

1. :meth:`Ledger.begin` inserts a row with status ``submitting`` and a fresh unique ``tag``
   (``qmoe-<uuid4 hex>``) and commits, before anything is sent.
2. The job is submitted with that tag among its Runtime ``job_tags``.
3. :meth:`Ledger.set_submitted` stores the job id as soon as ``run()`` returns.

If the process dies between 2 and 3, the row stays ``submitting`` with no job id; ``qmoe jobs
recover`` asks the service for jobs carrying the row's tag and fills the id in. Local
(fake-backend) jobs live only inside the process that ran them: a local row left
``submitting`` is marked ``lost`` by recover.

Every row is owned by the process that wrote it: ``owner`` holds that process's identity
(:func:`process_identity`: host, pid and the pid's start time, so a recycled pid is not taken
for the original process). ``qmoe jobs recover`` leaves the rows of a live owner alone and
settles those of a dead one (see :func:`~qmoe_qiskit.hardware.jobs.recover_jobs`).

Schema versions (SQLite ``user_version``): 1 is the original table (stored as 0 by ledgers
written before versions existed); 2 adds ``api`` (which Runtime interface sent the job),
``mitigation`` (the error-mitigation settings, JSON) and ``estimated_qpu_seconds``; 3 adds
``owner``. Opening an older ledger migrates it in place (new columns empty for old rows); a
ledger from a newer version of this package is refused rather than misread.

Default location: ``$QMOE_LEDGER``, else ``~/.qmoe/jobs.sqlite``. No credential is ever stored:
every text column passes through :func:`qmoe_qiskit.hardware.redact.scrub` before it is written.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import sqlite3
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from ..errors import LedgerError

__all__ = [
    "LEDGER_ENV",
    "SCHEMA_VERSION",
    "JobRecord",
    "Ledger",
    "LedgerError",
    "default_ledger_path",
    "owner_alive",
    "process_identity",
]

#: Environment variable naming the default ledger file.
LEDGER_ENV = "QMOE_LEDGER"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    tag           TEXT NOT NULL UNIQUE,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    mode          TEXT NOT NULL,
    backend       TEXT NOT NULL,
    primitive     TEXT NOT NULL,
    run_path      TEXT,
    spec_name     TEXT,
    spec_hash     TEXT,
    weights_hash  TEXT,
    input_start   INTEGER,
    input_stop    INTEGER,
    labels        TEXT,
    shots         INTEGER,
    precision     REAL,
    profile       TEXT,
    batch_id      TEXT,
    job_id        TEXT,
    status        TEXT NOT NULL,
    result        TEXT,
    error         TEXT,
    api           TEXT,
    mitigation    TEXT,
    estimated_qpu_seconds REAL,
    owner         TEXT
)
"""

#: Current ledger schema version (see the module docstring).
SCHEMA_VERSION = 3

#: Columns added by each version: ``version -> [(name, SQL type)]``.
_MIGRATIONS: dict[int, list[tuple[str, str]]] = {
    2: [("api", "TEXT"), ("mitigation", "TEXT"), ("estimated_qpu_seconds", "REAL")],
    3: [("owner", "TEXT")],
}


def default_ledger_path() -> Path:
    """``$QMOE_LEDGER`` or ``~/.qmoe/jobs.sqlite``."""
    return Path(os.environ.get(LEDGER_ENV) or "~/.qmoe/jobs.sqlite").expanduser()


def _start_time(pid: int) -> str | None:
    """The start time of ``pid`` in clock ticks since boot (Linux ``/proc``), None elsewhere."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22; the command name (field 2) is in parentheses and may hold spaces.
    return stat.rsplit(")", 1)[1].split()[19]


def process_identity(pid: int | None = None) -> str:
    """``host:pid:start`` of a process (default: this one); ``start`` is empty off Linux."""
    pid = os.getpid() if pid is None else pid
    return f"{socket.gethostname()}:{pid}:{_start_time(pid) or ''}"


def owner_alive(owner: str | None) -> bool | None:
    """Whether the process named by ``owner`` (from :func:`process_identity`) still runs.

    Returns:
        True or False on this host; None when it cannot be told (no owner recorded, or a
        process on another host).
    """
    if not owner:
        return None
    parts = owner.rsplit(":", 2)
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    host, pid, start = parts[0], int(parts[1]), parts[2]
    if host != socket.gethostname():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by another user
    return not start or _start_time(pid) == start


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class JobRecord:
    """One ledger row (see the module docstring for the columns' life cycle)."""

    id: int
    tag: str
    created_at: str
    updated_at: str
    mode: str
    backend: str
    primitive: str
    run_path: str | None
    spec_name: str | None
    spec_hash: str | None
    weights_hash: str | None
    input_start: int | None
    input_stop: int | None
    labels: str | None
    shots: int | None
    precision: float | None
    profile: str | None
    batch_id: str | None
    job_id: str | None
    status: str
    result: str | None
    error: str | None
    api: str | None = None
    mitigation: str | None = None
    estimated_qpu_seconds: float | None = None
    owner: str | None = None

    @property
    def mitigation_data(self) -> dict[str, Any] | None:
        """The stored error-mitigation settings, decoded."""
        return None if self.mitigation is None else json.loads(self.mitigation)

    @property
    def result_data(self) -> dict[str, Any] | None:
        """The stored result, decoded."""
        return None if self.result is None else json.loads(self.result)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (``result`` decoded)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["labels"] = None if self.labels is None else json.loads(self.labels)
        out["result"] = self.result_data
        out["mitigation"] = self.mitigation_data
        return out


_COLUMNS = tuple(f.name for f in fields(JobRecord))
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM jobs"


def _clean(value: Any) -> Any:
    from .redact import scrub

    return scrub(value) if isinstance(value, str) else value


class Ledger:
    """An SQLite job ledger.

    Args:
        path: Database file (created with its directory). Default :func:`default_ledger_path`.
    """

    def __init__(self, path: str | os.PathLike | None = None) -> None:
        self.path = Path(path).expanduser() if path is not None else default_ledger_path()
        if self.path.is_dir():
            raise LedgerError(f"ledger {self.path} is a directory: name a file (--ledger)")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            try:
                self._migrate(conn)
            finally:
                conn.close()
        except sqlite3.DatabaseError as exc:
            reason = "not an SQLite database" if "not a database" in str(exc) else str(exc)
            raise LedgerError(f"ledger {self.path} cannot be used: {reason}") from None
        except OSError as exc:
            raise LedgerError(f"ledger {self.path} cannot be created: {exc.strerror}") from None

    def _migrate(self, conn: sqlite3.Connection) -> None:
        """Create the table, or bring an older ledger up to :data:`SCHEMA_VERSION`.

        Runs in one write transaction (``BEGIN IMMEDIATE``), so processes that open an old
        ledger at the same moment migrate it one after another, each seeing the columns the
        one before added (three concurrent openers used to fail 13 of 90 times with
        "duplicate column name")."""
        conn.execute("PRAGMA journal_mode = WAL")  # readers never block the writer
        conn.execute("BEGIN IMMEDIATE")
        exists = conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'jobs'"
        ).fetchone()
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if not exists:
            conn.execute(_SCHEMA)
        elif version > SCHEMA_VERSION:
            conn.execute("ROLLBACK")
            raise LedgerError(
                f"ledger {self.path} has schema version {version}, newer than this qmoe-qiskit "
                f"reads ({SCHEMA_VERSION}): upgrade qmoe-qiskit or use another --ledger"
            )
        else:
            present = {row[1] for row in conn.execute("PRAGMA table_info(jobs)")}
            for step in range(max(version, 1) + 1, SCHEMA_VERSION + 1):
                for name, kind in _MIGRATIONS[step]:
                    if name not in present:
                        conn.execute(f"ALTER TABLE jobs ADD COLUMN {name} {kind}")
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            conn = sqlite3.connect(self.path, timeout=30)
            try:
                with conn:  # commits on success
                    yield conn
            finally:
                conn.close()
        except sqlite3.DatabaseError as exc:  # a damaged file: malformed pages, bad text
            raise LedgerError(f"ledger {self.path} is damaged: {exc}") from None

    def begin(
        self,
        *,
        mode: str,
        backend: str,
        primitive: str,
        run_path: str | None = None,
        spec_name: str | None = None,
        spec_hash: str | None = None,
        weights_hash: str | None = None,
        input_start: int | None = None,
        input_stop: int | None = None,
        labels: list[int] | None = None,
        shots: int | None = None,
        precision: float | None = None,
        profile: str | None = None,
        batch_id: str | None = None,
        api: str | None = None,
        mitigation: Mapping[str, Any] | None = None,
        estimated_qpu_seconds: float | None = None,
    ) -> JobRecord:
        """Insert and commit a ``submitting`` row before the job is sent; return it."""
        now = _now()
        values = {
            "tag": f"qmoe-{uuid.uuid4().hex}",
            "created_at": now,
            "updated_at": now,
            "mode": mode,
            "backend": backend,
            "primitive": primitive,
            "run_path": run_path,
            "spec_name": spec_name,
            "spec_hash": spec_hash,
            "weights_hash": weights_hash,
            "input_start": input_start,
            "input_stop": input_stop,
            "labels": None if labels is None else json.dumps([int(v) for v in labels]),
            "shots": shots,
            "precision": precision,
            "profile": profile,
            "batch_id": batch_id,
            "api": api,
            "mitigation": None if mitigation is None else json.dumps(dict(mitigation)),
            "estimated_qpu_seconds": estimated_qpu_seconds,
            "status": "submitting",
            "owner": process_identity(),
        }
        values = {k: _clean(v) for k, v in values.items()}
        with self._connect() as conn:
            cursor = conn.execute(
                f"INSERT INTO jobs ({', '.join(values)}) VALUES ({', '.join('?' * len(values))})",
                tuple(values.values()),
            )
            row_id = cursor.lastrowid
        if row_id is None:  # pragma: no cover - sqlite sets it after every INSERT
            raise LedgerError(f"ledger {self.path}: the new row has no id")
        return self.get(row_id)

    def update(self, row_id: int, **changes: Any) -> JobRecord:
        """Set columns of a row (``result`` may be a dict) and bump ``updated_at``."""
        unknown = set(changes) - set(_COLUMNS)
        if unknown:
            raise LedgerError(f"unknown ledger columns {sorted(unknown)}")
        if isinstance(changes.get("result"), Mapping):
            changes["result"] = json.dumps(changes["result"])
        changes["updated_at"] = _now()
        changes = {k: _clean(v) for k, v in changes.items()}
        with self._connect() as conn:
            conn.execute(
                f"UPDATE jobs SET {', '.join(f'{k} = ?' for k in changes)} WHERE id = ?",
                (*changes.values(), row_id),
            )
        return self.get(row_id)

    def set_submitted(
        self, row_id: int, job_id: str, status: str, batch_id: str | None = None
    ) -> JobRecord:
        """Record the job id returned by the service (call right after ``run()``)."""
        changes: dict[str, Any] = {"job_id": job_id, "status": status}
        if batch_id:
            changes["batch_id"] = batch_id
        return self.update(row_id, **changes)

    def get(self, key: int | str) -> JobRecord:
        """A row by ledger id (int or digits), job id or tag.

        Raises:
            LedgerError: No such row.
        """
        with self._connect() as conn:
            if isinstance(key, int) or str(key).isdigit():
                rows = conn.execute(f"{_SELECT} WHERE id = ?", (int(key),)).fetchall()
            else:
                rows = conn.execute(f"{_SELECT} WHERE job_id = ? OR tag = ?", (key, key)).fetchall()
        if not rows:
            raise LedgerError(f"no job {key!r} in the ledger {self.path}")
        return JobRecord(*rows[0])

    def rows(self, *, status: str | None = None, limit: int | None = None) -> list[JobRecord]:
        """Rows, newest first, optionally with one status only."""
        query = _SELECT
        params: list[Any] = []
        if status:
            query += " WHERE status = ?"
            params.append(status)
        query += " ORDER BY id DESC"
        if limit:
            query += " LIMIT ?"
            params.append(int(limit))
        with self._connect() as conn:
            return [JobRecord(*row) for row in conn.execute(query, params).fetchall()]
