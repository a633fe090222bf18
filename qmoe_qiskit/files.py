"""Writing files so that a crash never leaves a half-written one.

:func:`atomic_write` writes into a new temporary file in the target's directory (created with
``O_EXCL``, so it never follows a planted link), flushes it to disk, and renames it over the
target. A rename replaces the directory entry itself: a symlink at the target is replaced, its
destination untouched.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import DamagedFileError

__all__ = ["atomic_write", "read_json", "write_json"]


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # a platform without directory handles
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Write ``path`` through a temporary file in the same directory, then rename over it.

    Args:
        path: The file to write.
        write: Writes the content to the path it is given (the temporary file).
    """
    path = Path(path)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        fd = os.open(tmp_path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp_path, path)
        _fsync_dir(path.parent)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_json(path: Path, data: object) -> None:
    """Write ``data`` as indented JSON, atomically."""
    atomic_write(path, lambda p: p.write_text(json.dumps(data, indent=2) + "\n"))


def read_json(path: Path) -> Any:
    """Parse a JSON file written earlier; it is untrusted input (it may be truncated, damaged
    or hand-edited), so any failure is one :class:`~qmoe_qiskit.errors.DamagedFileError` line.

    Raises:
        DamagedFileError: The file cannot be read, is not UTF-8 or is not JSON.
    """
    try:
        return json.loads(Path(path).read_bytes().decode("utf-8"))
    except OSError as exc:
        raise DamagedFileError(f"{path} cannot be read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise DamagedFileError(f"{path} is damaged: not UTF-8 text") from None
    except ValueError as exc:
        raise DamagedFileError(f"{path} is damaged (not JSON: {exc})") from None
