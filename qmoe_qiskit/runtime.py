"""Run a trained QMoE through qiskit-ibm-runtime primitives, on fake or real IBM backends.

One execution path, two modes:

* ``local``: a fake backend of qiskit-ibm-runtime (``fake_*``); the Runtime primitives run it
  in *local testing mode* (Aer, the fake backend's noise), no account needed. Local jobs live
  in this process only.
* ``ibm``: a real backend from :class:`~qiskit_ibm_runtime.QiskitRuntimeService`, with the
  account from the standard environment variables (``QISKIT_IBM_TOKEN``, ``QISKIT_IBM_CHANNEL``,
  ``QISKIT_IBM_INSTANCE``) or qiskit-ibm-runtime's saved account.

Inputs are split in chunks; each chunk is one PUB (the ISA circuit, a ``(rows, params)`` table,
the class observables broadcast as ``(classes, 1)``) and one job, all inside one
:class:`~qiskit_ibm_runtime.Batch`. Each job is recorded in the :mod:`~qmoe_qiskit.ledger`
before it is sent (see there for crash recovery). Transient service errors are retried with
exponential backoff; a retried submission first asks the service whether a job with the row's
tag already exists, so a lost response does not create a duplicate job.

Secrets: tokens are passed to the service object only; every message that leaves this module
(exceptions, ledger text) goes through :func:`scrub`.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from qiskit import ClassicalRegister, QuantumCircuit

from .ledger import JobRecord, Ledger, LedgerError
from .transpilation import TranspiledModel, get_fake_backend

__all__ = [
    "FINAL_STATUSES",
    "PRIMITIVES",
    "STATUSES",
    "BackendHandle",
    "RuntimeFailure",
    "Submission",
    "cancel_job",
    "credentials_available",
    "fetch_job",
    "is_transient",
    "make_service",
    "normalize_status",
    "open_backend",
    "parameter_table",
    "recover_jobs",
    "refresh_status",
    "scrub",
    "submit_evaluation",
    "with_retries",
]

#: Normalised job statuses (ours first, then the service's, lower case).
STATUSES = (
    "submitting",
    "submit_failed",
    "lost",
    "initializing",
    "queued",
    "validating",
    "running",
    "done",
    "error",
    "cancelled",
    "unknown",
)
#: Statuses after which nothing changes.
FINAL_STATUSES = frozenset({"submit_failed", "lost", "done", "error", "cancelled"})
#: Primitives ``submit`` can use.
PRIMITIVES = ("estimator", "sampler")
#: Environment variables that may hold a secret.
SECRET_ENV = ("QISKIT_IBM_TOKEN", "IBM_QUANTUM_TOKEN", "QISKIT_IBM_API_KEY")
_TOKEN_PATTERNS = (
    re.compile(
        r"(?i)((?:token|apikey|api_key|api-key|authorization|bearer)[\"']?\s*[:=]?\s*[\"']?)"
        r"[A-Za-z0-9_\-\.]{8,}"
    ),
)
_TRANSIENT_HTTP = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


class RuntimeFailure(RuntimeError):
    """A Runtime/service failure reported to the user (message already scrubbed)."""


def scrub(text: str, secrets: Sequence[str] = ()) -> str:
    """``text`` with credentials replaced by ``***``.

    Removes the values of :data:`SECRET_ENV`, any ``secrets`` given, the token of a saved
    account is never read here (it never reaches our messages), and anything that looks like
    ``token=...``/``Bearer ...``.
    """
    values = [os.environ.get(name, "") for name in SECRET_ENV] + list(secrets)
    for value in values:
        if value and len(value) >= 4:
            text = text.replace(value, "***")
    for pattern in _TOKEN_PATTERNS:
        text = pattern.sub(r"\1***", text)
    return text


def normalize_status(status: Any) -> str:
    """A job status (local ``JobStatus`` enum or real job string) as one of :data:`STATUSES`."""
    name = getattr(status, "name", None) or str(status)
    name = name.strip().lower().removeprefix("jobstatus.")
    if name.startswith("cancelled"):  # "CANCELLED - RAN TOO LONG"
        return "cancelled"
    if name in ("completed", "finished"):
        return "done"
    if name in ("failed",):
        return "error"
    return name if name in STATUSES else "unknown"


def is_transient(exc: BaseException) -> bool:
    """Whether an error is worth retrying (network trouble, HTTP 408/429/5xx)."""
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    try:
        import requests

        if isinstance(exc, (requests.ConnectionError, requests.Timeout)):
            return True
    except ImportError:  # pragma: no cover
        pass
    status = getattr(exc, "status_code", None)
    if isinstance(status, int) and status in _TRANSIENT_HTTP:
        return True
    cause = exc.__cause__ or exc.__context__
    return cause is not None and cause is not exc and is_transient(cause)


def with_retries(
    fn: Callable[[], Any],
    *,
    attempts: int = 4,
    base_delay: float = 1.0,
    max_delay: float = 30.0,
    transient: Callable[[BaseException], bool] = is_transient,
    before_retry: Callable[[], Any] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    log: Callable[[str], None] | None = None,
) -> Any:
    """Call ``fn``; on a transient error wait ``base_delay * 2**k`` (capped) and try again.

    Args:
        fn: The call.
        attempts: Total tries.
        base_delay: First wait (s).
        max_delay: Longest wait (s).
        transient: Which errors to retry; others propagate at once.
        before_retry: Called before each retry; a non-None return value is returned instead of
            retrying (used to find a job that was created although the response was lost).
        sleep: Sleep function (tests pass a fake).
        log: Where to report retries.
    """
    for attempt in range(attempts):
        try:
            return fn()
        except Exception as exc:
            if attempt == attempts - 1 or not transient(exc):
                raise
            delay = min(max_delay, base_delay * 2**attempt)
            if log:
                log(f"transient error ({scrub(type(exc).__name__)}); retry in {delay:.1f} s")
            sleep(delay)
            if before_retry is not None:
                found = before_retry()
                if found is not None:
                    return found
    raise AssertionError("unreachable")  # pragma: no cover


def credentials_available() -> bool:
    """Whether an IBM Quantum account is configured (env token or saved account); no network."""
    if any(os.environ.get(name) for name in SECRET_ENV):
        return True
    try:
        from qiskit_ibm_runtime import QiskitRuntimeService

        return bool(QiskitRuntimeService.saved_accounts())
    except Exception:
        return False


def make_service(channel: str | None = None, instance: str | None = None):
    """A :class:`~qiskit_ibm_runtime.QiskitRuntimeService` from env variables or saved account.

    Raises:
        RuntimeFailure: No account, or the service refused it (message scrubbed).
    """
    from qiskit_ibm_runtime import QiskitRuntimeService

    kwargs: dict[str, Any] = {}
    token = os.environ.get("QISKIT_IBM_TOKEN")
    channel = channel or os.environ.get("QISKIT_IBM_CHANNEL")
    instance = instance or os.environ.get("QISKIT_IBM_INSTANCE")
    if token:
        kwargs["token"] = token
        kwargs["channel"] = channel or "ibm_quantum_platform"
    elif channel:
        kwargs["channel"] = channel
    if instance:
        kwargs["instance"] = instance
    try:
        return with_retries(lambda: QiskitRuntimeService(**kwargs))
    except Exception as exc:
        raise RuntimeFailure(
            "cannot open the IBM Quantum service (set QISKIT_IBM_TOKEN [and QISKIT_IBM_INSTANCE] "
            f"or save an account with QiskitRuntimeService.save_account): "
            f"{type(exc).__name__}: {scrub(str(exc), [token or ''])}"
        ) from None


@dataclass(frozen=True)
class BackendHandle:
    """A backend and how to reach it.

    Attributes:
        name: Backend name.
        mode: ``local`` (fake backend, local testing mode) or ``ibm`` (real service).
        backend: The BackendV2.
        service: The runtime service (``ibm`` mode), else None.
    """

    name: str
    mode: str
    backend: Any
    service: Any = None


def open_backend(
    name: str,
    *,
    service: Any = None,
    channel: str | None = None,
    instance: str | None = None,
) -> BackendHandle:
    """A fake backend (``fake_*``: local mode) or a real one from the service (``ibm`` mode).

    Args:
        name: ``fake_fez``... or a real backend name (``ibm_fez``...).
        service: A service to use (default: :func:`make_service`).
        channel: Service channel override.
        instance: Service instance override.
    """
    if name.lower().startswith("fake"):
        backend = get_fake_backend(name)
        return BackendHandle(backend.name, "local", backend)
    service = service if service is not None else make_service(channel, instance)
    try:
        backend = with_retries(lambda: service.backend(name))
    except Exception as exc:
        raise RuntimeFailure(f"backend {name!r}: {type(exc).__name__}: {scrub(str(exc))}") from None
    return BackendHandle(name, "ibm", backend, service)


def parameter_table(
    circuit: QuantumCircuit,
    input_params: Sequence[Any],
    weight_params: Sequence[Any],
    x: np.ndarray,
    weights: np.ndarray,
) -> np.ndarray:
    """Parameter values ``(rows, circuit.num_parameters)`` in ``circuit.parameters`` order.

    Columns are matched by parameter *name*, so an ISA circuit loaded from QPY works too.

    Raises:
        ValueError: A circuit parameter that is neither an input nor a weight.
    """
    x = np.atleast_2d(np.asarray(x, dtype=float))
    columns = {p.name: x[:, i] for i, p in enumerate(input_params)}
    weights = np.asarray(weights, dtype=float)
    columns.update({p.name: np.full(len(x), weights[i]) for i, p in enumerate(weight_params)})
    missing = [p.name for p in circuit.parameters if p.name not in columns]
    if missing:
        raise ValueError(f"circuit parameters without values: {missing[:5]}")
    return np.column_stack([columns[p.name] for p in circuit.parameters])


def measured_circuit(isa: QuantumCircuit, num_logical: int) -> QuantumCircuit:
    """The ISA circuit measuring logical qubit ``i`` (at its final place) into clbit ``i``."""
    final = isa.layout.final_index_layout() if isa.layout else list(range(num_logical))
    out = isa.copy()
    creg = ClassicalRegister(num_logical, "meas")
    out.add_register(creg)
    for i, physical in enumerate(final[:num_logical]):
        out.measure(physical, creg[i])
    return out


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256 of ``data`` (first 16 characters)."""
    return hashlib.sha256(data).hexdigest()[:16]


