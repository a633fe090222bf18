"""ISA circuits saved as QPY with their mapped observables and profile (JSON beside)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from qiskit import qpy
from qiskit.quantum_info import SparsePauliOp

from ..errors import TranspileError
from ..files import atomic_write, write_json
from .transpile import TranspiledModel, TranspileProfile

__all__ = ["load_isa", "save_isa"]


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
    atomic_write(path, lambda p: _dump_qpy(transpiled.circuit, p))
    sidecar = path.with_name(path.name + ".json")
    info = {
        "backend": transpiled.backend_name,
        "profile": asdict(transpiled.profile),
        "logical_two_qubit_gates": transpiled.logical_two_qubit_gates,
        "observables": _observables_to_json(transpiled.observables),
        **dict(metadata or {}),
    }
    write_json(sidecar, info)
    return path, sidecar


def _dump_qpy(circuit, path: Path) -> None:
    with open(path, "wb") as handle:
        qpy.dump(circuit, handle)


def load_isa(path: str | os.PathLike) -> tuple[TranspiledModel, dict[str, Any]]:
    """Read what :func:`save_isa` wrote.

    Returns:
        The transpiled model and the sidecar dict.
    """
    path = Path(path).expanduser()
    sidecar = path.with_name(path.name + ".json")
    if not path.is_file() or not sidecar.is_file():
        raise TranspileError(f"{path} (and its {sidecar.name}) is not a saved ISA circuit")
    try:
        with open(path, "rb") as handle:
            (circuit,) = qpy.load(handle)
    except Exception as exc:  # noqa: BLE001 - QPY raises many kinds on a damaged file
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise TranspileError(f"{path} is not a readable QPY circuit: {reason}") from None
    try:
        info = json.loads(sidecar.read_text())
        observables = tuple(
            SparsePauliOp.from_list([(label, coeff) for label, coeff in obs])
            for obs in info["observables"]
        )
        profile = TranspileProfile(**info["profile"])
        transpiled = TranspiledModel(
            circuit, observables, info["backend"], profile, info["logical_two_qubit_gates"]
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise TranspileError(f"{sidecar} cannot be read: {exc}") from None
    return transpiled, info
