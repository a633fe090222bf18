"""qmoe-qiskit: compile, train, transpile and run Quantum Mixture-of-Experts models in Qiskit.

The pipeline, one wing per step: ``spec -> circuits -> models -> engines -> training ->
hardware / export``, with ``experiments`` (paper studies) and ``cli`` on top. What a user needs
from Python is here::

    import qmoe_qiskit as qm

    spec = qm.load_spec("qmoe-digits4-pca8")
    model = qm.compile_model(spec)
    network = qm.build_network(model, engine="torch")
    qnn = qm.build_qnn(model.circuit_model)  # EstimatorQNN of the circuit (no head)
    metrics = qm.train(spec, "runs/digits4")
    run = qm.load_run("runs/digits4")

Attributes are imported on first use, so ``import qmoe_qiskit`` stays light.
"""

from __future__ import annotations

import importlib
from importlib import metadata as _metadata
from typing import TYPE_CHECKING

try:  # the one source of the version is pyproject.toml, read from the installed metadata
    __version__ = _metadata.version("qmoe-qiskit")
except _metadata.PackageNotFoundError:  # a source tree that is not installed
    __version__ = "0+unknown"

#: Public name -> module that defines it.
_API = {
    "ModelSpec": "spec",
    "load_spec": "spec",
    "available_presets": "spec",
    "QmoeError": "errors",
    "SpecError": "errors",
    "compile_model": "models",
    "CompiledModel": "models",
    "HybridModel": "models",
    "Model": "models",
    "load_dataset": "data",
    "load_reduced_dataset": "data",
    "build_network": "engines",
    "build_qnn": "engines.aer",
    "RunConfig": "training",
    "train": "training",
    "fit_model": "training",
    "load_run": "training",
    "evaluate_run": "training",
    "transpile_model": "hardware",
    "get_fake_backend": "hardware",
    "open_backend": "hardware",
    "submit": "hardware",
    "Ledger": "hardware",
    "export_model": "export",
    "QMoEClassifier": "estimators",
}

#: Public names that stand for another name in their module.
_ALIASES = {"submit": "submit_evaluation"}

__all__ = [
    "CompiledModel",
    "HybridModel",
    "Ledger",
    "Model",
    "ModelSpec",
    "QMoEClassifier",
    "QmoeError",
    "RunConfig",
    "SpecError",
    "__version__",
    "available_presets",
    "build_network",
    "build_qnn",
    "compile_model",
    "evaluate_run",
    "export_model",
    "fit_model",
    "get_fake_backend",
    "load_dataset",
    "load_reduced_dataset",
    "load_run",
    "load_spec",
    "open_backend",
    "submit",
    "train",
    "transpile_model",
]

if TYPE_CHECKING:  # pragma: no cover
    from .data import load_dataset, load_reduced_dataset
    from .engines import build_network
    from .engines.aer import build_qnn
    from .errors import QmoeError, SpecError
    from .estimators import QMoEClassifier
    from .export import export_model
    from .hardware import Ledger, get_fake_backend, open_backend, transpile_model
    from .hardware import submit_evaluation as submit
    from .models import CompiledModel, HybridModel, Model, compile_model
    from .spec import ModelSpec, available_presets, load_spec
    from .training import RunConfig, evaluate_run, fit_model, load_run, train


def __getattr__(name: str) -> object:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'qmoe_qiskit' has no attribute {name!r}")
    target = _ALIASES.get(name, name)
    value = getattr(importlib.import_module(f".{module}", __name__), target)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
