"""Fake IBM backends by name: the one lookup every command and study uses."""

from __future__ import annotations

from typing import Any

from ..errors import TranspileError

__all__ = ["fake_backend_names", "get_fake_backend"]


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
    import difflib

    names = fake_backend_names()
    close = difflib.get_close_matches(f"fake_{key}", names, n=3, cutoff=0.6)
    hint = f"did you mean {' or '.join(close)}?" if close else "--backend all-fake tries them all"
    raise TranspileError(f"no fake backend named {name!r} ({len(names)} exist); {hint}")
