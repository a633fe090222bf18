"""Transpile a compiled QMoE for an IBM backend: named profiles, ISA circuits, cost reports.

Profiles are TOML files holding keyword arguments of
:func:`qiskit.transpiler.generate_preset_pass_manager` (``optimization_level``,
``layout_method``, ``routing_method``, ``translation_method``, ``seed_transpiler``,
``approximation_degree``) plus a ``description``. They are looked up, first match wins, in
``$QMOE_TRANSPILE_DIR``, the repository's ``transpile/`` directory (a source checkout) and the
copies shipped inside the package (``qmoe_qiskit/transpile_profiles/``, package data).

QPU-time estimate (an *estimate*, not IBM's billing):

* ``circuit_duration`` is the critical path of the ISA circuit: every instruction starts when
  all its qubits are free and lasts the duration the backend :class:`~qiskit.transpiler.Target`
  gives for that gate on those qubits (``rz`` is virtual, 0 s; barriers synchronise); a final
  measurement of every active qubit is appended (the primitives measure them).
* ``shot_time = circuit_duration + rep_delay``, ``rep_delay`` being the backend configuration's
  ``default_rep_delay`` (250 us on current IBM devices; :data:`DEFAULT_REP_DELAY` if absent).
* ``qpu_time = circuits * shots * shot_time``. Not included: per-job compilation and loading
  overhead, twirling or measurement-mitigation circuits, queueing. Instructions without a
  duration in the target count 0 s and are listed in ``missing_durations``.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from qiskit import QuantumCircuit, qpy
from qiskit.quantum_info import SparsePauliOp
from qiskit.transpiler import generate_preset_pass_manager

from .compiler import CompiledModel

__all__ = [
    "DEFAULT_REP_DELAY",
    "PROFILE_KEYS",
    "ResourceReport",
    "TranspileError",
    "TranspileProfile",
    "TranspiledModel",
    "available_profiles",
    "circuit_duration",
    "fake_backend_names",
    "format_table",
    "load_model_or_run",
    "get_fake_backend",
    "load_isa",
    "load_profile",
    "profile_dirs",
    "resource_report",
    "save_isa",
    "transpile_model",
]

#: Repetition delay (s) used when a backend configuration has no ``default_rep_delay``.
DEFAULT_REP_DELAY = 250e-6
#: Keys a profile may set (passed to ``generate_preset_pass_manager``).
PROFILE_KEYS = (
    "optimization_level",
    "layout_method",
    "routing_method",
    "translation_method",
    "seed_transpiler",
    "approximation_degree",
)
_PACKAGE_PROFILES = Path(__file__).resolve().parent / "transpile_profiles"
_REPO_PROFILES = Path(__file__).resolve().parents[1] / "transpile"


class TranspileError(ValueError):
    """A bad profile, backend name or ISA file (a user error)."""


@dataclass(frozen=True)
class TranspileProfile:
    """A named set of preset-pass-manager options.

    Attributes:
        name: Profile name (file stem).
        description: One line for humans.
        optimization_level: 0-3.
        layout_method: Layout stage plugin (``sabre``, ``dense``, ``trivial``, ...) or None.
        routing_method: Routing stage plugin (``sabre``, ``basic``, ``lookahead``, ...) or None.
        translation_method: Translation stage plugin or None.
        seed_transpiler: Seed of the stochastic passes.
        approximation_degree: 1.0 exact synthesis; below 1.0 allows approximation.
        source: File the profile was read from (None for one built in code).
    """

    name: str
    description: str = ""
    optimization_level: int = 2
    layout_method: str | None = None
    routing_method: str | None = None
    translation_method: str | None = None
    seed_transpiler: int | None = 1234
    approximation_degree: float = 1.0
    source: str | None = None

    def options(self) -> dict[str, Any]:
        """Keyword arguments for ``generate_preset_pass_manager`` (None values dropped)."""
        return {k: getattr(self, k) for k in PROFILE_KEYS if getattr(self, k) is not None}

    def pass_manager(self, backend: Any):
        """The preset staged pass manager of this profile for ``backend``."""
        return generate_preset_pass_manager(backend=backend, **self.options())


def profile_dirs() -> tuple[Path, ...]:
    """Directories searched for ``NAME.toml`` profiles, in order."""
    dirs = []
    if os.environ.get("QMOE_TRANSPILE_DIR"):
        dirs.append(Path(os.environ["QMOE_TRANSPILE_DIR"]).expanduser())
    dirs += [_REPO_PROFILES, _PACKAGE_PROFILES]
    return tuple(d for d in dirs if d.is_dir())


def available_profiles() -> tuple[str, ...]:
    """Names of every profile found in :func:`profile_dirs`."""
    return tuple(sorted({p.stem for d in profile_dirs() for p in d.glob("*.toml")}))


def load_profile(name: str | os.PathLike = "default") -> TranspileProfile:
    """Read a profile by name (see :func:`profile_dirs`) or from a ``.toml`` path.

    Raises:
        TranspileError: Unknown name, unknown key or invalid value.
    """
    path = Path(name)
    if not (path.suffix == ".toml" and path.is_file()):
        found = [d / f"{name}.toml" for d in profile_dirs() if (d / f"{name}.toml").is_file()]
        if not found:
            raise TranspileError(
                f"unknown transpile profile {str(name)!r}; available: "
                f"{', '.join(available_profiles()) or 'none'}"
            )
        path = found[0]
    with open(path, "rb") as handle:
        values = tomllib.load(handle)
    unknown = set(values) - set(PROFILE_KEYS) - {"description"}
    if unknown:
        raise TranspileError(f"{path}: unknown profile keys {sorted(unknown)}")
    level = values.get("optimization_level", 2)
    if level not in (0, 1, 2, 3):
        raise TranspileError(f"{path}: optimization_level must be 0-3, got {level!r}")
    degree = float(values.get("approximation_degree", 1.0))
    if not 0.0 <= degree <= 1.0:
        raise TranspileError(f"{path}: approximation_degree must be in [0, 1], got {degree}")
    values["approximation_degree"] = degree
    return TranspileProfile(name=path.stem, source=str(path), **values)


def _fake_backends() -> list[Any]:
    import warnings

    from qiskit_ibm_runtime.fake_provider import FakeProviderForBackendV2

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "properties are not typical" notes
        return FakeProviderForBackendV2().backends()


def fake_backend_names(min_qubits: int = 0) -> tuple[str, ...]:
    """Names (``fake_*``) of every BackendV2 fake backend of qiskit-ibm-runtime."""
    return tuple(sorted(b.name for b in _fake_backends() if b.num_qubits >= min_qubits))


def get_fake_backend(name: str):
    """A fake backend by name: ``fake_fez``, ``FakeFez`` or ``fez``.

    Raises:
        TranspileError: If qiskit-ibm-runtime has no such fake backend.
    """
    import warnings

    from qiskit_ibm_runtime import fake_provider

    key = name.lower().removeprefix("fake_").removeprefix("fake").removesuffix("v2")
    for cls_name in (f"Fake{key.capitalize()}V2", f"Fake{key.capitalize()}"):
        cls = getattr(fake_provider, cls_name, None)
        if cls is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                backend = cls()
            if backend.name == f"fake_{key}":
                return backend
    for backend in _fake_backends():
        if backend.name.removeprefix("fake_") == key:
            return backend
    raise TranspileError(
        f"no fake backend named {name!r}; try one of: {', '.join(fake_backend_names())}"
    )


@dataclass(frozen=True, eq=False)
class TranspiledModel:
    """An ISA circuit of a compiled model and its observables mapped onto the device.

    Attributes:
        circuit: The ISA circuit (device-wide, parameters unbound).
        observables: The class observables after ``apply_layout(circuit.layout)``.
        backend_name: Backend it was transpiled for.
        profile: Profile used.
        logical_two_qubit_gates: Two-qubit gates of the logical circuit decomposed to
            :data:`~qmoe_qiskit.compiler.BASIS_GATES` (no routing).
    """

    circuit: QuantumCircuit
    observables: tuple[SparsePauliOp, ...]
    backend_name: str
    profile: TranspileProfile
    logical_two_qubit_gates: int


def transpile_model(
    model: CompiledModel, backend: Any, profile: TranspileProfile | str = "default"
) -> TranspiledModel:
    """Transpile ``model.circuit`` for ``backend`` and map its observables.

    Args:
        model: The compiled model.
        backend: A BackendV2 (fake or real).
        profile: A profile or profile name.

    Returns:
        The ISA circuit (parameters unbound) with mapped observables.
    """
    if not isinstance(profile, TranspileProfile):
        profile = load_profile(profile)
    if backend.num_qubits < model.num_qubits:
        raise TranspileError(
            f"{backend.name} has {backend.num_qubits} qubits; the model needs {model.num_qubits}"
        )
    isa = profile.pass_manager(backend).run(model.circuit)
    observables = tuple(obs.apply_layout(isa.layout) for obs in model.observables)
    return TranspiledModel(
        circuit=isa,
        observables=observables,
        backend_name=backend.name,
        profile=profile,
        logical_two_qubit_gates=model.summary()["two_qubit_gates"],
    )


def _active_qubits(circuit: QuantumCircuit) -> list[int]:
    used = set()
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
    """
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

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return json.loads(json.dumps(asdict(self)))


