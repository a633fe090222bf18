"""Job statuses and retries of transient service errors with exponential backoff."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from .redact import scrub

__all__ = [
    "FINAL_STATUSES",
    "STATUSES",
    "is_transient",
    "normalize_status",
    "safe_status",
    "with_retries",
]

#: Normalised job statuses (ours first, then the service's, lower case).
STATUSES = (
    "submitting",
    "submit_failed",
    "lost",
    "initializing",
    "queued",
    "validating",
    "running",
    "done",
    "error",
    "cancelled",
    "unknown",
)


#: Statuses after which nothing changes.
FINAL_STATUSES = frozenset({"submit_failed", "lost", "done", "error", "cancelled"})


_TRANSIENT_HTTP = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


def normalize_status(status: Any) -> str:
    """A job status (local ``JobStatus`` enum or real job string) as one of :data:`STATUSES`."""
    name = getattr(status, "name", None) or str(status)
    name = name.strip().lower().removeprefix("jobstatus.")
    if name.startswith("cancelled"):  # "CANCELLED - RAN TOO LONG"
        return "cancelled"
    if name in ("completed", "finished"):
        return "done"
    if name in ("failed",):
        return "error"
    return name if name in STATUSES else "unknown"


def is_transient(exc: BaseException) -> bool:
    """Whether an error is worth retrying (network trouble, HTTP 408/429/5xx)."""
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    try:
        import requests

        if isinstance(exc, (requests.ConnectionError, requests.Timeout)):
            return True
    except ImportError:  # pragma: no cover
        pass
    status = getattr(exc, "status_code", None)
    if isinstance(status, int) and status in _TRANSIENT_HTTP:
        return True
    cause = exc.__cause__ or exc.__context__
    return cause is not None and cause is not exc and is_transient(cause)


def with_retries(
    fn: Callable[[], Any],
    *,
    attempts: int = 4,
    base_delay: float = 1.0,
    max_delay: float = 30.0,
    transient: Callable[[BaseException], bool] = is_transient,
    before_retry: Callable[[], Any] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    log: Callable[[str], None] | None = None,
) -> Any:
    """Call ``fn``; on a transient error wait ``base_delay * 2**k`` (capped) and try again.

    Args:
        fn: The call.
        attempts: Total tries.
        base_delay: First wait (s).
        max_delay: Longest wait (s).
        transient: Which errors to retry; others propagate at once.
        before_retry: Called before each retry; a non-None return value is returned instead of
            retrying (used to find a job that was created although the response was lost).
        sleep: Sleep function (tests pass a fake).
        log: Where to report retries.
    """
    for attempt in range(attempts):
        try:
            return fn()
        except Exception as exc:
            if attempt == attempts - 1 or not transient(exc):
                raise
            delay = min(max_delay, base_delay * 2**attempt)
            if log:
                log(f"transient error ({scrub(type(exc).__name__)}); retry in {delay:.1f} s")
            sleep(delay)
            if before_retry is not None:
                found = before_retry()
                if found is not None:
                    return found
    raise AssertionError("unreachable")  # pragma: no cover


def safe_status(job: Any) -> Any:
    """``job.status()``, or ``"unknown"`` when even that fails."""
    try:
        return job.status()
    except Exception:
        return "unknown"
