"""Export a compiled or trained model's circuit as OpenQASM 3, OpenQASM 2 or QPY.

A hybrid model exports its router circuit (its classical experts are not a circuit); a model
without a circuit cannot be exported. Every export is flattened first to
:data:`~qmoe_qiskit.models.BASIS_GATES` (all in
``stdgates.inc`` and ``qelib1.inc``), so no custom gate definitions are written: Qiskit's
OpenQASM 3 importer can swap parameters inside custom gate definitions.

OpenQASM 3 keeps free parameters as ``input float[64] NAME;``. Our names (``x[3]``,
``expert0[5]``) are not OpenQASM identifiers, so they are renamed to ``x_3``, ``expert0_5`` before
export, and a JSON map ``{exported name: our name}`` is written next to the file
(``FILE.params.json``). OpenQASM 2 has no free parameters: every parameter must be bound (a
trained run's weights plus one input vector).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from qiskit import QuantumCircuit, qasm2, qasm3, qpy, transpile
from qiskit.circuit import Parameter

from .circuits import is_dynamic
from .errors import ExportError
from .files import atomic_write, write_json
from .models import BASIS_GATES, Model, circuit_of

__all__ = [
    "FORMATS",
    "ExportError",
    "ExportResult",
    "export_circuit",
    "export_model",
    "flatten",
    "qasm_name",
    "rename_parameters",
]

#: Export formats.
FORMATS = ("qasm3", "qasm2", "qpy")
_IDENT = re.compile(r"[^A-Za-z0-9_]")


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_circuit` wrote.

    Attributes:
        path: The exported file.
        format: ``qasm3``, ``qasm2`` or ``qpy``.
        map_path: The JSON parameter map (qasm3 with free parameters), else None.
        parameter_map: Exported name -> our parameter name.
        num_qubits: Circuit width.
        free_parameters: Parameters left unbound.
    """

    path: Path
    format: str
    map_path: Path | None
    parameter_map: Mapping[str, str]
    num_qubits: int
    free_parameters: int


def qasm_name(name: str) -> str:
    """An OpenQASM identifier for a parameter name: ``x[3]`` -> ``x_3``."""
    out = _IDENT.sub("_", name.replace("]", "")).strip("_") or "p"
    return out if not out[0].isdigit() else f"p_{out}"


def rename_parameters(circuit: QuantumCircuit) -> tuple[QuantumCircuit, dict[str, str]]:
    """Rename free parameters to OpenQASM identifiers.

    Returns:
        The renamed circuit and ``{new name: old name}``.

    Raises:
        ExportError: If two names collide after renaming.
    """
    mapping: dict[str, str] = {}
    replace: dict[Parameter, Parameter] = {}
    for param in circuit.parameters:
        new = qasm_name(param.name)
        if new in mapping:
            raise ExportError(f"parameters {mapping[new]!r} and {param.name!r} both map to {new!r}")
        mapping[new] = param.name
        replace[param] = Parameter(new)
    return circuit.assign_parameters(replace), mapping


def flatten(circuit: QuantumCircuit, basis: Sequence[str] = BASIS_GATES) -> QuantumCircuit:
    """The circuit decomposed to ``basis`` (no layout or routing; parameters kept)."""
    return transpile(circuit, basis_gates=list(basis), optimization_level=0)


def export_circuit(
    circuit: QuantumCircuit,
    path: str | os.PathLike,
    fmt: str,
    *,
    basis: Sequence[str] | None = BASIS_GATES,
) -> ExportResult:
    """Write ``circuit`` to ``path`` in ``fmt`` after flattening it to ``basis``.

    Args:
        circuit: Any circuit (custom gates are flattened).
        path: Output file.
        fmt: One of :data:`FORMATS`.
        basis: Flatten to this basis first (None: export as is, e.g. an ISA circuit).

    Raises:
        ExportError: Unknown format, or OpenQASM 2 with free parameters.
    """
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    path = Path(path).expanduser()
    if not path.parent.is_dir():
        raise ExportError(f"directory {path.parent} does not exist: create it first")
    flat = flatten(circuit, basis) if basis is not None else circuit
    mapping: dict[str, str] = {}
    map_path = None
    if fmt == "qasm2" and is_dynamic(flat):
        raise ExportError(
            "OpenQASM 2 cannot hold mid-circuit feed-forward (routing.execution = 'measured'): "
            "use qasm3 or qpy"
        )
    if fmt == "qasm2" and flat.num_parameters:
        raise ExportError(
            f"OpenQASM 2 cannot hold free parameters ({flat.num_parameters} left, e.g. "
            f"{flat.parameters[0].name!r}): export a trained run with --input, or use qasm3/qpy"
        )
    if fmt == "qasm3":
        flat, mapping = rename_parameters(flat)
        text = qasm3.dumps(flat) + "\n"
        atomic_write(path, lambda p: p.write_text(text))
        if mapping:
            map_path = path.with_name(path.name + ".params.json")
            write_json(map_path, mapping)
    elif fmt == "qasm2":
        text = qasm2.dumps(flat) + "\n"
        atomic_write(path, lambda p: p.write_text(text))
    else:

        def dump(target: Path) -> None:
            with open(target, "wb") as handle:
                qpy.dump(flat, handle)

        atomic_write(path, dump)
    return ExportResult(path, fmt, map_path, mapping, flat.num_qubits, flat.num_parameters)


def export_model(
    model: Model,
    path: str | os.PathLike,
    fmt: str,
    *,
    weights: Any | None = None,
    inputs: Any | None = None,
    circuit: QuantumCircuit | None = None,
) -> ExportResult:
    """Export a compiled model, optionally with weights and/or one input vector bound.

    Args:
        model: The compiled model (its ``circuit_model``'s ``execution_circuit`` is exported:
            with ``routing.execution = "measured"`` the dynamic circuit, OpenQASM 3 or QPY).
        path: Output file (its directory must exist).
        fmt: One of :data:`FORMATS`.
        weights: The model's flat weights (a trained run's); the circuit's part is bound.
        inputs: One input vector in ``model.input_params`` order.
        circuit: Export this circuit instead of the model's (e.g. an ISA circuit, which is then
            written without re-flattening).

    Raises:
        NoCircuitError: The model has no circuit.
        ExportError: Unknown format, a missing directory, or OpenQASM 2 with free parameters.
    """
    program = circuit_of(model)
    values: dict[Parameter, float] = {}
    if weights is not None:
        bound = model.circuit_weights(np.asarray(weights, dtype=float))
        values.update(zip(program.weight_params, bound, strict=True))
    if inputs is not None:
        values.update(zip(program.input_params, np.asarray(inputs, dtype=float), strict=True))
    source = program.execution_circuit if circuit is None else circuit
    if values:
        by_name = {p.name: v for p, v in values.items()}
        source = source.assign_parameters(
            {p: by_name[p.name] for p in source.parameters if p.name in by_name}
        )
    basis: Sequence[str] | None = BASIS_GATES
    if circuit is not None:  # an ISA circuit: written as is
        basis = None
    elif program.dynamic_circuit is not None:
        basis = (*BASIS_GATES, "measure", "if_else")
    return export_circuit(source, path, fmt, basis=basis)