def _expectations(primitive: str, pub_result: Any, observables: Sequence[Any]) -> np.ndarray:
    if primitive == "estimator":
        return np.asarray(pub_result.data.evs, dtype=float)  # (classes, rows)
    bits = pub_result.data.meas
    return np.stack([np.asarray(bits.expectation_values(obs), dtype=float) for obs in observables])


def result_summary(
    primitive: str, pub_result: Any, observables: Sequence[Any], labels: Sequence[int] | None
) -> dict[str, Any]:
    """JSON-ready result of one evaluation PUB: expectations, predictions, accuracy."""
    evs = _expectations(primitive, pub_result, observables)
    predictions = np.argmax(evs, axis=0)
    out: dict[str, Any] = {
        "expectations": np.round(evs.T, 6).tolist(),
        "predictions": predictions.astype(int).tolist(),
    }
    if labels is not None:
        out["labels"] = [int(v) for v in labels]
        out["accuracy"] = float(np.mean(predictions == np.asarray(labels)))
    return out


@dataclass
class Submission:
    """Outcome of :func:`submit_evaluation`.

    Attributes:
        records: Ledger rows, one per job, in input order (latest state).
        accuracy: Accuracy over the finished jobs' inputs (None if none finished).
        jobs: The job objects (local jobs cannot be recovered once this process exits).
    """

    records: list[JobRecord]
    accuracy: float | None
    jobs: list[Any] = field(default_factory=list)


