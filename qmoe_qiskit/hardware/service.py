"""The Runtime service and backends: ``fake_*`` (local testing mode) or a real IBM backend."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from ..errors import HardwareError, RuntimeFailure
from .backends import get_fake_backend
from .redact import SECRET_ENV, scrub
from .retry import with_retries

__all__ = [
    "BackendHandle",
    "as_backend_handle",
    "credentials_available",
    "make_service",
    "open_backend",
]


def credentials_available() -> bool:
    """Whether an IBM Quantum account is configured (env token or saved account); no network."""
    if any(os.environ.get(name) for name in SECRET_ENV):
        return True
    try:
        from qiskit_ibm_runtime import QiskitRuntimeService

        return bool(QiskitRuntimeService.saved_accounts())
    except Exception:
        return False


def make_service(channel: str | None = None, instance: str | None = None):
    """A :class:`~qiskit_ibm_runtime.QiskitRuntimeService` from env variables or saved account.

    The token is the first set of :data:`~.redact.SECRET_ENV` (``QISKIT_IBM_TOKEN``,
    ``IBM_QUANTUM_TOKEN``, ``QISKIT_IBM_API_KEY``): every variable treated as a secret is
    honoured as one.

    Raises:
        RuntimeFailure: No account, or the service refused it (message scrubbed).
    """
    from qiskit_ibm_runtime import QiskitRuntimeService

    kwargs: dict[str, Any] = {}
    token = next((os.environ[n] for n in SECRET_ENV if os.environ.get(n)), None)
    channel = channel or os.environ.get("QISKIT_IBM_CHANNEL")
    instance = instance or os.environ.get("QISKIT_IBM_INSTANCE")
    if token:
        kwargs["token"] = token
        kwargs["channel"] = channel or "ibm_quantum_platform"
    elif channel:
        kwargs["channel"] = channel
    if instance:
        kwargs["instance"] = instance
    try:
        return with_retries(lambda: QiskitRuntimeService(**kwargs))
    except Exception as exc:
        raise RuntimeFailure(
            "cannot open the IBM Quantum service (set QISKIT_IBM_TOKEN [and QISKIT_IBM_INSTANCE] "
            f"or save an account with QiskitRuntimeService.save_account): "
            f"{type(exc).__name__}: {scrub(str(exc), [token or ''])}"
        ) from None


@dataclass(frozen=True)
class BackendHandle:
    """A backend and how to reach it.

    Attributes:
        name: Backend name.
        mode: ``local`` (fake backend, local testing mode) or ``ibm`` (real service).
        backend: The BackendV2.
        service: The runtime service (``ibm`` mode), else None.
    """

    name: str
    mode: str
    backend: Any
    service: Any = None


def open_backend(
    name: str,
    *,
    service: Any = None,
    channel: str | None = None,
    instance: str | None = None,
) -> BackendHandle:
    """A fake backend (``fake_*``: local mode) or a real one from the service (``ibm`` mode).

    Args:
        name: ``fake_fez``... or a real backend name (``ibm_fez``...).
        service: A service to use (default: :func:`make_service`).
        channel: Service channel override.
        instance: Service instance override.
    """
    if name.lower().startswith("fake"):
        backend = get_fake_backend(name)
        return BackendHandle(backend.name, "local", backend)
    service = service if service is not None else make_service(channel, instance)
    try:
        backend = with_retries(lambda: service.backend(name))
    except Exception as exc:
        raise RuntimeFailure(f"backend {name!r}: {type(exc).__name__}: {scrub(str(exc))}") from None
    return BackendHandle(name, "ibm", backend, service)


def as_backend_handle(backend: Any) -> BackendHandle:
    """A :class:`BackendHandle` for ``backend``: a handle as it is, or any ``BackendV2``.

    An ``IBMBackend`` (from a :class:`~qiskit_ibm_runtime.QiskitRuntimeService`) runs in
    ``ibm`` mode through its own service; any other BackendV2 (a fake backend of
    ``qiskit_ibm_runtime.fake_provider``, an ``AerSimulator``) in ``local`` mode, the
    Runtime primitives' local testing mode.

    Raises:
        HardwareError: ``backend`` is neither a handle nor a BackendV2.
    """
    if isinstance(backend, BackendHandle):
        return backend
    from qiskit.providers import BackendV2
    from qiskit_ibm_runtime import IBMBackend

    if not isinstance(backend, BackendV2):
        raise HardwareError(
            "expected a BackendV2 (e.g. from qiskit_ibm_runtime.fake_provider or "
            f"QiskitRuntimeService.backend) or a BackendHandle, got {type(backend).__name__}"
        )
    if isinstance(backend, IBMBackend):
        return BackendHandle(backend.name, "ibm", backend, getattr(backend, "service", None))
    return BackendHandle(backend.name, "local", backend)
