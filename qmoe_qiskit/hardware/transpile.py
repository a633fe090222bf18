"""Transpile a compiled QMoE for an IBM backend: named profiles, ISA circuits, cost reports.

Profiles are TOML files holding keyword arguments of
:func:`qiskit.transpiler.generate_preset_pass_manager` (``optimization_level``,
``layout_method``, ``routing_method``, ``translation_method``, ``seed_transpiler``,
``approximation_degree``) plus a ``description``. They are looked up, first match wins, in
``$QMOE_TRANSPILE_DIR``, the repository's ``transpile/`` directory (a source checkout) and the
copies shipped inside the package (``qmoe_qiskit/transpile_profiles/``, package data).
:func:`transpile_model` also takes a user-built ``PassManager`` (or ``StagedPassManager``, e.g.
from ``generate_preset_pass_manager``) instead of a profile.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qiskit import QuantumCircuit
from qiskit.quantum_info import SparsePauliOp
from qiskit.transpiler import PassManager, TranspilerError, generate_preset_pass_manager
from qiskit.transpiler.passmanager import BasePassManager

from ..errors import TranspileError
from ..models import Model, circuit_of

__all__ = [
    "PROFILE_KEYS",
    "TranspileProfile",
    "TranspiledModel",
    "available_profiles",
    "circuit_of",
    "load_profile",
    "profile_dirs",
    "transpile_model",
]

#: Keys a profile may set (passed to ``generate_preset_pass_manager``).
PROFILE_KEYS = (
    "optimization_level",
    "layout_method",
    "routing_method",
    "translation_method",
    "seed_transpiler",
    "approximation_degree",
)


_PACKAGE_PROFILES = Path(__file__).resolve().parents[1] / "transpile_profiles"


_REPO_PROFILES = Path(__file__).resolve().parents[2] / "transpile"


@dataclass(frozen=True)
class TranspileProfile:
    """A named set of preset-pass-manager options.

    Attributes:
        name: Profile name (file stem; ``"custom"`` for a user-built pass manager).
        description: One line for humans.
        optimization_level: 0-3 (None: not known, for a user-built pass manager).
        layout_method: Layout stage plugin (``sabre``, ``dense``, ``trivial``, ...) or None.
        routing_method: Routing stage plugin (``sabre``, ``basic``, ``lookahead``, ...) or None.
        translation_method: Translation stage plugin or None.
        seed_transpiler: Seed of the stochastic passes.
        approximation_degree: 1.0 exact synthesis; below 1.0 allows approximation.
        source: File the profile was read from (None for one built in code).
    """

    name: str
    description: str = ""
    optimization_level: int | None = 2
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


@dataclass(frozen=True, eq=False)
class TranspiledModel:
    """An ISA circuit of a compiled model and its observables mapped onto the device.

    Attributes:
        circuit: The ISA circuit (device-wide, parameters unbound).
        observables: The class observables after ``apply_layout(circuit.layout)``.
        backend_name: Backend it was transpiled for.
        profile: Profile used.
        logical_two_qubit_gates: Two-qubit gates of the logical circuit decomposed to
            :data:`~qmoe_qiskit.models.BASIS_GATES` (no routing); for a dynamic circuit, those
            of its costliest shot.
    """

    circuit: QuantumCircuit
    observables: tuple[SparsePauliOp, ...]
    backend_name: str
    profile: TranspileProfile
    logical_two_qubit_gates: int


def transpile_model(
    model: Model,
    backend: Any,
    profile: TranspileProfile | str | os.PathLike | PassManager = "default",
) -> TranspiledModel:
    """Transpile the model's circuit for ``backend`` and map its observables.

    The circuit is the model's :attr:`~qmoe_qiskit.models.CompiledModel.execution_circuit`:
    with ``routing.execution = "measured"`` the dynamic circuit (mid-circuit measurement and
    feed-forward), which needs a backend whose target has ``if_else``.

    Example, with a pass manager of your own::

        pm = generate_preset_pass_manager(optimization_level=3, backend=backend)
        isa = transpile_model(model, backend, pm)  # isa.circuit, isa.observables

    Args:
        model: The compiled model (any family with a circuit; a hybrid model's router
            circuit).
        backend: A BackendV2 (fake or real).
        profile: A profile, a profile name or ``.toml`` path (see :func:`load_profile`), or a
            ``qiskit.transpiler.PassManager`` / ``StagedPassManager`` built for ``backend``
            (recorded as the profile ``"custom"``; its output must be an ISA circuit of
            ``backend``).

    Returns:
        The ISA circuit (parameters unbound) with mapped observables.

    Raises:
        NoCircuitError: The model has no circuit.
        TranspileError: The backend is too small, runs no dynamic circuit that the model
            needs, the pass manager fails or gives a circuit that is not ISA for
            ``backend``, or ``profile`` is none of the above.
    """
    program = circuit_of(model)
    pass_manager: BasePassManager | None = None
    if isinstance(profile, BasePassManager):
        pass_manager = profile
        profile = TranspileProfile(
            name="custom",
            description=f"a user-built {type(pass_manager).__name__}",
            optimization_level=None,
            seed_transpiler=None,
        )
    elif isinstance(profile, str | os.PathLike):
        profile = load_profile(profile)
    elif not isinstance(profile, TranspileProfile):
        raise TranspileError(
            "profile must be a profile name, a TranspileProfile or a qiskit PassManager, got "
            f"{type(profile).__name__}"
        )
    if backend.num_qubits < program.num_qubits:
        raise TranspileError(
            f"{backend.name} has {backend.num_qubits} qubits; the model needs {program.num_qubits}"
        )
    circuit = program.execution_circuit
    if program.dynamic_circuit is not None and "if_else" not in backend.target.operation_names:
        raise TranspileError(
            f"{backend.name} does not run dynamic circuits (no if_else in its target); "
            "routing.execution = 'measured' needs one: use 'coherent'"
        )
    user_built = pass_manager is not None
    try:
        if pass_manager is None:
            pass_manager = profile.pass_manager(backend)
        isa = pass_manager.run(circuit)
    except TranspilerError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TranspileError(f"transpiling for {backend.name} failed: {first}") from None
    if user_built:
        _check_isa(isa, backend)
    observables = tuple(obs.apply_layout(isa.layout) for obs in program.observables)
    summary = program.summary()
    logical = summary.get("measured_two_qubit_gates", summary["two_qubit_gates"])
    return TranspiledModel(
        circuit=isa,
        observables=observables,
        backend_name=backend.name,
        profile=profile,
        logical_two_qubit_gates=int(logical),
    )


def _check_isa(circuit: QuantumCircuit, backend: Any) -> None:
    """Refuse a circuit with an instruction that ``backend``'s target does not support."""
    target = backend.target
    if circuit.num_qubits > backend.num_qubits:
        raise TranspileError(
            f"the pass manager gave a {circuit.num_qubits}-qubit circuit; {backend.name} has "
            f"{backend.num_qubits} qubits"
        )
    for inst in circuit.data:
        name = inst.operation.name
        if name == "barrier":
            continue
        qargs = tuple(circuit.find_bit(q).index for q in inst.qubits)
        if not target.instruction_supported(name, qargs):
            raise TranspileError(
                f"the pass manager's circuit is not ISA for {backend.name}: {name} on qubits "
                f"{list(qargs)} is not in its target (build the pass manager for this backend)"
            )
