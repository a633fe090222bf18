"""Transpile a compiled QMoE for an IBM backend: named profiles, ISA circuits, cost reports.

Profiles are TOML files holding keyword arguments of
:func:`qiskit.transpiler.generate_preset_pass_manager` (``optimization_level``,
``layout_method``, ``routing_method``, ``translation_method``, ``seed_transpiler``,
``approximation_degree``) plus a ``description``. They are looked up, first match wins, in
``$QMOE_TRANSPILE_DIR``, the repository's ``transpile/`` directory (a source checkout) and the
copies shipped inside the package (``qmoe_qiskit/transpile_profiles/``, package data).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qiskit import QuantumCircuit
from qiskit.quantum_info import SparsePauliOp
from qiskit.transpiler import generate_preset_pass_manager

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
    model: Model, backend: Any, profile: TranspileProfile | str = "default"
) -> TranspiledModel:
    """Transpile the model's circuit for ``backend`` and map its observables.

    The circuit is the model's :attr:`~qmoe_qiskit.models.CompiledModel.execution_circuit`:
    with ``routing.execution = "measured"`` the dynamic circuit (mid-circuit measurement and
    feed-forward), which needs a backend whose target has ``if_else``.

    Args:
        model: The compiled model (any family with a circuit; a hybrid model's router
            circuit).
        backend: A BackendV2 (fake or real).
        profile: A profile or profile name.

    Returns:
        The ISA circuit (parameters unbound) with mapped observables.

    Raises:
        NoCircuitError: The model has no circuit.
        TranspileError: The backend is too small, or runs no dynamic circuit that the model
            needs.
    """
    program = circuit_of(model)
    if not isinstance(profile, TranspileProfile):
        profile = load_profile(profile)
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
    isa = profile.pass_manager(backend).run(circuit)
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
