"""Checkpoint files that hold data only: reading one never runs code.

A checkpoint is written with :func:`torch.save` and read with ``torch.load(weights_only=True)``,
whose unpickler builds tensors, dicts, lists, tuples, strings and numbers and refuses every
other global. Numpy arrays are stored as tensors inside a one-key tag ``{"__numpy__": tensor}``
so that they come back as arrays; numpy scalars are stored as Python numbers.

Checkpoints written before this format pickled numpy arrays (and, for Quantum-Train studies,
:class:`~qmoe_qiskit.training.loop.FitState` objects). Reading one is refused like any other
file that names a global; :func:`convert_legacy_checkpoint` (``qmoe convert-checkpoint``)
rewrites it once, trusting only the globals listed in :data:`LEGACY_GLOBALS`.
"""

from __future__ import annotations

import dataclasses
import pickle
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from numpy._core import multiarray as _multiarray

from ..errors import TrainingError
from ..files import atomic_write
from .loop import FitState

__all__ = [
    "LEGACY_GLOBALS",
    "convert_legacy_checkpoint",
    "load_checkpoint",
    "save_checkpoint",
    "unsafe_globals",
]

_NUMPY_TAG = "__numpy__"

#: What :func:`convert_legacy_checkpoint` trusts: numpy's array and scalar reconstruction
#: (under the numpy 1 and numpy 2 module names) and the project's own ``FitState`` dataclass.
#: These build data; none of them calls anything a file names.
LEGACY_GLOBALS: Mapping[str, object] = {
    f"{module}.{name}": obj
    for module in ("numpy.core.multiarray", "numpy._core.multiarray")
    for name, obj in (
        ("_reconstruct", _multiarray._reconstruct),
        ("scalar", _multiarray.scalar),
    )
} | {
    "numpy.ndarray": np.ndarray,
    "numpy.dtype": np.dtype,
    "qmoe_qiskit.training.loop.FitState": FitState,
}

#: Numpy's dtype classes (set on a dtype as it is rebuilt), object arrays' excepted.
_DTYPE_CLASSES = [
    getattr(np.dtypes, name)
    for name in dir(np.dtypes)
    if name.endswith("DType") and name != "ObjectDType"
]


def _encode(value: object) -> object:
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            raise TypeError("a checkpoint cannot hold a numpy array of Python objects")
        return {_NUMPY_TAG: torch.from_numpy(np.ascontiguousarray(value).copy())}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, FitState):
        value = dataclasses.asdict(value)
    if isinstance(value, Mapping):
        return {key: _encode(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_encode(item) for item in value)
    return value


def _decode(value: object) -> object:
    if isinstance(value, dict):
        if len(value) == 1 and isinstance(value.get(_NUMPY_TAG), torch.Tensor):
            return value[_NUMPY_TAG].numpy()
        return {key: _decode(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_decode(item) for item in value)
    return value


def save_checkpoint(path: str | Path, state: Mapping[str, object] | FitState) -> None:
    """Write ``state`` atomically as a data-only checkpoint.

    Args:
        path: The file to write (replaced by a rename; a crash leaves the old file).
        state: Plain data: dicts, lists, tuples, strings, numbers, ``None``, tensors, numpy
            arrays and scalars, or a :class:`FitState` (stored as its fields).
    """
    payload = _encode(state)
    atomic_write(Path(path), lambda p: torch.save(payload, p))


def unsafe_globals(path: str | Path) -> list[str]:
    """The globals (classes, functions) a checkpoint's pickle names beyond plain data.

    Read from the pickle's opcodes without unpickling anything.
    """
    return list(torch.serialization.get_unsafe_globals_in_checkpoint(Path(path)))


def _unreadable(path: Path, exc: BaseException) -> TrainingError:
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, RuntimeError) and "zip archive" in reason:
        reason = "truncated or not a torch checkpoint"
    return TrainingError(f"{path} cannot be read: {reason}")


def load_checkpoint(path: str | Path) -> dict:
    """Read a checkpoint written by :func:`save_checkpoint`, running no code.

    Args:
        path: The checkpoint file.

    Returns:
        Its state, numpy arrays restored.

    Raises:
        TrainingError: In one line, if the file is missing, truncated or not a checkpoint, if it
            was written by an earlier version (with how to convert it), or if its pickle names
            any global beyond plain data (nothing in it is run).
    """
    path = Path(path)
    try:
        state = torch.load(path, weights_only=True, map_location="cpu")
    except pickle.UnpicklingError:
        try:
            names = unsafe_globals(path)
        except Exception as exc:  # noqa: BLE001 - any failure to read is one line
            raise _unreadable(path, exc) from None
        if names and set(names) <= set(LEGACY_GLOBALS):
            raise TrainingError(
                f"{path} was written by an earlier qmoe-qiskit (numpy objects pickled inside); "
                f"convert it once with: qmoe convert-checkpoint {path}"
            ) from None
        shown = ", ".join(sorted(names)) or "objects beyond plain data"
        raise TrainingError(
            f"{path} is refused: its pickle names {shown} (code, not data); nothing in it was run"
        ) from None
    except (OSError, RuntimeError, EOFError, ValueError) as exc:
        raise _unreadable(path, exc) from None
    decoded = _decode(state)
    if not isinstance(decoded, dict):  # also a lone tagged numpy array
        kind = type(decoded).__name__
        raise TrainingError(f"{path} cannot be read: it holds a {kind}, not a dict")
    return decoded


def convert_legacy_checkpoint(path: str | Path) -> bool:
    """Rewrite an earlier version's checkpoint in the data-only format, once.

    The old file is read with ``weights_only=True`` and only :data:`LEGACY_GLOBALS` allowed,
    so a file naming anything else is refused and nothing in it runs.

    Args:
        path: The checkpoint file.

    Returns:
        ``True`` if it was converted, ``False`` if it already was data-only.

    Raises:
        TrainingError: If it cannot be read or names a global outside :data:`LEGACY_GLOBALS`.
    """
    path = Path(path)
    try:
        names = unsafe_globals(path)
    except Exception as exc:  # noqa: BLE001 - any failure to read is one line
        raise _unreadable(path, exc) from None
    if not names:
        load_checkpoint(path)  # checks it is readable
        return False
    foreign = sorted(set(names) - set(LEGACY_GLOBALS))
    if foreign:
        raise TrainingError(
            f"{path} is refused: its pickle names {', '.join(foreign)}, which the conversion "
            "does not trust (it trusts only numpy arrays and scalars and FitState)"
        )
    allowed = [(obj, name) for name, obj in LEGACY_GLOBALS.items()] + _DTYPE_CLASSES
    try:
        with torch.serialization.safe_globals(allowed):
            state = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as exc:  # noqa: BLE001 - any failure to read is one line
        raise _unreadable(path, exc) from None
    if not isinstance(state, dict | FitState):
        raise TrainingError(f"{path} cannot be read: it holds a {type(state).__name__}, not a dict")
    save_checkpoint(path, state)
    return True