def _primitive(kind: str, mode: Any, shots: int | None, precision: float | None, tag: str):
    import warnings

    from qiskit_ibm_runtime import EstimatorV2, SamplerV2

    # EstimatorV2/SamplerV2 are deprecated since runtime 0.50 in favour of the executor-based
    # primitives; they are the ones that run in local testing mode and in Batch today.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        primitive = EstimatorV2(mode=mode) if kind == "estimator" else SamplerV2(mode=mode)
    if kind == "estimator":
        if precision is not None:
            primitive.options.default_precision = precision
        if shots is not None:
            primitive.options.default_shots = shots
    else:
        if shots is None and precision is not None:
            shots = int(np.ceil(1.0 / precision**2))
        if shots is not None:
            primitive.options.default_shots = shots
    primitive.options.environment.job_tags = ["qmoe", tag]
    return primitive


def submit_evaluation(
    handle: BackendHandle,
    transpiled: TranspiledModel,
    model: Any,
    x: np.ndarray,
    weights: np.ndarray,
    ledger: Ledger,
    *,
    labels: np.ndarray | None = None,
    offset: int = 0,
    chunk: int = 64,
    primitive: str = "estimator",
    shots: int | None = None,
    precision: float | None = None,
    run_info: dict[str, Any] | None = None,
    wait: bool = True,
    log: Callable[[str], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Submission:
    """Evaluate ``x`` on ``handle``'s backend, one job per ``chunk`` rows inside one Batch.

    Args:
        handle: From :func:`open_backend`.
        transpiled: The model's ISA circuit and mapped observables for that backend.
        model: The compiled model (its ``input_params``, ``weight_params``, ``observables``).
        x: Inputs ``(rows, features)``.
        weights: Trained weights in ``model.weight_params`` order.
        ledger: Where every job is recorded before it is sent.
        labels: Labels of ``x`` (for accuracy).
        offset: Index of ``x[0]`` in the test set (recorded as the input slice).
        chunk: Rows per job.
        primitive: ``estimator`` (expectation values) or ``sampler`` (counts).
        shots: Shots per circuit.
        precision: Target precision (estimator; sampler converts it to ``1/precision**2`` shots).
        run_info: ``run_path, spec_name, spec_hash, weights_hash, profile`` for the ledger.
        wait: Wait for results (always true in local mode, where jobs run in this process).
        log: Progress messages.
        sleep: Sleep function of the retry loop.
    """
    from qiskit_ibm_runtime import Batch

    if primitive not in PRIMITIVES:
        raise ValueError(f"primitive must be one of {PRIMITIVES}, got {primitive!r}")
    info = dict(run_info or {})
    x = np.atleast_2d(np.asarray(x, dtype=float))
    circuit = transpiled.circuit
    if primitive == "sampler":
        circuit = measured_circuit(circuit, model.num_qubits)
    table = parameter_table(circuit, model.input_params, model.weight_params, x, weights)
    mapped = [[o] for o in transpiled.observables]
    records: list[JobRecord] = []
    jobs: list[Any] = []
    with Batch(backend=handle.backend) as batch:
        batch_id = getattr(batch, "session_id", None)
        for start in range(0, len(x), chunk):
            stop = min(start + chunk, len(x))
            row_labels = None if labels is None else [int(v) for v in labels[start:stop]]
            record = ledger.begin(
                mode=handle.mode,
                backend=handle.name,
                primitive=primitive,
                input_start=offset + start,
                input_stop=offset + stop,
                labels=row_labels,
                shots=shots,
                precision=precision,
                batch_id=batch_id,
                **info,
            )
            prim = _primitive(primitive, batch, shots, precision, record.tag)
            pub = (
                (circuit, mapped, table[start:stop])
                if primitive == "estimator"
                else (circuit, table[start:stop])
            )

            def find_existing(tag: str = record.tag) -> Any:
                if handle.service is None:
                    return None
                try:
                    found = handle.service.jobs(job_tags=[tag], limit=1)
                except Exception:
                    return None
                return found[0] if found else None

            try:
                job = with_retries(
                    lambda prim=prim, pub=pub: prim.run([pub]),
                    before_retry=find_existing,
                    sleep=sleep,
                    log=log,
                )
            except Exception as exc:
                message = f"{type(exc).__name__}: {scrub(str(exc))}"
                records.append(ledger.update(record.id, status="submit_failed", error=message))
                raise RuntimeFailure(
                    f"submission of inputs {offset + start}:{offset + stop} to {handle.name} "
                    f"failed (ledger row {record.id}): {message}"
                ) from None
            record = ledger.set_submitted(
                record.id, job.job_id(), normalize_status(job.status()), batch_id
            )
            if log:
                log(
                    f"job {job.job_id()} ({handle.mode}) rows "
                    f"{record.input_start}:{record.input_stop} -> ledger row {record.id}"
                )
            records.append(record)
            jobs.append(job)
    if wait or handle.mode == "local":
        records = [
            _finish(ledger, rec, job, primitive, model.observables, row_labels=_labels(rec))
            for rec, job in zip(records, jobs, strict=True)
        ]
    done = [r.result_data for r in records if r.status == "done" and r.result_data]
    accuracy = None
    if done and all("accuracy" in d for d in done):
        correct = sum(d["accuracy"] * len(d["predictions"]) for d in done)
        accuracy = correct / sum(len(d["predictions"]) for d in done)
    return Submission(records, accuracy, jobs)


def _labels(record: JobRecord) -> list[int] | None:
    import json

    return None if record.labels is None else json.loads(record.labels)


def _finish(
    ledger: Ledger,
    record: JobRecord,
    job: Any,
    primitive: str,
    observables: Sequence[Any],
    row_labels: list[int] | None,
) -> JobRecord:
    try:
        result = with_retries(job.result)
    except Exception as exc:
        status = normalize_status(_safe_status(job))
        return ledger.update(
            record.id,
            status=status if status in FINAL_STATUSES else "error",
            error=f"{type(exc).__name__}: {scrub(str(exc))}",
        )
    summary = result_summary(primitive, result[0], observables, row_labels)
    return ledger.update(record.id, status="done", result=summary)


def _safe_status(job: Any) -> Any:
    try:
        return job.status()
    except Exception:
        return "unknown"


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
) -> JobRecord:
    """Fetch a finished real job's result into the ledger (stored results are returned as is).

    Args:
        ledger: The ledger.
        key: Ledger row id, job id or tag.
        model_observables: Class observables over the logical qubits (sampler jobs only; by
            default they are recompiled from the row's run directory).
        service: Service to use (default :func:`make_service`).
    """
    record = ledger.get(key)
    if record.result is not None:
        return record
    job = _service_job(record, service)
    observables = model_observables
    if observables is None and record.primitive == "sampler":
        from .training import load_run

        observables = load_run(record.run_path).model.observables
    return _finish(ledger, record, job, record.primitive, observables or (), _labels(record))


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
