"""DiffQAS inside a QMoE: a differentiable search over the experts' ansatz.

A ``qmoe`` or ``baseline`` spec with ``experts.operators = "diffqas"`` compiles into a
:class:`SearchModel`: one member model per DiffQAS-QT candidate
(:data:`~qmoe_qiskit.circuits.diffqas.CANDIDATES`), each the same spec with the experts built
from that candidate (``operators`` = its rotation, ``entangler`` = ``diffqas-ent`` or
``diffqas-cyc``, ``hadamard`` = its Hadamard layer). Every candidate has one rotation per qubit
and layer, so all members have the same weight layout and share one weight vector, as the
paper's candidates share ``Theta``. With structural weights ``w = softmax(a)`` (12 logits,
initially 0) the output is ``sum_j w_j f_j(x; Theta)``: the paper's Eq. (7) with class scores
in place of probabilities.

Inside a QMoE block the layer order stays this package's (rotations, then the entangler), and
the Hadamard layer acts on the data register just before the experts; the router is not
searched, so every member has the same router and ``P(k|x)`` is the members' common routing.
Candidates that are constant on ``|0...0>`` (see :mod:`qmoe_qiskit.circuits.diffqas`) are not
constant here: the data register holds the encoded input.

A search model is trained like any model; it has no single circuit to transpile or submit.
``qmoe derive RUN -o SPEC.toml`` (:func:`derive_spec`) writes the most weighted candidate as a
plain spec.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import torch
from numpy.typing import ArrayLike
from qiskit.circuit import QuantumCircuit
from torch import nn

from ..circuits.diffqas import CANDIDATES, Candidate
from ..errors import NoCircuitError
from ..spec import SEARCH_OPERATORS, ModelSpec
from .base import CircuitNetworkFactory, Model, family_compiler, register_family

__all__ = ["SearchModel", "SearchNetwork", "candidate_spec", "compile_search", "derive_spec"]


def candidate_spec(spec: ModelSpec, candidate: Candidate | int) -> ModelSpec:
    """``spec`` with its experts built from one DiffQAS-QT candidate (a plain spec)."""
    c = candidate if isinstance(candidate, Candidate) else CANDIDATES[int(candidate) - 1]
    experts = dataclasses.replace(
        spec.experts,
        operators=c.rotation,
        entangler=f"diffqas-{c.entangler}",
        hadamard=c.hadamard,
    )
    return dataclasses.replace(spec, experts=experts)


class SearchNetwork(nn.Module):
    """Member networks mixed by softmax structural weights, all reading one set of weights.

    The member networks are kept out of the module tree; this module's parameters are the
    shared weights (named like the first member's parameters, in its order), then
    ``logits``, so :func:`~qmoe_qiskit.training.loop.flat_weights` gives the search model's
    flat weight vector.
    """

    def __init__(self, members: list[nn.Module], logits: np.ndarray) -> None:
        super().__init__()
        self._members = tuple(members)
        self._names = [name for name, _ in members[0].named_parameters()]
        # Own parameters, registered in flat-weight order: shared_0, shared_1, ..., logits.
        for i, p in enumerate(members[0].parameters()):
            self.register_parameter(f"shared_{i}", nn.Parameter(p.detach().clone().double()))
        self.logits = nn.Parameter(torch.as_tensor(np.asarray(logits, dtype=np.float64)))

    @property
    def last_routing(self) -> torch.Tensor | None:
        """``P(k|x)`` of the last batch (every member has the same router)."""
        return getattr(self._members[0], "last_routing", None)

    def structural_weights(self) -> torch.Tensor:
        """``softmax(logits)``."""
        return torch.softmax(self.logits, dim=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = self.structural_weights()
        shared = [getattr(self, f"shared_{i}") for i in range(len(self._names))]
        params = dict(zip(self._names, shared, strict=True))
        out = None
        for w, member in zip(weights, self._members, strict=True):
            term = w * torch.func.functional_call(member, params, (x,))
            out = term if out is None else out + term
        return out


@dataclass(frozen=True, eq=False)
class SearchModel:
    """A QMoE or baseline whose experts' ansatz is searched over the DiffQAS-QT candidates.

    Attributes:
        spec: The search spec (``experts.operators = "diffqas"``).
        members: One compiled model per candidate, in paper order 1..12.
    """

    spec: ModelSpec
    members: tuple[Model, ...]

    @property
    def num_candidates(self) -> int:
        """Candidates searched over (12)."""
        return len(self.members)

    @property
    def num_member_weights(self) -> int:
        """Weights every member reads (shared)."""
        return self.members[0].num_weights

    @property
    def weight_groups(self) -> Mapping[str, tuple[int, int]]:
        """The members' weight groups, then ``structural`` (the logits)."""
        groups = dict(self.members[0].weight_groups)
        start = self.num_member_weights
        groups["structural"] = (start, start + self.num_candidates)
        return MappingProxyType(groups)

    @property
    def num_inputs(self) -> int:
        """Input features."""
        return self.members[0].num_inputs

    @property
    def num_weights(self) -> int:
        """Shared member weights plus one logit per candidate."""
        return self.num_member_weights + self.num_candidates

    @property
    def num_classes(self) -> int:
        """Class scores."""
        return self.members[0].num_classes

    @property
    def num_experts(self) -> int:
        """Experts of the router."""
        return self.members[0].num_experts

    @property
    def circuit_model(self) -> None:
        """``None``: a search is a mixture of 12 circuits (derive one first)."""
        return None

    @property
    def no_circuit_reason(self) -> str:
        """Why :func:`~qmoe_qiskit.models.base.circuit_of` refuses this model."""
        return (
            f"model {self.spec.name!r} is a DiffQAS search (a mixture of {self.num_candidates} "
            "circuits); run qmoe derive RUN -o SPEC.toml and use the derived spec"
        )

    def _refuse(self) -> NoCircuitError:
        return NoCircuitError(self.no_circuit_reason)

    def circuit_weights(self, weights: ArrayLike) -> np.ndarray:
        raise self._refuse()

    def bind(self, inputs: ArrayLike, weights: ArrayLike) -> QuantumCircuit:
        raise self._refuse()

    def readout(self, expectations: ArrayLike, inputs: ArrayLike, weights: ArrayLike):
        raise self._refuse()

    def member_weights(self, weights: ArrayLike) -> np.ndarray:
        """The shared weights every member reads."""
        return np.asarray(weights, dtype=np.float64)[: self.num_member_weights]

    def logits(self, weights: ArrayLike) -> np.ndarray:
        """The structural logits, one per candidate."""
        return np.asarray(weights, dtype=np.float64)[self.num_member_weights :]

    def structural_weights(self, weights: ArrayLike) -> np.ndarray:
        """``softmax(logits)`` per candidate."""
        a = self.logits(weights)
        e = np.exp(a - a.max())
        return e / e.sum()

    def derived(self, weights: ArrayLike) -> Candidate:
        """The most weighted candidate."""
        return CANDIDATES[int(np.argmax(self.logits(weights)))]

    def initial_weights(self, seed: int) -> np.ndarray:
        """The members' seeded weights, then zero logits (all candidates equal)."""
        return np.concatenate([self.members[0].initial_weights(seed), np.zeros(12)])

    def summary(self) -> dict[str, int | str]:
        """The first member's summary with the search's weight count."""
        out = dict(self.members[0].summary())
        out.update(
            num_weights=self.num_weights,
            search="diffqas",
            candidates=self.num_candidates,
            structural_weights=self.num_candidates,
        )
        return out

    def describe(self) -> list[str]:
        """What the search is made of."""
        return [
            f"DiffQAS search over the experts' ansatz: {self.num_candidates} candidates "
            f"(Hadamard or not x diffqas-ent/diffqas-cyc x RX/RY/RZ) sharing "
            f"{self.num_member_weights} weights, {self.num_candidates} structural logits",
            *[f"candidate 1: {line}" for line in self.members[0].describe()],
        ]

    def _check(self, weights: ArrayLike) -> np.ndarray:
        weights = np.asarray(weights, dtype=np.float64)
        if weights.shape != (self.num_weights,):
            raise ValueError(f"expected {self.num_weights} weights, got shape {weights.shape}")
        return weights

    def network(self, weights: ArrayLike, circuit_network: CircuitNetworkFactory) -> nn.Module:
        """The mixture of the members' networks (see :class:`SearchNetwork`)."""
        weights = self._check(weights)
        shared = self.member_weights(weights)
        members = [m.network(shared, circuit_network) for m in self.members]
        return SearchNetwork(members, self.logits(weights))

    def routed_network(
        self, weights: ArrayLike, circuit_network: CircuitNetworkFactory
    ) -> nn.Module:
        """:meth:`network` that keeps each batch's ``P(k|x)``."""
        weights = self._check(weights)
        shared = self.member_weights(weights)
        members = [m.routed_network(shared, circuit_network) for m in self.members]
        return SearchNetwork(members, self.logits(weights))

    def routing_network(
        self, weights: ArrayLike, circuit_network: CircuitNetworkFactory
    ) -> nn.Module | None:
        """The router (the same in every member)."""
        weights = self._check(weights)
        return self.members[0].routing_network(self.member_weights(weights), circuit_network)


def compile_search(spec: ModelSpec) -> SearchModel:
    """Compile a spec with ``experts.operators = "diffqas"`` into a :class:`SearchModel`."""
    members = []
    for candidate in CANDIDATES:
        plain = candidate_spec(spec, candidate)
        members.append(family_compiler(plain.kind, plain)(plain))
    sizes = {m.num_weights for m in members}
    if len(sizes) != 1:  # pragma: no cover - every candidate has one rotation per qubit/layer
        raise ValueError(f"candidates of {spec.name!r} have different weight counts: {sizes}")
    return SearchModel(spec, tuple(members))


def derive_spec(model: SearchModel, weights: ArrayLike) -> ModelSpec:
    """The plain spec of the most weighted candidate (it compiles and trains without search)."""
    candidate = model.derived(weights)
    spec = candidate_spec(model.spec, candidate)
    return dataclasses.replace(spec, name=f"{model.spec.name}-c{candidate.index}")


def _is_search(spec: ModelSpec) -> bool:
    return spec.experts.operators == SEARCH_OPERATORS


register_family("qmoe", compile_search, applies=_is_search)
register_family("baseline", compile_search, applies=_is_search)
