"""qmoe-qiskit: compile, train, transpile and run Quantum Mixture-of-Experts models in Qiskit."""

from .compiler import BASIS_GATES, CompiledModel, compile_model
from .spec import ModelSpec, SpecError, available_presets, load_spec, spec_from_dict

__version__ = "0.1.0"

__all__ = [
    "BASIS_GATES",
    "CompiledModel",
    "ModelSpec",
    "SpecError",
    "__version__",
    "available_presets",
    "compile_model",
    "load_spec",
    "spec_from_dict",
]
