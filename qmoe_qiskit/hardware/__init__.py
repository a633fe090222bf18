"""Hardware: transpile for IBM backends, price the QPU time, submit through Runtime, track jobs.

Functions here take a compiled model and its weights, never a run directory (the command line
loads runs). One execution path serves local fake backends and real ones; the mode is decided
by the backend name (:func:`open_backend`).

- :mod:`.backends`: fake backends by name;
- :mod:`.transpile`: profiles and :func:`transpile_model`; :mod:`.report`: resources, QPU time;
  :mod:`.isa`: ISA circuits as QPY;
- :mod:`.noise`: noisy evaluation on Aer with a fake backend's noise model (exact);
  :mod:`.sampled`: the same from shots, static and dynamic circuits alike;
- :mod:`.primitives`: qiskit-ibm-runtime's executor-based Estimator/Sampler, error-mitigation
  choices, pricing of a prepared PUB;
- :mod:`.service`: the Runtime service and backends; :mod:`.submit`: evaluation jobs;
  :mod:`.jobs`: job lifecycle; :mod:`.ledger`: the job ledger; :mod:`.retry`: statuses and
  retries; :mod:`.redact`: secrets removed from every message.
"""

from .backends import fake_backend_names, get_fake_backend
from .isa import load_isa, save_isa
from .jobs import (
    LOCAL_JOB_MESSAGE,
    Recovered,
    cancel_job,
    fetch_job,
    recover_jobs,
    refresh_status,
)
from .ledger import JobRecord, Ledger
from .noise import NoisyEvaluation, noisy_accuracy
from .redact import scrub
from .report import ResourceReport, format_table, resource_report
from .sampled import SampledEvaluation, sampled_accuracy
from .service import (
    BackendHandle,
    as_backend_handle,
    credentials_available,
    make_service,
    open_backend,
)
from .submit import PRIMITIVES, Submission, parameter_table, sha256_hex, submit_evaluation
from .transpile import (
    TranspiledModel,
    TranspileProfile,
    available_profiles,
    circuit_of,
    load_profile,
    transpile_model,
)

__all__ = [
    "LOCAL_JOB_MESSAGE",
    "Recovered",
    "PRIMITIVES",
    "BackendHandle",
    "JobRecord",
    "Ledger",
    "NoisyEvaluation",
    "ResourceReport",
    "SampledEvaluation",
    "Submission",
    "TranspileProfile",
    "TranspiledModel",
    "as_backend_handle",
    "available_profiles",
    "cancel_job",
    "circuit_of",
    "credentials_available",
    "fake_backend_names",
    "fetch_job",
    "format_table",
    "get_fake_backend",
    "load_isa",
    "load_profile",
    "make_service",
    "noisy_accuracy",
    "open_backend",
    "parameter_table",
    "sampled_accuracy",
    "recover_jobs",
    "refresh_status",
    "resource_report",
    "save_isa",
    "scrub",
    "sha256_hex",
    "submit_evaluation",
    "transpile_model",
]
