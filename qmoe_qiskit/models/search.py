"""DiffQAS inside a QMoE: a differentiable search over the ansatz of the experts and router.

A ``qmoe`` or ``baseline`` spec with ``operators = "diffqas"`` in ``[experts]`` and/or (``qmoe``)
``[routing]`` compiles into a :class:`SearchModel`. Each searched block chooses one of the 12
DiffQAS-QT candidates (:data:`~qmoe_qiskit.circuits.diffqas.CANDIDATES`): its rotation becomes
the block's ``operators``, its entangler the block's ``entangler`` (``diffqas-ent`` or
``diffqas-cyc``), its Hadamard layer the block's ``hadamard``. A *member* is one choice per
searched block (12 members for one block, 144 for both), compiled as a plain spec. Every
candidate has one rotation per qubit and layer, so all members have the same weight layout and
share one weight vector, as the paper's candidates share ``Theta``. Each searched block ``b``
has 12 structural logits ``a[b]`` (initially 0); a member's weight is
``prod_b softmax(a[b])[j_b]`` and the output is ``sum_members w f_member(x; Theta)``: the
paper's Eq. (7) with class scores in place of probabilities, with ``N x M`` structural weights
for ``M`` searched blocks (paper Sec. V).

Inside a QMoE block the layer order stays this package's (rotations, then the entangler), and a
Hadamard layer acts on the block's register just before it. When the router is not searched,
every member has the same router and ``P(k|x)`` is their common routing; when it is,
``P(k|x)`` is the members' weighted mixture. Candidates that are constant on ``|0...0>`` (see
:mod:`qmoe_qiskit.circuits.diffqas`) are not constant here: the registers hold the encoded
input.

A search model is trained like any model; it has no single circuit to transpile or submit.
``qmoe derive RUN -o SPEC.toml`` (:func:`derive_spec`) writes the most weighted candidate of
each searched block as a plain spec.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import torch
from numpy.typing import ArrayLike
from qiskit.circuit import QuantumCircuit
from torch import nn

from ..circuits.diffqas import CANDIDATES, Candidate, as_candidate
from ..errors import EngineError, NoCircuitError
from ..spec import ModelSpec
from .base import CircuitNetworkFactory, Model, family_compiler, register_family

__all__ = [
    "SearchModel",
    "SearchNetwork",
    "candidate_spec",
    "compile_search",
    "derive_spec",
]


def candidate_spec(
    spec: ModelSpec, candidate: Candidate | int, block: str = "experts"
) -> ModelSpec:
    """``spec`` with one block (``"experts"`` or ``"routing"``) built from a candidate."""
    c = as_candidate(candidate)
    section = getattr(spec, block)
    changed = dataclasses.replace(
        section, operators=c.rotation, entangler=f"diffqas-{c.entangler}", hadamard=c.hadamard
    )
    return dataclasses.replace(spec, **{block: changed})


def member_spec(spec: ModelSpec, choice: Sequence[Candidate | int]) -> ModelSpec:
    """``spec`` with each searched block built from its candidate in ``choice``."""
    for block, candidate in zip(spec.searched_blocks, choice, strict=True):
        spec = candidate_spec(spec, candidate, block)
    return spec


class SearchNetwork(nn.Module):
    """Member networks mixed by structural weights, all reading one set of weights.

    The member networks are kept out of the module tree; this module's parameters are the
    shared weights (named like the first member's parameters, in its order), then ``logits``
    ``(blocks, 12)``, so :func:`~qmoe_qiskit.training.loop.flat_weights` gives the search
    model's flat weight vector. Members are in :func:`itertools.product` order of the searched
    blocks' candidates.
    """

    def __init__(self, members: list[nn.Module], logits: np.ndarray) -> None:
        super().__init__()
        self._members = tuple(members)
        self._names = [name for name, _ in members[0].named_parameters()]
        # Own parameters, registered in flat-weight order: shared_0, shared_1, ..., logits.
        for i, p in enumerate(members[0].parameters()):
            self.register_parameter(f"shared_{i}", nn.Parameter(p.detach().clone().double()))
        self.logits = nn.Parameter(torch.as_tensor(np.asarray(logits, dtype=np.float64)))
        if self.logits.dim() != 2 or len(members) != self.logits.shape[1] ** self.logits.shape[0]:
            raise EngineError(
                f"{len(members)} members do not match logits of shape {tuple(self.logits.shape)}"
            )

    def structural_weights(self) -> torch.Tensor:
        """``softmax(logits)`` per searched block, ``(blocks, 12)``."""
        return torch.softmax(self.logits, dim=-1)

    def member_weights(self) -> torch.Tensor:
        """Each member's weight: the product of its blocks' structural weights."""
        w = self.structural_weights()
        total = w[0]
        for b in range(1, w.shape[0]):
            total = (total[:, None] * w[b][None, :]).reshape(-1)
        return total

    @property
    def last_routing(self) -> torch.Tensor | None:
        """``P(k|x)`` of the last batch: the members' weighted mixture."""
        routings = [getattr(m, "last_routing", None) for m in self._members]
        if routings[0] is None:
            return None
        weights = self.member_weights()
        out = None
        for w, routing in zip(weights, routings, strict=True):
            out = w * routing if out is None else out + w * routing
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = self.member_weights()
        shared = [getattr(self, f"shared_{i}") for i in range(len(self._names))]
        params = dict(zip(self._names, shared, strict=True))
        terms = [
            w * torch.func.functional_call(member, params, (x,))
            for w, member in zip(weights, self._members, strict=True)
        ]
        return torch.stack(terms).sum(dim=0)


@dataclass(frozen=True, eq=False)
class SearchModel:
    """A QMoE or baseline whose experts' and/or router's ansatz is searched.

    Attributes:
        spec: The search spec (``operators = "diffqas"`` in the searched blocks).
        blocks: The searched blocks (``"routing"``, ``"experts"``).
        members: One compiled model per choice of candidates, in
            ``itertools.product(CANDIDATES, repeat=len(blocks))`` order.
    """

    spec: ModelSpec
    blocks: tuple[str, ...]
    members: tuple[Model, ...]

    @property
    def num_candidates(self) -> int:
        """Candidates per searched block (12)."""
        return len(CANDIDATES)

    @property
    def num_structural(self) -> int:
        """Structural logits: 12 per searched block."""
        return self.num_candidates * len(self.blocks)

    @property
    def num_member_weights(self) -> int:
        """Weights every member reads (shared)."""
        return self.members[0].num_weights

    @property
    def weight_groups(self) -> Mapping[str, tuple[int, int]]:
        """The members' weight groups, then ``structural`` (the logits, block major)."""
        groups = dict(self.members[0].weight_groups)
        start = self.num_member_weights
        groups["structural"] = (start, start + self.num_structural)
        return MappingProxyType(groups)

    @property
    def num_inputs(self) -> int:
        """Input features."""
        return self.members[0].num_inputs

    @property
    def num_weights(self) -> int:
        """Shared member weights plus 12 logits per searched block."""
        return self.num_member_weights + self.num_structural

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
        """``None``: a search is a mixture of circuits (derive one first)."""
        return None

    @property
    def no_circuit_reason(self) -> str:
        """Why :func:`~qmoe_qiskit.models.base.circuit_of` refuses this model."""
        return (
            f"model {self.spec.name!r} is a DiffQAS search (a mixture of {len(self.members)} "
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
        """The structural logits ``(blocks, 12)``."""
        flat = np.asarray(weights, dtype=np.float64)[self.num_member_weights :]
        return flat.reshape(len(self.blocks), self.num_candidates)

    def structural_weights(self, weights: ArrayLike) -> np.ndarray:
        """``softmax(logits)`` per searched block, ``(blocks, 12)``."""
        a = self.logits(weights)
        e = np.exp(a - a.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def derived(self, weights: ArrayLike) -> dict[str, Candidate]:
        """The most weighted candidate of each searched block."""
        best = self.logits(weights).argmax(axis=1)
        return {block: CANDIDATES[int(j)] for block, j in zip(self.blocks, best, strict=True)}

    def initial_weights(self, seed: int) -> np.ndarray:
        """The members' seeded weights, then zero logits (all candidates equal)."""
        return np.concatenate(
            [self.members[0].initial_weights(seed), np.zeros(self.num_structural)]
        )

    def summary(self) -> dict[str, int | str]:
        """The first member's summary with the search's weight count."""
        out = dict(self.members[0].summary())
        out.update(
            num_weights=self.num_weights,
            search="diffqas: " + ", ".join(self.blocks),
            members=len(self.members),
            structural_weights=self.num_structural,
        )
        return out

    def describe(self) -> list[str]:
        """What the search is made of."""
        return [
            f"DiffQAS search over the {' and '.join(self.blocks)} ansatz: 12 candidates per "
            f"block (Hadamard or not x diffqas-ent/diffqas-cyc x RX/RY/RZ), "
            f"{len(self.members)} member circuits sharing {self.num_member_weights} weights, "
            f"{self.num_structural} structural logits",
            *[f"member 1: {line}" for line in self.members[0].describe()],
        ]

    def _check(self, weights: ArrayLike) -> np.ndarray:
        weights = np.asarray(weights, dtype=np.float64)
        if weights.shape != (self.num_weights,):
            raise EngineError(f"expected {self.num_weights} weights, got shape {weights.shape}")
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
        """:meth:`network` that keeps each batch's ``P(k|x)`` (the members' mixture)."""
        weights = self._check(weights)
        shared = self.member_weights(weights)
        members = [m.routed_network(shared, circuit_network) for m in self.members]
        return SearchNetwork(members, self.logits(weights))

    def routing_network(
        self, weights: ArrayLike, circuit_network: CircuitNetworkFactory
    ) -> nn.Module | None:
        """The router: the members' one router, or the mixture when the router is searched."""
        weights = self._check(weights)
        shared = self.member_weights(weights)
        if "routing" not in self.blocks:
            return self.members[0].routing_network(shared, circuit_network)
        routers = [
            self.members[j * 12 ** (len(self.blocks) - 1)].routing_network(shared, circuit_network)
            for j in range(12)
        ]
        logits = self.logits(weights)[:1]
        return SearchNetwork(routers, logits)


def compile_search(spec: ModelSpec) -> SearchModel:
    """Compile a spec with ``operators = "diffqas"`` in some blocks into a :class:`SearchModel`."""
    blocks = spec.searched_blocks
    members = []
    for choice in itertools.product(CANDIDATES, repeat=len(blocks)):
        plain = member_spec(spec, choice)
        members.append(family_compiler(plain.kind, plain)(plain))
    sizes = {m.num_weights for m in members}
    if len(sizes) != 1:  # pragma: no cover - every candidate has one rotation per qubit/layer
        raise ValueError(f"members of {spec.name!r} have different weight counts: {sizes}")
    return SearchModel(spec, blocks, tuple(members))


def derive_spec(model: SearchModel, weights: ArrayLike) -> ModelSpec:
    """The plain spec of the most weighted candidates (it compiles and trains without search)."""
    derived = model.derived(weights)
    spec = member_spec(model.spec, [derived[b] for b in model.blocks])
    label = "-".join(f"{b[0]}{c.index}" for b, c in derived.items())
    return dataclasses.replace(spec, name=f"{model.spec.name}-{label}")


def _is_search(spec: ModelSpec) -> bool:
    return bool(spec.searched_blocks)


register_family("qmoe", compile_search, applies=_is_search)
register_family("baseline", compile_search, applies=_is_search)
