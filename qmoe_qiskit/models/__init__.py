"""Model families: each compiles a spec of its ``kind`` into a model that satisfies
:class:`~qmoe_qiskit.models.base.Model`.

Families: ``qmoe`` and ``baseline`` (:mod:`.qmoe`; with a readout head, :mod:`.head`),
``hybrid`` (:mod:`.hybrid`); DiffQAS searches over the experts' ansatz of ``qmoe`` and
``baseline`` specs (:mod:`.search`). Quantum-Train generators (:mod:`.quantum_train`, with the
search layer :mod:`.diffqas` and the target networks :mod:`.classical`) are used from Python
and ``qmoe qt``. A new family is one new module that calls
:func:`~qmoe_qiskit.models.base.register_family`, imported below.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..spec import ModelSpec, load_spec
from . import hybrid as _hybrid  # noqa: F401  (registers "hybrid")
from . import qmoe as _qmoe  # noqa: F401  (registers "qmoe" and "baseline")
from . import search as _search  # noqa: F401  (registers DiffQAS searches of qmoe/baseline)
from .base import (
    CircuitNetworkFactory,
    Model,
    circuit_of,
    families,
    family_compiler,
    register_family,
)
from .circuit import BASIS_GATES, CompiledModel, require_circuit_model
from .head import HeadedModel
from .hybrid import HybridModel
from .search import SearchModel

__all__ = [
    "BASIS_GATES",
    "CircuitNetworkFactory",
    "CompiledModel",
    "HeadedModel",
    "HybridModel",
    "Model",
    "SearchModel",
    "circuit_of",
    "compile_model",
    "families",
    "register_family",
    "require_circuit_model",
]


def compile_model(spec: ModelSpec | str | Path | Mapping[str, Any]) -> Model:
    """Compile a spec with the family registered for its ``kind``.

    Args:
        spec: A :class:`~qmoe_qiskit.spec.ModelSpec`, or anything
            :func:`~qmoe_qiskit.spec.load_spec` accepts (file, preset name, mapping).

    Returns:
        The compiled model (a :class:`CompiledModel` for ``qmoe``/``baseline``, or a
        :class:`HeadedModel` when ``readout.head`` is not ``"none"``: its ``circuit_model``
        is the circuit part, see there; a :class:`HybridModel` for ``hybrid``).
    """
    spec = load_spec(spec)
    return family_compiler(spec.kind, spec)(spec)
