"""Up-front resource estimate of training a model: peak memory against what the machine has.

Checked before anything is written or allocated, so a spec that cannot fit (``data_qubits =
26`` is a 28-qubit state: 4.3 GB per sample in complex128) is refused in one line that names
the estimate and the limit, instead of dying minutes later in an allocation.

Memory models, per engine:

* ``torch``: autograd keeps the state after every fused block of the execution plan
  (:func:`~qmoe_qiskit.engines.statevector.plan_execution`), so one training step holds about
  ``(blocks + 2) x batch x 2**n`` amplitudes of 16 bytes; evaluation (no gradient, batches of
  256) holds a few states. Measured peaks at batch 32 on the digits QMoE (10-15 qubits, 27-38
  blocks) were 0.8-1.2x this model above a 64 MB fixed part; ``tests/engines/test_estimate.py``
  checks it against a measured peak. With ``training.memory_gb``, a pass takes only as many
  rows at once as fit the budget (at least one; the others recompute their states), so the
  peak is about the budget, or one row's states when a single row needs more.
* ``aer``: one call holds at most ``training.memory_gb`` of parameter rows but never less than
  one row (:func:`~qmoe_qiskit.engines.aer.budget.estimated_row_bytes`: the bound circuit and
  its statevector, or ``4**n`` amplitudes for the density-matrix method of noisy training).

Time (printed, never a reason to refuse): on the torch engine one training step of the real
network on a small batch (at most 256 MB) is timed and scaled to an epoch; on Aer, the
epoch's parameter rows (forward and batched parameter-shift gradient: ``2 P + 1`` per sample)
are timed as one training step of the real network on 4 samples up to 16 qubits; wider (or
noisy) circuits count ``instructions x 2**n`` gate-amplitude updates a row at the simulator's rate,
timed on a fixed 14-qubit circuit.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import EngineError
from ..models import CompiledModel, Model, circuit_of
from ..models.base import NoCircuitError
from .aer.budget import _AMPLITUDE  # bytes of one complex128 amplitude, shared with Aer's model

__all__ = [
    "MAX_EPOCH_SECONDS",
    "ResourceEstimate",
    "available_memory",
    "check_resources",
    "estimate_training",
]

#: Fixed part of the torch engine's peak (buffers, the plan, torch's allocator), bytes.
_TORCH_FIXED = 64 * 2**20
#: Batch size of evaluation passes (:func:`qmoe_qiskit.training.loop.predict`).
_EVAL_BATCH = 256
#: Longest estimated epoch that is not refused (30 days): beyond it a run cannot finish.
MAX_EPOCH_SECONDS = 30 * 86400
#: Widest circuit whose own training step is timed on Aer (wider: the update-rate model), and
#: the samples of that step.
_AER_PROBE_QUBITS = 16
_AER_PROBE_BATCH = 4
#: Largest estimated peak of the timing probe, bytes.
_PROBE_BYTES = 256 * 2**20


@dataclass(frozen=True)
class ResourceEstimate:
    """What training a model is estimated to take.

    Attributes:
        engine: ``"torch"`` or ``"aer"``.
        num_qubits: Qubits of the simulated circuit.
        peak_bytes: Estimated peak memory of training and evaluation.
        limit_bytes: Memory available to it (None: not known, e.g. Aer on a GPU).
        limit_source: Where the limit comes from.
        seconds_per_epoch: Estimated time of one epoch (None: not estimated).
    """

    engine: str
    num_qubits: int
    peak_bytes: int
    limit_bytes: int | None
    limit_source: str
    seconds_per_epoch: float | None = None

    @property
    def fits(self) -> bool:
        """Whether the estimate is within the limit (true when the limit is unknown)."""
        return self.limit_bytes is None or self.peak_bytes <= self.limit_bytes

    @property
    def finishes(self) -> bool:
        """Whether an epoch is estimated to end within :data:`MAX_EPOCH_SECONDS`."""
        return self.seconds_per_epoch is None or self.seconds_per_epoch <= MAX_EPOCH_SECONDS

    def describe(self) -> str:
        """One line: peak memory against the limit, and the time per epoch if estimated."""
        limit = (
            "" if self.limit_bytes is None else f" of {_gb(self.limit_bytes)} {self.limit_source}"
        )
        line = f"estimate: {self.num_qubits} qubits, peak memory ~{_gb(self.peak_bytes)}{limit}"
        if self.seconds_per_epoch is not None:
            line += f", ~{_duration(self.seconds_per_epoch)} per epoch"
        return line


def _gb(value: int) -> str:
    return f"{value / 1e9:.2f} GB" if value < 1e11 else f"{value / 1e9:,.0f} GB"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:,.0f} days"


def available_memory(engine: str, device: str) -> tuple[int | None, str]:
    """Memory a training run may use: free GPU memory for torch on CUDA, else the system's
    available memory (Linux ``MemAvailable``; physical memory elsewhere).

    Returns:
        ``(bytes or None, what it is)``; None for Aer on a GPU (not known before Aer starts).
    """
    name = str(device).lower()
    if engine == "torch" and name.startswith("cuda"):
        free, _ = torch.cuda.mem_get_info(torch.device(name))
        return int(free), f"free memory on {name}"
    if engine == "aer" and name == "gpu":
        return None, "GPU memory (not checked for Aer)"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024, "available memory"
    except (OSError, ValueError, IndexError):
        pass
    try:
        import os

        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")), "physical memory"
    except (ValueError, OSError, AttributeError):
        return None, "memory (unknown here)"


def _torch_peak(blocks: int, num_qubits: int, batch: int, memory_gb: float | None = None) -> int:
    """Peak of a training step and of an evaluation pass; with a budget, the rows of one pass
    are those that
    :meth:`~qmoe_qiskit.engines.statevector.TorchStatevectorNetwork.rows_per_pass` allows."""
    from .statevector.network import rows_within

    state = 2**num_qubits * _AMPLITUDE

    def rows(wanted: int, per_row: int) -> int:
        return wanted if memory_gb is None else min(wanted, rows_within(memory_gb, per_row))

    train = (blocks + 2) * state * rows(batch, (blocks + 2) * state)
    evaluate = 3 * state * rows(_EVAL_BATCH, 3 * state)
    return _TORCH_FIXED + max(train, evaluate)


def _time_torch_epoch(
    circuit: CompiledModel, blocks: int, batch: int, train_samples: int, device: str
) -> float | None:
    from .statevector import TorchStatevectorNetwork

    state = 2**circuit.num_qubits * _AMPLITUDE
    probe = min(batch, max(1, int(_PROBE_BYTES // ((blocks + 2) * state))))
    if _torch_peak(blocks, circuit.num_qubits, probe) > _PROBE_BYTES + _TORCH_FIXED:
        return None
    network = TorchStatevectorNetwork(circuit, device=device, retain_memory=False)
    x = torch.zeros(probe, circuit.num_inputs, dtype=torch.float64, device=network.device)
    seconds = math.inf
    for _ in range(2):  # the first step warms caches up
        start = time.perf_counter()
        network(x).sum().backward()
        seconds = time.perf_counter() - start
    steps = math.ceil(train_samples / batch)
    return seconds * (batch / probe) * steps


def _time_aer_epoch(circuit: Model, batch: int, train_samples: int, device: str) -> float:
    """One training step of the real Aer network (EstimatorQNN in TorchConnector, batched
    gradient) on :data:`_AER_PROBE_BATCH` samples, scaled to an epoch."""
    from .network import build_network

    probe = min(batch, _AER_PROBE_BATCH)
    network = build_network(circuit, engine="aer", device=device)
    x = torch.full((probe, circuit.num_inputs), 0.5, dtype=torch.float64)
    start = time.perf_counter()
    network(x).sum().backward()
    seconds = time.perf_counter() - start
    return seconds * (batch / probe) * math.ceil(train_samples / batch)


def _aer_rate(device: str) -> float:
    """Gate-amplitude updates per second of Aer's estimator here (a 14-qubit probe)."""
    from qiskit import QuantumCircuit
    from qiskit.circuit import ParameterVector
    from qiskit.quantum_info import SparsePauliOp

    from .aer.qnn import aer_estimator

    n, layers, rows = 14, 8, 4
    theta = ParameterVector("t", n * layers)
    qc = QuantumCircuit(n)
    for layer in range(layers):
        for q in range(n):
            qc.ry(theta[layer * n + q], q)
        for q in range(n - 1):
            qc.cx(q, q + 1)
    values = np.linspace(0.1, 1.0, rows * len(theta)).reshape(rows, len(theta))
    estimator = aer_estimator(device)
    observable = SparsePauliOp("Z" * n)
    estimator.run([(qc, observable, values[:1])]).result()  # warm up
    start = time.perf_counter()
    estimator.run([(qc, observable, values)]).result()
    seconds = max(time.perf_counter() - start, 1e-6)
    return rows * len(qc.data) * 2**n / seconds