def _rep_delay(backend: Any) -> float:
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
    two_qubit = sum(1 for inst in isa.data if inst.operation.num_qubits == 2)
    duration, missing = circuit_duration(isa, getattr(backend, "target", None))
    rep_delay = _rep_delay(backend)
    logical = transpiled.logical_two_qubit_gates
    layout = tuple(isa.layout.initial_index_layout(filter_ancillas=True)) if isa.layout else ()
    return ResourceReport(
        backend=transpiled.backend_name,
        profile=transpiled.profile.name,
        num_qubits=len(layout) or isa.num_qubits,
        layout=layout,
        physical_qubits=tuple(_active_qubits(isa)),
        depth=isa.depth(),
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
    )


def _observables_to_json(observables: Iterable[SparsePauliOp]) -> list[list[list[Any]]]:
    return [[[label, float(c.real)] for label, c in obs.to_list()] for obs in observables]


def save_isa(
    transpiled: TranspiledModel, path: str | os.PathLike, metadata: Mapping[str, Any] | None = None
) -> tuple[Path, Path]:
    """Write the ISA circuit as QPY (``path``) and a JSON sidecar (``path`` + ``.json``).

    The sidecar holds the backend, the profile, the mapped observables (Pauli labels and
    coefficients) and ``metadata``. The QPY file keeps the circuit's layout.

    Returns:
        The QPY path and the sidecar path.
    """
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        qpy.dump(transpiled.circuit, handle)
    sidecar = path.with_name(path.name + ".json")
    info = {
        "backend": transpiled.backend_name,
        "profile": asdict(transpiled.profile),
        "logical_two_qubit_gates": transpiled.logical_two_qubit_gates,
        "observables": _observables_to_json(transpiled.observables),
        **dict(metadata or {}),
    }
    sidecar.write_text(json.dumps(info, indent=2) + "\n")
    return path, sidecar


