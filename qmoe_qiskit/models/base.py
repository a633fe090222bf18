"""What every compiled model offers, and the registry of model families.

A model family is one module of this package that defines a compiled-model class satisfying
:class:`Model` and registers a compile function for its ``spec.kind`` with
:func:`register_family`. Every command (``compile``, ``train``, ``evaluate``, ``transpile``,
``submit``, ``export``) works through this protocol only, so a new family is one new module.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np
import torch
from qiskit.circuit import QuantumCircuit

from ..errors import NoCircuitError, SpecError
from .circuit import CircuitNetworkFactory, CompiledModel

if TYPE_CHECKING:  # pragma: no cover
    from ..spec import ModelSpec

__all__ = [
    "CircuitNetworkFactory",
    "Model",
    "circuit_of",
    "families",
    "family_compiler",
    "register_family",
]


@runtime_checkable
class Model(Protocol):
    """The protocol of a compiled model, whatever its family.

    Attributes:
        spec: The validated spec it was compiled from.
        weight_groups: Name -> ``(start, stop)`` slice of the flat weight vector.
    """

    @property
    def spec(self) -> ModelSpec:
        """The validated spec it was compiled from."""

    @property
    def weight_groups(self) -> Mapping[str, tuple[int, int]]:
        """Name -> ``(start, stop)`` slice of the flat weight vector."""

    @property
    def num_inputs(self) -> int:
        """Input features."""

    @property
    def num_weights(self) -> int:
        """Length of the flat weight vector (checkpoints, :meth:`initial_weights`)."""

    @property
    def num_classes(self) -> int:
        """Output width (class scores)."""

    @property
    def num_experts(self) -> int:
        """Experts a router chooses between (0 for a model without routing)."""

    @property
    def circuit_model(self) -> CompiledModel | None:
        """The circuit to run on a simulator or QPU (a
        :class:`~qmoe_qiskit.models.circuit.CompiledModel`), or ``None`` for a model without
        one."""

    def circuit_weights(self, weights: np.ndarray) -> np.ndarray:
        """The part of the flat weights that binds :attr:`circuit_model`'s weight parameters."""

    def bind(self, inputs: np.ndarray, weights: np.ndarray) -> QuantumCircuit:
        """The circuit with one input vector and the flat weights' circuit part bound."""

    def readout(self, expectations: np.ndarray, inputs: np.ndarray, weights: np.ndarray):
        """Class scores ``(rows, classes)`` from the circuit's expectations ``(rows, obs)``."""

    def initial_weights(self, seed: int) -> np.ndarray:
        """Seeded initial flat weights."""

    def summary(self) -> dict[str, int | str]:
        """Resource summary (JSON-ready)."""

    def describe(self) -> list[str]:
        """Human-readable lines for ``qmoe compile``: what the model is made of."""

    def network(
        self, weights: np.ndarray, circuit_network: CircuitNetworkFactory
    ) -> torch.nn.Module:
        """The model as a torch module ``(batch, features) -> (batch, classes)``."""

    def routed_network(
        self, weights: np.ndarray, circuit_network: CircuitNetworkFactory
    ) -> torch.nn.Module:
        """:meth:`network` that also keeps each batch's ``P(k|x)`` in a ``last_routing`` attribute
        (for routing losses)."""

    def routing_network(
        self, weights: np.ndarray, circuit_network: CircuitNetworkFactory
    ) -> torch.nn.Module | None:
        """The router as a module ``(batch, features) -> (batch, experts)`` of ``P(k|x)``, or
        ``None`` for a model without routing."""


_FAMILIES: dict[str, Callable[[ModelSpec], Model]] = {}
#: Kind -> ``(applies, compile_fn)`` of families that take only some specs of a kind.
_SPECIAL: dict[str, list[tuple[Callable[[ModelSpec], bool], Callable[[ModelSpec], Model]]]] = {}


def register_family(
    kind: str,
    compile_fn: Callable[[ModelSpec], Model],
    *,
    applies: Callable[[ModelSpec], bool] | None = None,
) -> None:
    """Register the compile function of the family whose specs have ``kind``.

    Args:
        kind: The spec kind.
        compile_fn: Compiles a validated spec.
        applies: If given, the family takes only the specs of ``kind`` for which it returns
            true (e.g. the DiffQAS search takes the ``qmoe`` specs whose experts search);
            other specs go to the family registered without ``applies``.
    """
    if applies is None:
        _FAMILIES[kind] = compile_fn
    else:
        _SPECIAL.setdefault(kind, []).append((applies, compile_fn))


def families() -> tuple[str, ...]:
    """Registered spec kinds."""
    return tuple(sorted(_FAMILIES))


def family_compiler(kind: str, spec: ModelSpec | None = None) -> Callable[[ModelSpec], Model]:
    """The compile function registered for ``kind`` (and, if given, for ``spec`` itself).

    Raises:
        SpecError: If no family is registered for ``kind``.
    """
    if spec is not None:
        for applies, compile_fn in _SPECIAL.get(kind, ()):
            if applies(spec):
                return compile_fn
    try:
        return _FAMILIES[kind]
    except KeyError:
        raise SpecError(
            f"kind = {kind!r} has no model family; registered: {', '.join(families())}"
        ) from None


def circuit_of(model: Model) -> CompiledModel:
    """The circuit part of ``model`` that runs on a simulator or QPU (a ``CompiledModel``).

    Raises:
        NoCircuitError: The model has no circuit (a hybrid model with a classical router).
    """
    program = model.circuit_model
    if program is None:
        reason = getattr(model, "no_circuit_reason", None)
        if reason:
            raise NoCircuitError(reason)
        spec = model.spec
        raise NoCircuitError(
            f"model {spec.name!r} ({spec.kind}, {spec.routing.kind} router) has no quantum "
            "circuit to run on a backend: it is classical end to end"
        )
    return program
