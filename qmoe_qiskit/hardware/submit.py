"""Submit a trained model through qiskit-ibm-runtime primitives, on fake or real IBM backends.

The primitives are qiskit-ibm-runtime's current executor-based ones
(:mod:`~qmoe_qiskit.hardware.primitives`), with the error mitigation chosen by ``mitigation``.

One execution path, two modes:

* ``local``: a fake backend of qiskit-ibm-runtime (``fake_*``); the Runtime primitives run it
  in *local testing mode* (Aer, the fake backend's noise), no account needed. Local jobs live
  in this process only.
* ``ibm``: a real backend from :class:`~qiskit_ibm_runtime.QiskitRuntimeService`, with the
  account from the standard environment variables (``QISKIT_IBM_TOKEN``, ``QISKIT_IBM_CHANNEL``,
  ``QISKIT_IBM_INSTANCE``) or qiskit-ibm-runtime's saved account.

Inputs are split in chunks; each chunk is one PUB (the ISA circuit, a ``(rows, params)`` table,
the class observables broadcast as ``(classes, 1)``) and one job, all inside one
:class:`~qiskit_ibm_runtime.Batch`. Every PUB is first prepared client-side and priced
(circuits after mitigation, shots, estimated QPU seconds); ``dry_run`` stops there, sending
nothing and writing no ledger row. Each job is recorded in the :mod:`~qmoe_qiskit.hardware.ledger`
before it is sent (see there for crash recovery). Transient service errors are retried with
exponential backoff; a retried submission first asks the service whether a job with the row's
tag already exists, so a lost response does not create a duplicate job.

Secrets: tokens are passed to the service object only; every message that leaves this module
(exceptions, ledger text) goes through :func:`scrub`.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from qiskit import ClassicalRegister, QuantumCircuit

from ..circuits import is_dynamic
from ..errors import HardwareError, RuntimeFailure
from ..models import Model
from .ledger import JobRecord, Ledger
from .primitives import API, PubPrice, make_primitive, mitigation_settings, price_pub
from .redact import scrub
from .retry import FINAL_STATUSES, normalize_status, safe_status, with_retries
from .service import BackendHandle, as_backend_handle
from .transpile import TranspiledModel, circuit_of

__all__ = [
    "PRIMITIVES",
    "Readout",
    "Submission",
    "finish_job",
    "measured_circuit",
    "parameter_table",
    "record_labels",
    "result_summary",
    "sha256_hex",
    "submit_evaluation",
]

#: Primitives ``submit`` can use.
PRIMITIVES = ("estimator", "sampler")


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
        HardwareError: A circuit parameter that is neither an input nor a weight.
    """
    x = np.atleast_2d(np.asarray(x, dtype=float))
    columns = {p.name: x[:, i] for i, p in enumerate(input_params)}
    weights = np.asarray(weights, dtype=float)
    columns.update({p.name: np.full(len(x), weights[i]) for i, p in enumerate(weight_params)})
    missing = [p.name for p in circuit.parameters if p.name not in columns]
    if missing:
        raise HardwareError(f"circuit parameters without values: {missing[:5]}")
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


#: Maps a chunk's circuit expectations ``(rows, observables)`` to class scores.
Readout = Callable[[np.ndarray], np.ndarray]


def result_summary(
    primitive: str,
    pub_result: Any,
    observables: Sequence[Any],
    labels: Sequence[int] | None,
    readout: Readout | None = None,
) -> dict[str, Any]:
    """JSON-ready result of one evaluation PUB: expectations, predictions, accuracy.

    Args:
        primitive: ``estimator`` or ``sampler``.
        pub_result: The PUB's result.
        observables: The logical observables (sampler: evaluated on the counts).
        labels: True classes of the rows, if known.
        readout: Class scores from the expectations (a hybrid model's classical experts);
            default: the expectations are the class scores.
    """
    evs = _expectations(primitive, pub_result, observables).T
    scores = evs if readout is None else np.asarray(readout(evs), dtype=float)
    predictions = np.argmax(scores, axis=1)
    out: dict[str, Any] = {
        "expectations": np.round(evs, 6).tolist(),
        "predictions": predictions.astype(int).tolist(),
    }
    if readout is not None:
        out["scores"] = np.round(scores, 6).tolist()
    if labels is not None:
        out["labels"] = [int(v) for v in labels]
        out["accuracy"] = float(np.mean(predictions == np.asarray(labels)))
    return out


