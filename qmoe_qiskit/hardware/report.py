"""Resource and QPU-time report of an ISA circuit, before any QPU time is spent.

QPU-time estimate (an *estimate*, not IBM's billing):

* ``circuit_duration`` is the critical path of the ISA circuit: every instruction starts when
  all its qubits are free and lasts the duration the backend :class:`~qiskit.transpiler.Target`
  gives for that gate on those qubits (``rz`` is virtual, 0 s; barriers synchronise); a final
  measurement of every active qubit is appended (the primitives measure them).
* ``shot_time = circuit_duration + rep_delay``, ``rep_delay`` being the backend configuration's
  ``default_rep_delay`` (250 us on current IBM devices; :data:`DEFAULT_REP_DELAY` if absent).
* ``qpu_time = circuits * shots * shot_time``.
* A dynamic circuit (mid-circuit measurement and feed-forward, ``routing.execution =
  "measured"``) runs one branch per shot: depth, two-qubit gates and duration are those of its
  costliest branch (:func:`~qmoe_qiskit.circuits.branch_circuits`); classical feed-forward
  latency is not included. Not included: per-job compilation and loading
  overhead, twirling or measurement-mitigation circuits, queueing. Instructions without a
  duration in the target count 0 s and are listed in ``missing_durations``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from qiskit import QuantumCircuit

from ..circuits import branch_circuits, is_dynamic, shot_costs
from .transpile import TranspiledModel

__all__ = [
    "DEFAULT_REP_DELAY",
    "ResourceReport",
    "backend_rep_delay",
    "circuit_duration",
    "format_table",
    "resource_report",
]

#: Repetition delay (s) used when a backend configuration has no ``default_rep_delay``.
DEFAULT_REP_DELAY = 250e-6


def _active_qubits(circuit: QuantumCircuit) -> list[int]:
    used: set[int] = set()
    for inst in circuit.data:
        if inst.operation.name not in ("barrier", "delay"):
            used.update(circuit.find_bit(q).index for q in inst.qubits)
    return sorted(used)


def _duration(target: Any, name: str, qargs: tuple[int, ...]) -> float | None:
    if target is None or name not in target.operation_names:
        return None
    props = target[name]
    entry = props.get(qargs) if qargs in props else props.get(None)
    return None if entry is None else entry.duration


def circuit_duration(
    circuit: QuantumCircuit, target: Any, measure: bool = True
) -> tuple[float, tuple[str, ...]]:
    """Critical-path duration (s) of an ISA circuit from a backend target's durations.

    Args:
        circuit: An ISA circuit (device-wide).
        target: The backend's :class:`~qiskit.transpiler.Target`.
        measure: Append a measurement of every active qubit.

    Returns:
        ``(seconds, missing)``: the duration and the sorted names of instructions that had no
        duration in the target (counted as 0 s; ``rz`` has 0 s on IBM devices by definition).
        For a dynamic circuit, the costliest branch's.
    """
    if is_dynamic(circuit):
        timed = [circuit_duration(b, target, measure) for b in branch_circuits(circuit).values()]
        names = {name for _, absent in timed for name in absent}
        return max(t for t, _ in timed), tuple(sorted(names))
    free = [0.0] * circuit.num_qubits
    missing = set()
    for inst in circuit.data:
        qargs = tuple(circuit.find_bit(q).index for q in inst.qubits)
        if not qargs:
            continue
        start = max(free[q] for q in qargs)
        name = inst.operation.name
        if name == "barrier":
            length = 0.0
        else:
            value = _duration(target, name, qargs)
            if value is None:
                missing.add(name)
            length = value or 0.0
        for q in qargs:
            free[q] = start + length
    if measure:
        for q in _active_qubits(circuit):
            value = _duration(target, "measure", (q,))
            if value is None:
                missing.add("measure")
            free[q] += value or 0.0
    return (max(free, default=0.0), tuple(sorted(missing)))


@dataclass(frozen=True)
class ResourceReport:
    """Cost of an ISA circuit on a backend (see the module docstring for the time formula).

    Attributes:
        backend: Backend name.
        profile: Profile name.
        num_qubits: Logical qubits of the model.
        layout: Physical qubit of each logical qubit at the start of the circuit.
        physical_qubits: Every physical qubit an instruction touches (routing may add some).
        depth: Depth of the ISA circuit.
        two_qubit_gates: Two-qubit gates of the ISA circuit.
        logical_two_qubit_gates: Two-qubit gates of the logical circuit (basis decomposition,
            all-to-all connectivity).
        two_qubit_overhead: ``two_qubit_gates / logical_two_qubit_gates``.
        gate_counts: Gate name -> count in the ISA circuit.
        circuit_duration_s: Estimated duration of one shot's circuit incl. measurement.
        rep_delay_s: Delay between shots used in the estimate.
        circuits: Number of circuits (parameter sets) of the estimate.
        shots: Shots per circuit of the estimate.
        qpu_time_s: ``circuits * shots * (circuit_duration_s + rep_delay_s)`` (an estimate).
        missing_durations: Instructions the target gives no duration for (counted as 0 s).
        branches: Gate sequences one shot can run (1 for a static circuit; depth, two-qubit
            gates and duration are the costliest one's).
        two_qubit_gates_all_branches: Two-qubit gates in the whole program, every branch
            counted (equals ``two_qubit_gates`` for a static circuit).
    """

    backend: str
    profile: str
    num_qubits: int
    layout: tuple[int, ...]
    physical_qubits: tuple[int, ...]
    depth: int
    two_qubit_gates: int
    logical_two_qubit_gates: int
    two_qubit_overhead: float
    gate_counts: dict[str, int] = field(default_factory=dict)
    circuit_duration_s: float = 0.0
    rep_delay_s: float = DEFAULT_REP_DELAY
    circuits: int = 1
    shots: int = 4096
    qpu_time_s: float = 0.0
    missing_durations: tuple[str, ...] = ()
    branches: int = 1
    two_qubit_gates_all_branches: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return json.loads(json.dumps(asdict(self)))


def backend_rep_delay(backend: Any) -> float:
    """The delay between shots of ``backend`` in seconds (:data:`DEFAULT_REP_DELAY` if unknown)."""
    try:
        value = backend.configuration().default_rep_delay
    except AttributeError:  # BackendV2 without a V1-style configuration
        value = getattr(backend, "default_rep_delay", None)
    if value is None:
        return DEFAULT_REP_DELAY
    value = float(value)
    return value * 1e-6 if value > 1e-2 else value  # some configurations are in microseconds


def resource_report(
    transpiled: TranspiledModel, backend: Any, *, circuits: int = 1, shots: int = 4096
) -> ResourceReport:
    """Resource and QPU-time report of a transpiled model.

    Args:
        transpiled: Output of :func:`transpile_model`.
        backend: The backend it was transpiled for (its target gives the durations).
        circuits: Circuits (parameter sets) to price.
        shots: Shots per circuit to price.
    """
    isa = transpiled.circuit
    shot = shot_costs(isa)
    two_qubit = shot["two_qubit_gates"]
    duration, missing = circuit_duration(isa, getattr(backend, "target", None))
    rep_delay = backend_rep_delay(backend)
    logical = transpiled.logical_two_qubit_gates
    layout = tuple(isa.layout.initial_index_layout(filter_ancillas=True)) if isa.layout else ()
    return ResourceReport(
        backend=transpiled.backend_name,
        profile=transpiled.profile.name,
        num_qubits=len(layout) or isa.num_qubits,
        layout=layout,
        physical_qubits=tuple(_active_qubits(isa)),
        depth=shot["depth"],
        two_qubit_gates=two_qubit,
        logical_two_qubit_gates=logical,
        two_qubit_overhead=round(two_qubit / logical, 4) if logical else float(two_qubit > 0),
        gate_counts=dict(isa.count_ops()),
        circuit_duration_s=duration,
        rep_delay_s=rep_delay,
        circuits=circuits,
        shots=shots,
        qpu_time_s=circuits * shots * (duration + rep_delay),
        missing_durations=missing,
        branches=shot["branches"],
        two_qubit_gates_all_branches=_two_qubit(isa),
    )


def _two_qubit(circuit: QuantumCircuit) -> int:
    """Two-qubit gates of ``circuit``, those inside control-flow blocks included."""
    count = 0
    for inst in circuit.data:
        op = inst.operation
        blocks = getattr(op, "blocks", ())
        if blocks:
            count += sum(_two_qubit(block) for block in blocks if block is not None)
        elif op.num_qubits == 2:
            count += 1
    return count


def format_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """A fixed-width text table of resource-report dicts (errors shown per row)."""
    header = (
        f"{'backend':20s} {'qubits':>6s} {'phys':>5s} {'depth':>6s} {'2q':>5s} "
        f"{'2q x':>6s} {'t_circ us':>9s} {'QPU s':>8s}  layout"
    )
    lines = [header, "-" * len(header)]
    for row in rows:
        if "error" in row:
            lines.append(f"{row['backend']:20s} error: {row['error']}")
            continue
        lines.append(
            f"{row['backend']:20s} {row['num_qubits']:6d} {len(row['physical_qubits']):5d} "
            f"{row['depth']:6d} {row['two_qubit_gates']:5d} {row['two_qubit_overhead']:6.2f} "
            f"{row['circuit_duration_s'] * 1e6:9.2f} {row['qpu_time_s']:8.2f}  "
            f"{','.join(map(str, row['layout']))}"
        )
    return "\n".join(lines)
