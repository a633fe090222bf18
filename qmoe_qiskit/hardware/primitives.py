"""qiskit-ibm-runtime's current primitives: build them, choose error mitigation, price a PUB.

``qmoe submit`` runs through the executor-based, client-side primitives of qiskit-ibm-runtime
(>= 0.50): :class:`qiskit_ibm_runtime.executor_estimator.Estimator` and
:class:`qiskit_ibm_runtime.executor_sampler.Sampler`. They take the same V2 PUBs as before and do
the pre- and post-processing (twirling, TREX, ZNE gate folding) on this machine, then send one
:class:`~qiskit_ibm_runtime.quantum_program.QuantumProgram` through the
:class:`~qiskit_ibm_runtime.Executor`. With a fake backend as the mode they run in local
testing mode (Aer with the backend's noise); inside a :class:`~qiskit_ibm_runtime.Batch` on a
real backend, as Runtime jobs.

Pricing (:func:`price_pub`) runs the primitive's own client-side preparation, exactly what
``run`` would send, without sending anything: the circuits after mitigation (twirling
randomizations, TREX calibration circuits, ZNE noise-amplified copies), the shots each, and an
estimate of QPU time from the backend's gate durations (see :mod:`~qmoe_qiskit.hardware.report`
for the formula and what it leaves out).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from qiskit.primitives.containers.estimator_pub import EstimatorPubLike
from qiskit.primitives.containers.sampler_pub import SamplerPubLike

from ..errors import HardwareError
from .report import backend_rep_delay, circuit_duration

__all__ = [
    "API",
    "DEFAULT_MITIGATION",
    "MITIGATIONS",
    "PubPrice",
    "make_primitive",
    "mitigation_settings",
    "price_pub",
]

#: Error-mitigation choices of ``qmoe submit --mitigation`` (estimator only):
#: ``none``; ``trex`` (measurement twirling + twirled readout error extinction, the
#: estimator's default resilience level 1); ``zne`` (zero-noise extrapolation by gate folding,
#: with gate twirling); ``trex+zne`` (both: resilience level 2).
MITIGATIONS = ("none", "trex", "zne", "trex+zne")

#: Mitigation when none is asked for: the estimator's own default (resilience level 1), and
#: none for the sampler's raw counts.
DEFAULT_MITIGATION = {"estimator": "trex", "sampler": "none"}

#: Ledger ``api`` value of each primitive kind.
API = {"estimator": "executor-estimator", "sampler": "executor-sampler"}


def mitigation_settings(kind: str, mitigation: str | None = None) -> dict[str, Any]:
    """The primitive options a mitigation choice sets (what the ledger records).

    Args:
        kind: ``estimator`` or ``sampler``.
        mitigation: One of :data:`MITIGATIONS`; None = :data:`DEFAULT_MITIGATION` of ``kind``.

    Raises:
        HardwareError: An unknown choice, or mitigation asked of the sampler (whose counts are
            returned raw).
    """
    if mitigation is None:
        mitigation = DEFAULT_MITIGATION.get(kind, "none")
    if mitigation not in MITIGATIONS:
        raise HardwareError(
            f"mitigation must be one of {', '.join(MITIGATIONS)}, got {mitigation!r}"
        )
    if kind == "sampler":
        if mitigation != "none":
            raise HardwareError(
                f"--mitigation {mitigation} needs the estimator: the sampler returns raw counts "
                "(use --primitive estimator, or --mitigation none)"
            )
        return {"name": "none"}
    trex = "trex" in mitigation
    zne = "zne" in mitigation
    return {
        "name": mitigation,
        "resilience_level": 0,
        "measure_mitigation": trex,
        "zne_mitigation": zne,
        "twirling_enable_measure": trex,
        "twirling_enable_gates": zne,
    }


def make_primitive(
    kind: str,
    mode: Any,
    *,
    shots: int | None = None,
    precision: float | None = None,
    mitigation: str | None = None,
    tag: str | None = None,
) -> Any:
    """An executor-based Estimator or Sampler of qiskit-ibm-runtime on ``mode``.

    Args:
        kind: ``estimator`` or ``sampler``.
        mode: A fake backend (local testing mode), a backend, or a ``Batch``/``Session``.
        shots: Shots per circuit (the estimator splits them over twirling randomizations).
        precision: Target precision (estimator); the sampler takes ``ceil(1/precision^2)``
            shots.
        mitigation: One of :data:`MITIGATIONS` (``none`` for the sampler); None = the kind's
            default (:data:`DEFAULT_MITIGATION`).
        tag: A job tag (with ``qmoe``) so a lost submission can be found again.

    Returns:
        The primitive, options set.
    """
    import math

    settings = mitigation_settings(kind, mitigation)
    if kind == "estimator":
        from qiskit_ibm_runtime.executor_estimator import Estimator

        primitive = Estimator(mode=mode)
        options = primitive.options
        options.resilience_level = settings["resilience_level"]
        options.resilience.measure_mitigation = settings["measure_mitigation"]
        options.resilience.zne_mitigation = settings["zne_mitigation"]
        options.twirling.enable_measure = settings["twirling_enable_measure"]
        options.twirling.enable_gates = settings["twirling_enable_gates"]
        if precision is not None:
            options.default_precision = precision
        if shots is not None:
            options.default_shots = shots
    elif kind == "sampler":
        from qiskit_ibm_runtime.executor_sampler import Sampler

        primitive = Sampler(mode=mode)
        options = primitive.options
        if shots is None and precision is not None:
            shots = int(math.ceil(1.0 / precision**2))
        if shots is not None:
            options.default_shots = shots
    else:
        raise HardwareError(f"primitive must be estimator or sampler, got {kind!r}")
    if tag is not None:
        options.environment.job_tags = ["qmoe", tag]
    return primitive


@dataclass(frozen=True)
class PubPrice:
    """What one PUB costs once prepared for the backend.

    Attributes:
        circuits: Circuit executions after mitigation (parameter sets x randomizations x noise
            factors, plus calibration circuits).
        shots: Shots of each of them.
        total_shots: ``circuits x shots``.
        qpu_seconds: Estimated QPU time: the sum over circuits of ``shots x (duration +
            rep_delay)``.
        missing_durations: Instructions without a duration in the backend target (0 s).
    """

    circuits: int
    shots: int
    total_shots: int
    qpu_seconds: float
    missing_durations: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        out = asdict(self)
        out["missing_durations"] = list(self.missing_durations)
        return out


def price_pub(
    kind: str, primitive: Any, pub: EstimatorPubLike | SamplerPubLike, backend: Any
) -> PubPrice:
    """Prepare ``pub`` exactly as ``primitive.run`` would, and price it, sending nothing.

    This validates the PUB too: a non-ISA circuit or an option the primitive cannot honour
    raises here, before any job exists.

    Args:
        kind: ``estimator`` or ``sampler``.
        primitive: From :func:`make_primitive`.
        pub: The PUB.
        backend: The backend (its target gives gate durations).
    """
    if kind == "estimator":
        from qiskit_ibm_runtime.executor_estimator.prepare import prepare
    else:
        from qiskit_ibm_runtime.executor_sampler.prepare import prepare
    program, _ = prepare([pub], primitive.options, None, backend=backend)
    target = getattr(backend, "target", None)
    rep_delay = backend_rep_delay(backend)
    circuits, seconds = 0, 0.0
    missing: set[str] = set()
    for item in program.items:
        size = int(item.size())
        duration, absent = circuit_duration(item.circuit, target, measure=False)
        circuits += size
        seconds += size * program.shots * (duration + rep_delay)
        missing.update(absent)
    return PubPrice(
        circuits=circuits,
        shots=int(program.shots),
        total_shots=circuits * int(program.shots),
        qpu_seconds=seconds,
        missing_durations=tuple(sorted(missing)),
    )