def estimate_training(
    model: Model,
    *,
    engine: str,
    device: str,
    batch_size: int,
    train_samples: int,
    memory_gb: float,
    noisy: bool = False,
    time_it: bool = True,
) -> ResourceEstimate | None:
    """Estimate the peak memory (and, on the torch engine, the time) of training ``model``.

    Args:
        model: The compiled model.
        engine: ``"torch"`` or ``"aer"``.
        device: The resolved device (``"cpu"``, ``"cuda:0"``, Aer's ``"CPU"``/``"GPU"``).
        batch_size: Training mini-batch size.
        train_samples: Training samples per epoch.
        memory_gb: The budget of one pass (``training.memory_gb``): Aer's per call, the torch
            engine's kept states.
        noisy: Noise-aware training (Aer's density-matrix method).
        time_it: Time one step of the real network (torch engine, small models only).

    Returns:
        The estimate, or None for a model without a circuit (classical end to end).
    """
    try:
        circuit = circuit_of(model)
    except NoCircuitError:
        return None
    n = circuit.num_qubits
    limit, source = available_memory(engine, device)
    seconds = None
    if engine == "torch":
        from .statevector import choose_block_qubits, lower_circuit, plan_execution

        program = lower_circuit(circuit.decomposed, circuit.input_params, circuit.weight_params)
        blocks = len(plan_execution(program, choose_block_qubits(program)).steps)
        peak = _torch_peak(blocks, n, batch_size, memory_gb)
        if time_it and (limit is None or peak <= limit):
            seconds = _time_torch_epoch(circuit, blocks, batch_size, train_samples, device)
    else:
        from .aer.budget import estimated_row_bytes

        row = estimated_row_bytes(circuit.circuit, density_matrix=noisy)
        rows = batch_size * (2 * circuit.num_weights + 1)  # batched parameter-shift gradient
        peak = max(row, min(int(memory_gb * 1e9), rows * row))
        if time_it and (limit is None or peak <= limit):
            epoch_rows = train_samples * (2 * circuit.num_weights + 1)
            if n <= _AER_PROBE_QUBITS and not noisy:
                seconds = _time_aer_epoch(circuit, batch_size, train_samples, device)
            else:
                updates = len(circuit.decomposed.data) * 2 ** (n * (2 if noisy else 1))
                seconds = epoch_rows * updates / _aer_rate(device)
    return ResourceEstimate(engine, n, int(peak), limit, source, seconds)


def check_resources(estimate: ResourceEstimate | None) -> None:
    """Refuse an estimate that does not fit, in one line naming the estimate and the limit.

    Raises:
        EngineError: The estimated peak exceeds the limit, or an epoch would take longer than
            :data:`MAX_EPOCH_SECONDS`.
    """
    if estimate is None:
        return
    if not estimate.finishes:
        raise EngineError(
            f"this model cannot finish: one epoch is estimated at "
            f"~{_duration(estimate.seconds_per_epoch or 0)} on the {estimate.engine} engine "
            f"({estimate.num_qubits} qubits; the limit is {MAX_EPOCH_SECONDS // 86400} days); "
            "use fewer qubits, fewer training samples or --engine torch"
        )
    if estimate.fits:
        return
    per_sample = 2**estimate.num_qubits * _AMPLITUDE
    raise EngineError(
        f"this model does not fit: training needs ~{_gb(estimate.peak_bytes)} of memory "
        f"({estimate.num_qubits} qubits: {_gb(per_sample)} per state on the {estimate.engine} "
        f"engine), and {estimate.limit_source} is {_gb(estimate.limit_bytes or 0)}; use fewer "
        "qubits (experts.data_qubits, routing.qubits) or a smaller --batch-size"
    )
