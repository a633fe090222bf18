"""Memory budget for Aer: split a PUB's parameter rows into calls that fit.

Aer's ``EstimatorV2`` runs one experiment per parameter row and keeps every bound experiment
in memory until the call returns: measured on this project's circuits, about 0.65 KB per
circuit instruction per row (a 950-instruction, 7-qubit QMoE circuit costs 600 KB a row),
whatever the number of qubits below ~14, plus a statevector per parallel experiment. One
batched parameter-shift gradient of that circuit for 32 samples is 8,960 rows, 5.4 GB in one
call. :class:`ChunkedEstimator` wraps any V2 estimator and splits each PUB along its last
(parameter-row) axis so that no call exceeds a budget; values are unchanged, since each row is
evaluated on its own either way.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
from qiskit.circuit import QuantumCircuit
from qiskit.primitives import (
    BaseEstimatorV2,
    DataBin,
    PrimitiveJob,
    PrimitiveResult,
    PubResult,
)
from qiskit.primitives.containers.estimator_pub import EstimatorPub, EstimatorPubLike

from ...errors import EngineError
from ...spec import TrainingSpec

__all__ = [
    "DEFAULT_MEMORY_GB",
    "ChunkedEstimator",
    "active_qubits",
    "estimated_row_bytes",
    "rows_per_call",
]

#: Default working-memory budget of one Aer call, in GB (10^9 bytes), the spec's
#: ``training.memory_gb``: far below a 24 GB machine's memory, and in most cases measured
#: faster than larger calls (``benchmarks/aer_memory.py``).
DEFAULT_MEMORY_GB: float = TrainingSpec.memory_gb

#: Cost model of one parameter row in an Aer call (bytes), fitted on circuits of 280-1,120
#: instructions and 7-12 qubits and rounded up: a fixed part, a part per instruction, and the
#: statevector (16 bytes per amplitude) of a parallel experiment.
_ROW_FIXED = 32_000
_ROW_PER_INSTRUCTION = 700
_AMPLITUDE = 16


def active_qubits(circuit: QuantumCircuit) -> int:
    """Qubits some instruction acts on (Aer simulates only these: a device-wide ISA circuit of
    a 6-qubit model on a 156-qubit backend costs a 6-qubit state)."""
    used = {q for inst in circuit.data for q in inst.qubits}
    return len(used) if circuit.data else circuit.num_qubits


def estimated_row_bytes(circuit: QuantumCircuit, density_matrix: bool = False) -> int:
    """Estimated memory one parameter row of ``circuit`` takes in an Aer estimator call.

    Args:
        circuit: The circuit as Aer receives it.
        density_matrix: Aer's density-matrix method (``4^n`` amplitudes instead of ``2^n``).

    Returns:
        Bytes (an overestimate of what was measured; see the module docstring).
    """
    amplitudes = 2 ** (active_qubits(circuit) * (2 if density_matrix else 1))
    return _ROW_FIXED + _ROW_PER_INSTRUCTION * len(circuit.data) + _AMPLITUDE * amplitudes


def rows_per_call(circuit: QuantumCircuit, memory_gb: float, density_matrix: bool = False) -> int:
    """How many parameter rows of ``circuit`` one call may take within ``memory_gb``.

    Args:
        circuit: The circuit as Aer receives it.
        memory_gb: Working-memory budget of one call, in GB.
        density_matrix: Aer's density-matrix method.

    Returns:
        At least 1 (a single row is never split).
    """
    return max(1, int(memory_gb * 1e9) // estimated_row_bytes(circuit, density_matrix))


class ChunkedEstimator(BaseEstimatorV2):
    """A V2 estimator that splits large PUBs into calls of ``rows_per_call`` rows.

    PUBs are split along the last axis of their broadcast shape (the parameter-row axis of
    every PUB this project sends); PUBs that fit are passed through, several per call while
    their rows add up to no more than the budget. Results are reassembled in the PUBs' shapes.

    Args:
        estimator: The estimator that runs the calls (Aer's ``EstimatorV2`` in this project).
        memory_gb: Working-memory budget of one call, in GB.
        density_matrix: The estimator simulates density matrices (Aer with a noise model).

    Attributes:
        calls: How many calls were sent to ``estimator`` (for tests and benchmarks).
    """

    def __init__(
        self,
        estimator: BaseEstimatorV2,
        memory_gb: float = DEFAULT_MEMORY_GB,
        density_matrix: bool = False,
    ):
        if not memory_gb > 0:
            raise EngineError(f"memory budget must be positive, got {memory_gb} GB")
        self._estimator = estimator
        self.memory_gb = float(memory_gb)
        self.density_matrix = density_matrix
        self.calls = 0

    @property
    def estimator(self) -> BaseEstimatorV2:
        """The wrapped estimator."""
        return self._estimator

    def run(
        self, pubs: Iterable[EstimatorPubLike], *, precision: float | None = None
    ) -> PrimitiveJob[PrimitiveResult[PubResult]]:
        coerced = [EstimatorPub.coerce(pub, precision) for pub in pubs]
        job = PrimitiveJob(self._run, coerced)
        job._submit()
        return job

    def _run(self, pubs: list[EstimatorPub]) -> PrimitiveResult[PubResult]:
        results: list[PubResult | None] = [None] * len(pubs)
        pending: list[tuple[int, EstimatorPub]] = []
        pending_rows = 0
        for index, pub in enumerate(pubs):
            limit = rows_per_call(pub.circuit, self.memory_gb, self.density_matrix)
            rows = max(1, math.prod(pub.parameter_values.shape))
            if rows > limit and pub.parameter_values.ndim:
                results[index] = self._run_split(pub, limit)
                continue
            if pending and pending_rows + rows > limit:
                self._flush(pending, results)
                pending, pending_rows = [], 0
            pending.append((index, pub))
            pending_rows += rows
        if pending:
            self._flush(pending, results)
        return PrimitiveResult(results, metadata={"memory_gb": self.memory_gb})

    def _call(self, pubs: list[EstimatorPub]) -> PrimitiveResult[PubResult]:
        self.calls += 1
        return self._estimator.run(pubs).result()

    def _flush(self, pending: list[tuple[int, EstimatorPub]], results: list) -> None:
        outcome = self._call([pub for _, pub in pending])
        for (index, _), result in zip(pending, outcome, strict=True):
            results[index] = result

    def _run_split(self, pub: EstimatorPub, limit: int) -> PubResult:
        values = pub.parameter_values.as_array(pub.circuit.parameters)
        param_shape = pub.parameter_values.shape
        length = param_shape[-1]
        lead = math.prod(param_shape[:-1])
        step = max(1, limit // max(1, lead))
        observables = pub.observables
        split_observables = observables.ndim > 0 and observables.shape[-1] == length > 1
        evs: list[np.ndarray] = []
        stds: list[np.ndarray] = []
        metadata: dict = {}
        for start in range(0, length, step):
            stop = min(length, start + step)
            chunk_obs = observables[..., start:stop] if split_observables else observables
            chunk = EstimatorPub.coerce(
                (pub.circuit, chunk_obs, values[..., start:stop, :], pub.precision)
            )
            result = self._call([chunk])[0]
            chunk_evs = np.asarray(result.data.evs)
            evs.append(chunk_evs)
            stds.append(np.broadcast_to(np.asarray(result.data.stds), chunk_evs.shape))
            metadata = dict(result.metadata)
        shape = pub.shape
        metadata["chunks"] = len(evs)
        data = DataBin(
            evs=np.concatenate(evs, axis=-1).reshape(shape),
            stds=np.concatenate(stds, axis=-1).reshape(shape),
            shape=shape,
        )
        return PubResult(data, metadata=metadata)
