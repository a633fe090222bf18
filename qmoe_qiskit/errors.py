"""Errors: one base, :class:`QmoeError`, for every mistake a user can make.

Each wing raises its own subclass (``SpecError``, ``DataError``, ``TrainingError``, ...), defined
here so that the lowest layer can raise them and the command line can catch them all through
the base: a user's mistake ends in one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

__all__ = [
    "DataError",
    "DeviceError",
    "EngineError",
    "ExportError",
    "HardwareError",
    "JobFileError",
    "LedgerError",
    "MissingExtraError",
    "NoCircuitError",
    "NoRouterError",
    "NotCircuitModelError",
    "DamagedFileError",
    "QmoeError",
    "RuntimeFailure",
    "SpecError",
    "TrainingError",
    "TranspileError",
]


class QmoeError(Exception):
    """Base of every error qmoe-qiskit raises for a user's input or environment."""


class SpecError(QmoeError, ValueError):
    """A model specification is invalid. The message names the field and what is allowed."""


class DataError(QmoeError, ValueError):
    """A data set cannot be loaded as asked (missing files, bad IDX data, unknown classes)."""


class DeviceError(QmoeError, RuntimeError):
    """The requested engine or device is not available here."""


class EngineError(QmoeError, ValueError):
    """A circuit or input cannot be run by the chosen engine (unsupported gate, wrong width)."""


class TrainingError(QmoeError, RuntimeError):
    """A run cannot be started, resumed or evaluated as asked."""


class NoCircuitError(QmoeError, ValueError):
    """The model has no circuit to run (a hybrid model with a classical router)."""


class NotCircuitModelError(QmoeError, ValueError):
    """A model with classical weights beyond its circuit's (a readout head, classical experts)
    was given where a plain circuit model is required (e.g. an ``EstimatorQNN``): use its
    ``circuit_model`` and apply the classical part to the circuit's outputs."""


class NoRouterError(QmoeError, ValueError):
    """The model has no router to analyse or train (a baseline), or none that can be read."""


class TranspileError(QmoeError, ValueError):
    """A transpile profile, backend or ISA file is invalid."""


class HardwareError(QmoeError, ValueError):
    """A hardware request is invalid: an unknown primitive or error mitigation, a circuit the
    chosen primitive or simulation cannot run, a parameter without a value, an object that is
    not a backend."""


class LedgerError(QmoeError, RuntimeError):
    """A job ledger cannot be read or a record does not exist."""


class RuntimeFailure(QmoeError, RuntimeError):
    """A Runtime service, backend or job failed (the message has secrets removed)."""


class ExportError(QmoeError, ValueError):
    """A model cannot be exported as asked."""


class JobFileError(QmoeError, ValueError):
    """A job file is invalid."""


class DamagedFileError(QmoeError, ValueError):
    """A file written earlier (a run's, a sweep's) cannot be read: truncated, damaged or not
    the kind of file expected."""


class MissingExtraError(QmoeError, ImportError):
    """A feature needs an optional extra that is not installed (e.g. ``rl``)."""
