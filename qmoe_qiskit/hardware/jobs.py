"""Job lifecycle after submission: refresh, fetch, cancel and recover ledger rows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import LedgerError, RuntimeFailure
from .ledger import JobRecord, Ledger, owner_alive
from .redact import scrub
from .retry import FINAL_STATUSES, normalize_status, with_retries
from .service import make_service
from .submit import Readout, finish_job, record_labels

__all__ = [
    "LOCAL_JOB_MESSAGE",
    "Recovered",
    "cancel_job",
    "fetch_job",
    "recover_jobs",
    "refresh_status",
]

LOCAL_JOB_MESSAGE = (
    "job {job} ran in local testing mode on {backend}: local jobs live only inside the process "
    "that submitted them and cannot be queried, fetched or cancelled again"
)


def _service_job(record: JobRecord, service: Any):
    if record.mode == "local":
        raise LedgerError(LOCAL_JOB_MESSAGE.format(job=record.job_id, backend=record.backend))
    if not record.job_id:
        raise LedgerError(
            f"ledger row {record.id} has no job id yet (status {record.status}); "
            "run 'qmoe jobs recover' to look it up by its tag"
        )
    service = service if service is not None else make_service()
    try:
        return with_retries(lambda: service.job(record.job_id))
    except Exception as exc:
        raise RuntimeFailure(
            f"job {record.job_id}: {type(exc).__name__}: {scrub(str(exc))}"
        ) from None


def refresh_status(ledger: Ledger, key: int | str, service: Any = None) -> JobRecord:
    """Ask the service for a real job's status and store it (local jobs: LedgerError)."""
    record = ledger.get(key)
    if record.status in FINAL_STATUSES and record.mode == "local":
        return record
    job = _service_job(record, service)
    try:
        status = normalize_status(with_retries(job.status))
    except Exception as exc:
        raise RuntimeFailure(
            f"job {record.job_id}: {type(exc).__name__}: {scrub(str(exc))}"
        ) from None
    return ledger.update(record.id, status=status)


def fetch_job(
    ledger: Ledger,
    key: int | str,
    model_observables: Sequence[Any] | None = None,
    service: Any = None,
    readout: Readout | None = None,
) -> JobRecord:
    """Fetch a finished real job's result into the ledger (stored results are returned as is).

    Args:
        ledger: The ledger.
        key: Ledger row id, job id or tag.
        model_observables: The circuit's observables over the logical qubits (needed for
            sampler jobs, whose counts are turned into expectations here).
        service: Service to use (default :func:`make_service`).
        readout: Class scores from the row's expectations (hybrid models; see
            :func:`~qmoe_qiskit.hardware.submit.result_summary`).

    Raises:
        LedgerError: A sampler row without ``model_observables``, a local or unsent row.
    """
    record = ledger.get(key)
    if record.result is not None:
        return record
    if record.primitive == "sampler" and model_observables is None:
        raise LedgerError(
            f"ledger row {record.id} is a sampler job: its model's observables are needed "
            f"(the run {record.run_path})"
        )
    job = _service_job(record, service)
    return finish_job(
        ledger,
        record,
        job,
        record.primitive,
        model_observables or (),
        record_labels(record),
        readout,
    )


def cancel_job(ledger: Ledger, key: int | str, service: Any = None) -> JobRecord:
    """Cancel a real job and record it (local jobs: LedgerError)."""
    record = ledger.get(key)
    job = _service_job(record, service)
    try:
        with_retries(job.cancel)
    except Exception as exc:
        raise RuntimeFailure(
            f"job {record.job_id}: {type(exc).__name__}: {scrub(str(exc))}"
        ) from None
    return ledger.update(record.id, status="cancelled")


@dataclass(frozen=True)
class Recovered:
    """What :func:`recover_jobs` did with one unfinished ledger row.

    Attributes:
        record: The row as it is now.
        action: ``live`` (its process still runs: left alone), ``elsewhere`` (its process is
            on another host: left alone), ``lost`` (its process died and the job with it),
            ``found`` (the service had its job: job id filled in), ``refreshed`` (status asked
            of the service) or ``unsent`` (no job on the service and no way to tell whether
            its old process still runs: left alone).
    """

    record: JobRecord
    action: str


def _dead_row_note(record: JobRecord) -> str:
    pid = (record.owner or "").rsplit(":", 2)[1:2] or ["?"]
    return f"process {pid[0]} that submitted it ended before its result was recorded"


def recover_jobs(ledger: Ledger, service: Any = None) -> list[Recovered]:
    """Settle the unfinished rows whose submitting process is gone.

    Each row is owned by the process that wrote it (``owner``, see
    :func:`~qmoe_qiskit.hardware.ledger.process_identity`). Rows of a live owner are left
    alone, so recovering while a submit runs never touches its jobs. Rows of a dead owner:

    * local (fake-backend) jobs lived inside that process: marked ``lost``;
    * real jobs without a job id (a crash between submit and record): the service is asked
      for the job carrying the row's tag; found, the id and status are filled in, else the
      row is ``lost`` (the job was never created);
    * real jobs with a job id: their status is asked of the service (``qmoe jobs fetch``
      then collects the result).

    Rows written before owners were recorded count as dead for local jobs (they cannot
    outlive any process) and as unknown for real ones (filled in when the service has them).

    Returns:
        One :class:`Recovered` per unfinished row, oldest first.
    """
    pending = [r for r in reversed(ledger.rows()) if r.status not in FINAL_STATUSES]
    verdicts = {r.id: owner_alive(r.owner) for r in pending}
    needs_service = any(r.mode != "local" and verdicts[r.id] is not True for r in pending)
    if needs_service and service is None:
        service = make_service()
    out = []
    for record in pending:
        alive = verdicts[record.id]
        if alive:
            out.append(Recovered(record, "live"))
        elif alive is None and record.owner:
            out.append(Recovered(record, "elsewhere"))
        elif record.mode == "local":
            error = f"local job: {_dead_row_note(record)}"
            out.append(Recovered(ledger.update(record.id, status="lost", error=error), "lost"))
        elif record.job_id:
            job = _service_job(record, service)
            try:
                status = normalize_status(with_retries(job.status))
            except Exception as exc:
                raise RuntimeFailure(f"recover: {type(exc).__name__}: {scrub(str(exc))}") from None
            out.append(Recovered(ledger.update(record.id, status=status), "refreshed"))
        else:

            def tagged(r: JobRecord = record) -> Any:
                return service.jobs(job_tags=[r.tag], limit=1)

            try:
                found = with_retries(tagged)
            except Exception as exc:
                raise RuntimeFailure(f"recover: {type(exc).__name__}: {scrub(str(exc))}") from None
            if found:
                job = found[0]
                status = normalize_status(job.status())
                out.append(
                    Recovered(ledger.set_submitted(record.id, job.job_id(), status), "found")
                )
            elif alive is False:
                error = f"never sent: {_dead_row_note(record)} (no job carries its tag)"
                out.append(Recovered(ledger.update(record.id, status="lost", error=error), "lost"))
            else:
                out.append(Recovered(record, "unsent"))
    return out
