"""Job lifecycle after submission: refresh, fetch, cancel and recover ledger rows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import LedgerError, RuntimeFailure
from .ledger import JobRecord, Ledger
from .redact import scrub
from .retry import FINAL_STATUSES, normalize_status, with_retries
from .service import make_service
from .submit import Readout, finish_job, record_labels

__all__ = [
    "LOCAL_JOB_MESSAGE",
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


def recover_jobs(ledger: Ledger, service: Any = None) -> list[JobRecord]:
    """Fill in job ids of rows left ``submitting`` (crash between submit and record).

    Real rows: the service is asked for jobs tagged with the row's tag. Local rows: marked
    ``lost`` (their job died with the process).

    Returns:
        The rows examined, updated.
    """
    out = []
    pending = ledger.rows(status="submitting")
    if any(r.mode == "ibm" for r in pending) and service is None:
        service = make_service()
    for record in pending:
        if record.mode == "local":
            out.append(
                ledger.update(
                    record.id,
                    status="lost",
                    error="local job: its process ended before it was recorded",
                )
            )
            continue
        try:
            found = with_retries(lambda r=record: service.jobs(job_tags=[r.tag], limit=1))
        except Exception as exc:
            raise RuntimeFailure(f"recover: {type(exc).__name__}: {scrub(str(exc))}") from None
        if found:
            job = found[0]
            out.append(
                ledger.set_submitted(record.id, job.job_id(), normalize_status(job.status()))
            )
        else:
            out.append(record)
    return out