def load_isa(path: str | os.PathLike) -> tuple[TranspiledModel, dict[str, Any]]:
    """Read what :func:`save_isa` wrote.

    Returns:
        The transpiled model and the sidecar dict.
    """
    path = Path(path).expanduser()
    sidecar = path.with_name(path.name + ".json")
    if not path.is_file() or not sidecar.is_file():
        raise TranspileError(f"{path} (and its {sidecar.name}) is not a saved ISA circuit")
    with open(path, "rb") as handle:
        (circuit,) = qpy.load(handle)
    info = json.loads(sidecar.read_text())
    observables = tuple(
        SparsePauliOp.from_list([(label, coeff) for label, coeff in obs])
        for obs in info["observables"]
    )
    profile = TranspileProfile(**info["profile"])
    transpiled = TranspiledModel(
        circuit, observables, info["backend"], profile, info["logical_two_qubit_gates"]
    )
    return transpiled, info


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


def load_model_or_run(source: str | os.PathLike) -> tuple[CompiledModel, Any]:
    """A SPEC|RUN argument: a directory with ``spec.toml`` is a run, else a spec or preset.

    Returns:
        ``(model, run)``; ``run`` is a :class:`~qmoe_qiskit.training.LoadedRun` or None.
    """
    path = Path(source).expanduser()
    if path.is_dir() and (path / "spec.toml").is_file():
        from .training import load_run

        run = load_run(path)
        return run.model, run
    from .compiler import compile_model

    return compile_model(str(source)), None