@dataclass
class Submission:
    """Outcome of :func:`submit_evaluation`.

    Attributes:
        records: Ledger rows, one per job, in input order (latest state); empty for a dry run.
        accuracy: Accuracy over the finished jobs' inputs (None if none finished).
        jobs: The job objects (local jobs cannot be recovered once this process exits).
        prices: Per job, its input slice and :class:`~qmoe_qiskit.hardware.primitives.PubPrice`
            (``{"input_start", "input_stop", "circuits", "shots", "total_shots",
            "qpu_seconds", ...}``).
        mitigation: The mitigation settings used (see
            :func:`~qmoe_qiskit.hardware.primitives.mitigation_settings`).
        dry_run: Nothing was sent.
    """

    records: list[JobRecord]
    accuracy: float | None
    jobs: list[Any] = field(default_factory=list)
    prices: list[dict[str, Any]] = field(default_factory=list)
    mitigation: dict[str, Any] = field(default_factory=dict)
    dry_run: bool = False

    @property
    def qpu_seconds(self) -> float:
        """Estimated QPU time of all jobs."""
        return float(sum(p["qpu_seconds"] for p in self.prices))


def submit_evaluation(
    backend: BackendHandle | Any,
    transpiled: TranspiledModel,
    model: Model,
    *,
    x: np.ndarray,
    weights: np.ndarray,
    ledger: Ledger,
    labels: np.ndarray | None = None,
    offset: int = 0,
    chunk: int = 64,
    primitive: str = "estimator",
    shots: int | None = None,
    precision: float | None = None,
    mitigation: str | None = None,
    dry_run: bool = False,
    run_info: dict[str, Any] | None = None,
    wait: bool = True,
    log: Callable[[str], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Submission:
    """Evaluate ``x`` on ``backend``, one job per ``chunk`` rows inside one Batch.

    Local and real backends take the same path; the mode comes from the backend (see
    :func:`~qmoe_qiskit.hardware.service.as_backend_handle`)::

        backend = FakeManilaV2()  # or QiskitRuntimeService().backend("ibm_fez")
        isa = transpile_model(model, backend)
        sub = submit_evaluation(backend, isa, model, x=x, weights=w, ledger=Ledger(path))

    Args:
        backend: Any ``BackendV2`` (a fake backend of ``qiskit_ibm_runtime.fake_provider`` runs
            in local testing mode, an ``IBMBackend`` through its service) or a
            :class:`~qmoe_qiskit.hardware.service.BackendHandle` from :func:`open_backend`.
        transpiled: The model's ISA circuit and mapped observables for that backend.
        model: The compiled model, of any family with a circuit: its ``circuit_model`` runs,
            and ``readout`` turns the expectations into class scores.
        x: Inputs ``(rows, features)``.
        weights: The model's flat trained weights.
        ledger: Where every job is recorded before it is sent.
        labels: Labels of ``x`` (for accuracy).
        offset: Index of ``x[0]`` in the test set (recorded as the input slice).
        chunk: Rows per job.
        primitive: ``estimator`` (expectation values) or ``sampler`` (counts).
        shots: Shots per circuit.
        precision: Target precision (estimator; sampler converts it to ``1/precision**2`` shots).
        mitigation: Error mitigation, one of
            :data:`~qmoe_qiskit.hardware.primitives.MITIGATIONS` (sampler: ``none``); None =
            the primitive's default (:data:`~qmoe_qiskit.hardware.primitives.DEFAULT_MITIGATION`).
        dry_run: Build, validate and price the jobs only: nothing is sent, no ledger row.
        run_info: ``run_path, spec_name, spec_hash, weights_hash, profile`` for the ledger.
        wait: Wait for results (always true in local mode, where jobs run in this process).
        log: Progress messages.
        sleep: Sleep function of the retry loop.

    Returns:
        The :class:`Submission`.

    Raises:
        HardwareError: Not a backend, an unknown primitive or mitigation, a dynamic circuit
            on the estimator, or a circuit parameter without a value.
        RuntimeFailure: A job cannot be prepared for, or submitted to, the backend.
    """
    from qiskit_ibm_runtime import Batch

    handle = as_backend_handle(backend)
    if primitive not in PRIMITIVES:
        raise HardwareError(f"primitive must be one of {PRIMITIVES}, got {primitive!r}")
    if primitive == "estimator" and is_dynamic(transpiled.circuit):
        raise HardwareError(
            "a dynamic circuit (routing.execution = 'measured') runs on the sampler; the "
            "estimator cannot run mid-circuit measurements with feed-forward"
        )
    settings = mitigation_settings(primitive, mitigation)
    mitigation = settings["name"]
    info = dict(run_info or {})
    x = np.atleast_2d(np.asarray(x, dtype=float))
    weights = np.asarray(weights, dtype=float)
    program = circuit_of(model)
    circuit = transpiled.circuit
    if primitive == "sampler":
        circuit = measured_circuit(circuit, program.num_qubits)
    table = parameter_table(
        circuit, program.input_params, program.weight_params, x, model.circuit_weights(weights)
    )
    plain = program is model
    mapped = [[o] for o in transpiled.observables]
    pubs: list[tuple[int, int, tuple]] = []
    for start in range(0, len(x), chunk):
        stop = min(start + chunk, len(x))
        rows = table[start:stop]
        pub = (circuit, mapped, rows) if primitive == "estimator" else (circuit, rows)
        pubs.append((start, stop, pub))
    pricer = make_primitive(
        primitive, handle.backend, shots=shots, precision=precision, mitigation=mitigation
    )
    prices: list[PubPrice] = []
    for start, stop, pub in pubs:
        try:
            prices.append(price_pub(primitive, pricer, pub, handle.backend))
        except Exception as exc:
            raise RuntimeFailure(
                f"inputs {offset + start}:{offset + stop} cannot run on {handle.name}: "
                f"{type(exc).__name__}: {scrub(str(exc))}"
            ) from None
    price_rows = [
        {"input_start": offset + start, "input_stop": offset + stop, **price.to_dict()}
        for (start, stop, _), price in zip(pubs, prices, strict=True)
    ]
    if dry_run:
        return Submission([], None, [], price_rows, settings, dry_run=True)
    records: list[JobRecord] = []
    jobs: list[Any] = []
    with Batch(backend=handle.backend) as batch:
        batch_id = getattr(batch, "session_id", None)
        for (start, stop, pub), price in zip(pubs, prices, strict=True):
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
                api=API[primitive],
                mitigation=settings,
                estimated_qpu_seconds=price.qpu_seconds,
                **info,
            )
            prim = make_primitive(
                primitive,
                batch,
                shots=shots,
                precision=precision,
                mitigation=mitigation,
                tag=record.tag,
            )

            def find_existing(tag: str = record.tag) -> Any:
                if handle.service is None:
                    return None
                try:
                    found = handle.service.jobs(job_tags=[tag], limit=1)
                except Exception:
                    return None
                return found[0] if found else None

            def send(prim: Any = prim, pub: tuple = pub) -> Any:
                return prim.run([pub])

            try:
                job = with_retries(
                    send,
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
            status = normalize_status(job.status())
            if handle.mode == "local" and status in FINAL_STATUSES:
                # A local job's outcome exists only in this process: its row turns final when
                # finish_job records it, so a crash before then leaves it for recover to settle.
                status = "running"
            record = ledger.set_submitted(record.id, job.job_id(), status, batch_id)
            if log:
                log(
                    f"job {job.job_id()} ({handle.mode}) rows "
                    f"{record.input_start}:{record.input_stop} -> ledger row {record.id}"
                )
            records.append(record)
            jobs.append(job)
    if wait or handle.mode == "local":
        finished = []
        for rec, job in zip(records, jobs, strict=True):
            rows = x[(rec.input_start or 0) - offset : (rec.input_stop or 0) - offset]

            def readout(evs: np.ndarray, rows: np.ndarray = rows) -> np.ndarray:
                return model.readout(evs, rows, weights)

            finished.append(
                finish_job(
                    ledger,
                    rec,
                    job,
                    primitive,
                    program.observables,
                    record_labels(rec),
                    None if plain else readout,
                )
            )
        records = finished
    done = [r.result_data for r in records if r.status == "done" and r.result_data]
    accuracy = None
    if done and all("accuracy" in d for d in done):
        correct = sum(d["accuracy"] * len(d["predictions"]) for d in done)
        accuracy = correct / sum(len(d["predictions"]) for d in done)
    return Submission(records, accuracy, jobs, price_rows, settings)


def record_labels(record: JobRecord) -> list[int] | None:
    """The labels stored with a ledger row, if any."""
    import json

    return None if record.labels is None else json.loads(record.labels)


def finish_job(
    ledger: Ledger,
    record: JobRecord,
    job: Any,
    primitive: str,
    observables: Sequence[Any],
    row_labels: list[int] | None,
    readout: Readout | None = None,
) -> JobRecord:
    """Wait for ``job``'s result and store it (or its error) in the ledger row."""
    try:
        result = with_retries(job.result)
    except Exception as exc:
        status = normalize_status(safe_status(job))
        return ledger.update(
            record.id,
            status=status if status in FINAL_STATUSES else "error",
            error=f"{type(exc).__name__}: {scrub(str(exc))}",
        )
    summary = result_summary(primitive, result[0], observables, row_labels, readout)
    return ledger.update(record.id, status="done", result=summary, error=None)
