"""Secret redaction: every message that leaves the hardware wing goes through :func:`scrub`."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

__all__ = ["SECRET_ENV", "scrub"]

#: Environment variables that may hold a secret.
SECRET_ENV = ("QISKIT_IBM_TOKEN", "IBM_QUANTUM_TOKEN", "QISKIT_IBM_API_KEY")


#: What a credential looks like in a message: a whole word ``token``, ``api_key`` (and
#: spellings; ``QISKIT_IBM_TOKEN`` too) followed by ``:`` or ``=`` and a value, or ``Bearer``
#: and a value. A word that
#: merely contains "token" (a run directory ``runs/tokenizers-v2``) is left alone.
_TOKEN_PATTERNS = (
    re.compile(
        r"(?i)((?:\b|_)(?:token|apikey|api_key|api-key|authorization)\b[\"']?\s*[:=]\s*[\"']?"
        r"(?:bearer\s+)?)[A-Za-z0-9_\-\.]{8,}"
    ),
    re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9_\-\.]{8,}"),
)


def scrub(text: str, secrets: Sequence[str] = ()) -> str:
    """``text`` with credentials replaced by ``***``.

    Removes the values of :data:`SECRET_ENV`, any ``secrets`` given, the token of a saved
    account is never read here (it never reaches our messages), and anything that looks like
    ``token=...``/``Bearer ...``.
    """
    values = [os.environ.get(name, "") for name in SECRET_ENV] + list(secrets)
    for value in values:
        if value and len(value) >= 4:
            text = text.replace(value, "***")
    for pattern in _TOKEN_PATTERNS:
        text = pattern.sub(r"\1***", text)
    return text
