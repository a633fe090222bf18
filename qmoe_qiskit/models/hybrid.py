"""Hybrid QMoE: a quantum, linear or MLP router weighting classical linear experts.

The model of Heddad & Bouanane isolates the router: for an input ``x`` with ``n`` features,

``y(x) = sum_k P(k | x) (W_k x + b_k)``

where the experts are linear maps to the class logits and ``P(k | x)`` comes from

- a **quantum router**: angle embedding ``RY(x_i)`` of feature ``i`` on qubit ``i``, then ``L``
  layers of [``RY(theta)`` on every qubit, ``CZ`` between neighbours ``(i, i+1)``]; ``P(k|x)``
  is the probability of basis state ``|k>`` of the routing qubits ``0..m-1``
  (``m = log2(experts)``; qubit 0 is the least significant bit; other qubits are traced out,
  so with ``2**n`` experts every qubit is measured, as in the paper). ``P = L x n`` weights;
- a **linear router**: ``softmax(A x + c)``;
- an **MLP router**: ``softmax`` of a ReLU network with ``routing.layers`` hidden layers of
  width ``routing.hidden``.

:func:`compile_hybrid` (registered for ``kind = "hybrid"``) returns a :class:`HybridModel`; its
``router`` is a regular :class:`~qmoe_qiskit.models.circuit.CompiledModel` for a quantum router
(circuit, ``route[i]`` weights and one basis-state projector observable per expert), so every
engine, the hardware commands and export run it unchanged; it is ``None`` for a classical
router. :meth:`HybridModel.network` puts the router (the engine's module for the circuit, or an
:class:`MLPRouter`) in front of :class:`LinearExperts`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import pairwise
from types import MappingProxyType

import numpy as np
import torch
from numpy.typing import ArrayLike
from qiskit.circuit import ParameterVector, QuantumCircuit
from torch import nn

from ..circuits import basis_projectors, quantum_router_circuit, router_weights
from ..errors import EngineError, NoCircuitError
from ..spec import ModelSpec
from .base import CircuitNetworkFactory, register_family
from .circuit import CompiledModel

__all__ = [
    "HybridModel",
    "HybridNetwork",
    "LinearExperts",
    "MLPRouter",
    "compile_hybrid",
]


class MLPRouter(nn.Module):
    """``softmax`` over experts of affine layers ``sizes`` with ReLU between them.

    With ``sizes = (features, experts)`` this is the linear router ``softmax(A x + c)``.
    """

    def __init__(self, sizes: tuple[int, ...]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i, (fan_in, fan_out) in enumerate(pairwise(sizes)):
            if i:
                layers.append(nn.ReLU())
            layers.append(nn.Linear(fan_in, fan_out, dtype=torch.float64))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.net(x.to(torch.float64)), dim=1)


class LinearExperts(nn.Module):
    """``experts`` affine maps ``W_k x + b_k`` to ``classes`` logits, stacked.

    Attributes:
        weight: ``(experts, classes, features)``.
        bias: ``(experts, classes)``.
    """

    def __init__(self, experts: int, classes: int, features: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(experts, classes, features, dtype=torch.float64))
        self.bias = nn.Parameter(torch.zeros(experts, classes, dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Every expert's output ``(batch, experts, classes)``."""
        return torch.einsum("kcf,bf->bkc", self.weight, x.to(torch.float64)) + self.bias


class HybridNetwork(nn.Module):
    """``y = sum_k P(k|x) (W_k x + b_k)``: a router module and :class:`LinearExperts`.

    Parameters are ``router.*`` then ``experts.weight``, ``experts.bias`` (the checkpoint order).
    """

    def __init__(self, router: nn.Module, experts: LinearExperts) -> None:
        super().__init__()
        self.router = router
        self.experts = experts

    def routing(self, x: torch.Tensor) -> torch.Tensor:
        """Routing probabilities ``(batch, experts)``."""
        return self.router(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(torch.float64)
        probs = self.router(x).to(torch.float64)
        self.last_routing = probs
        return torch.einsum("bk,bkc->bc", probs, self.experts(x))


def _mlp_sizes(spec: ModelSpec) -> tuple[int, ...]:
    hidden = (spec.routing.hidden,) * spec.routing.layers
    return (spec.encoder.features, *hidden, spec.experts.count)


@dataclass(frozen=True, eq=False)
class HybridModel:
    """A compiled hybrid model: router description plus linear experts.

    The flat weight vector (checkpoints, :meth:`initial_weights`) is: router weights (quantum:
    ``route[i]`` in circuit order; linear/MLP: each layer's weight ``(out, in)`` row-major then
    its bias), then the experts' weights ``(experts, classes, features)`` and biases
    ``(experts, classes)``. ``weight_groups`` gives each part's slice.

    Attributes:
        spec: The validated spec (``kind = "hybrid"``).
        router: The router circuit as a :class:`CompiledModel` (quantum router) or ``None``.
        router_sizes: Layer widths of a classical router (``(features, experts)`` for linear,
            ``(features, hidden, ..., experts)`` for MLP); empty for a quantum router.
        weight_groups: ``route``, ``experts.weight``, ``experts.bias`` -> ``(start, stop)``.
    """

    spec: ModelSpec
    router: CompiledModel | None
    router_sizes: tuple[int, ...]
    weight_groups: Mapping[str, tuple[int, int]]

    @property
    def router_kind(self) -> str:
        """``"quantum"``, ``"linear"`` or ``"mlp"``."""
        return self.spec.routing.kind

    @property
    def num_inputs(self) -> int:
        """Number of input features."""
        return self.spec.encoder.features

    @property
    def num_experts(self) -> int:
        """Number of linear experts."""
        return self.spec.experts.count

    @property
    def num_classes(self) -> int:
        """Output width of every expert."""
        return self.spec.classes

    @property
    def num_router_weights(self) -> int:
        """Trainable weights of the router (the paper's parameter count)."""
        start, stop = self.weight_groups["route"]
        return stop - start

    @property
    def num_weights(self) -> int:
        """All trainable weights: router + experts."""
        return self.weight_groups["experts.bias"][1]

    @property
    def circuit_model(self) -> CompiledModel | None:
        """The router circuit (quantum router), or ``None`` (classical router: no circuit)."""
        return self.router

    def circuit_weights(self, weights: ArrayLike) -> np.ndarray:
        """The router's slice of the flat weights (binds the router circuit)."""
        start, stop = self.weight_groups["route"]
        return np.asarray(weights, dtype=np.float64)[start:stop]

    def bind(self, inputs: ArrayLike, weights: ArrayLike) -> QuantumCircuit:
        """The router circuit with one input vector and the flat weights' router part bound.

        Raises:
            NoCircuitError: A classical router has no circuit.
        """
        if self.router is None:
            raise NoCircuitError(f"model {self.spec.name!r} has a classical router: no circuit")
        return self.router.bind(inputs, self.circuit_weights(weights))

    def expert_outputs(self, inputs: ArrayLike, weights: ArrayLike) -> np.ndarray:
        """Every linear expert's logits ``(rows, experts, classes)``."""
        weights = np.asarray(weights, dtype=np.float64)
        x = np.atleast_2d(np.asarray(inputs, dtype=np.float64))
        start, stop = self.weight_groups["experts.weight"]
        w = weights[start:stop].reshape(self.num_experts, self.num_classes, self.num_inputs)
        start, stop = self.weight_groups["experts.bias"]
        b = weights[start:stop].reshape(self.num_experts, self.num_classes)
        return np.einsum("kcf,bf->bkc", w, x) + b

    def readout(self, expectations: ArrayLike, inputs: ArrayLike, weights: ArrayLike) -> np.ndarray:
        """Class logits ``sum_k P(k|x) (W_k x + b_k)`` from the router circuit's projector values.

        Args:
            expectations: ``(rows, experts)`` routing probabilities measured on the router
                circuit (its basis-state projectors), e.g. on a QPU.
            inputs: ``(rows, features)``.
            weights: The flat weights.
        """
        probs = np.atleast_2d(np.asarray(expectations, dtype=np.float64))
        return np.einsum("bk,bkc->bc", probs, self.expert_outputs(inputs, weights))

    def describe(self) -> list[str]:
        """What the model is made of: router, experts, combination."""
        spec = self.spec
        if self.router is not None:
            router = (
                f"router: quantum, RY embedding of {self.num_inputs} features on "
                f"{self.num_inputs} qubits + {spec.routing.layers} x (RY, CZ chain); P(k|x) from "
                f"qubits 0..{spec.num_route_qubits - 1}"
            )
        elif self.router_kind == "linear":
            router = f"router: linear, softmax(A x + c) over {self.num_experts} experts"
        else:
            hidden = " x ".join(str(h) for h in self.router_sizes[1:-1])
            router = f"router: MLP, hidden {hidden}, ReLU, softmax over {self.num_experts} experts"
        return [
            router,
            f"experts: {self.num_experts} x linear {self.num_inputs} -> {self.num_classes}",
            "output: sum_k P(k|x) (W_k x + b_k) (class logits)",
        ]

    def routing_network(
        self, weights: ArrayLike, circuit_network: CircuitNetworkFactory
    ) -> nn.Module:
        """The router alone: ``(batch, features) -> (batch, experts)`` of ``P(k|x)``."""
        return self._router_module(self.circuit_weights(weights), circuit_network)

    def _router_module(
        self, route: np.ndarray, circuit_network: CircuitNetworkFactory
    ) -> nn.Module:
        """The router circuit on the engine (quantum router) or an :class:`MLPRouter`."""
        if self.router is not None:
            return circuit_network(self.router, route)
        router = MLPRouter(self.router_sizes)
        torch.nn.utils.vector_to_parameters(torch.as_tensor(route), router.parameters())
        return router

    def routed_network(
        self, weights: ArrayLike, circuit_network: CircuitNetworkFactory
    ) -> HybridNetwork:
        """:meth:`network`: it keeps each batch's routing probabilities in ``last_routing``."""
        return self.network(weights, circuit_network)

    def network(self, weights: ArrayLike, circuit_network: CircuitNetworkFactory) -> HybridNetwork:
        """Router module (the engine's circuit module, or :class:`MLPRouter`) + linear experts.

        Args:
            weights: Flat weights (router, experts' weights, experts' biases).
            circuit_network: The engine's factory for the router circuit (quantum router).

        Returns:
            The :class:`HybridNetwork`; its parameters are in flat-weight order.

        Raises:
            EngineError: If ``weights`` has the wrong length.
        """
        weights = np.asarray(weights, dtype=np.float64)
        if weights.shape != (self.num_weights,):
            raise EngineError(f"expected {self.num_weights} weights, got shape {weights.shape}")
        router = self._router_module(self.circuit_weights(weights), circuit_network)
        experts = LinearExperts(self.num_experts, self.num_classes, self.num_inputs)
        start = self.weight_groups["experts.weight"][0]
        torch.nn.utils.vector_to_parameters(torch.as_tensor(weights[start:]), experts.parameters())
        return HybridNetwork(router, experts)

    def summary(self) -> dict[str, int | str]:
        """Resource summary: router kind and parameter counts (and qubits/depth if quantum)."""
        out: dict[str, int | str] = {
            "family": self.spec.kind,
            "router": self.router_kind,
            "num_inputs": self.num_inputs,
            "experts": self.num_experts,
            "router_weights": self.num_router_weights,
            "expert_weights": self.num_weights - self.num_router_weights,
            "num_weights": self.num_weights,
        }
        if self.router is not None:
            router = self.router.summary()
            out.update(
                num_qubits=router["num_qubits"],
                route_qubits=router["route_qubits"],
                depth=router["depth"],
                two_qubit_gates=router["two_qubit_gates"],
            )
        return out

    def initial_weights(self, seed: int) -> np.ndarray:
        """Seeded initial flat weights.

        Quantum router angles are uniform in ``[-pi, pi)``; every affine layer (classical router
        layers and experts) is uniform in ``+-1/sqrt(fan_in)``, as torch initialises
        ``nn.Linear``.
        """
        rng = np.random.default_rng(seed)
        parts = []
        if self.router is not None:
            parts.append(rng.uniform(-np.pi, np.pi, self.router.num_weights))
        else:
            for fan_in, fan_out in pairwise(self.router_sizes):
                bound = 1.0 / math.sqrt(fan_in)
                parts.append(rng.uniform(-bound, bound, fan_out * fan_in + fan_out))
        bound = 1.0 / math.sqrt(self.num_inputs)
        size = self.num_weights - self.num_router_weights
        parts.append(rng.uniform(-bound, bound, size))
        return np.concatenate(parts)


def compile_hybrid(spec: ModelSpec) -> HybridModel:
    """Compile a validated ``kind = "hybrid"`` spec.

    Args:
        spec: The hybrid spec.

    Returns:
        The :class:`HybridModel`.
    """
    n = spec.encoder.features
    router: CompiledModel | None = None
    sizes: tuple[int, ...] = ()
    if spec.routing.kind == "quantum":
        x = ParameterVector("x", n)
        theta = ParameterVector("route", router_weights(n, spec.routing.layers))
        encoder = quantum_router_circuit(n, 0, x, [], embedding=True)
        body = quantum_router_circuit(n, spec.routing.layers, x, theta, embedding=False)
        circuit = encoder.compose(body)
        circuit.name = spec.name
        num_route = spec.num_route_qubits
        router = CompiledModel(
            spec=spec,
            circuit=circuit,
            input_params=tuple(x),
            weight_params=tuple(theta),
            observables=basis_projectors(n, num_route),
            route_qubits=tuple(range(num_route)),
            data_qubits=(),
            stages=MappingProxyType({"encoder": encoder, "routing": body}),
            weight_groups=MappingProxyType({"route": (0, len(theta))}),
        )
        num_router = len(theta)
    else:
        sizes = (n, spec.experts.count) if spec.routing.kind == "linear" else _mlp_sizes(spec)
        num_router = sum(a * b + b for a, b in pairwise(sizes))
    expert_w = spec.experts.count * spec.classes * n
    expert_b = spec.experts.count * spec.classes
    groups = {
        "route": (0, num_router),
        "experts.weight": (num_router, num_router + expert_w),
        "experts.bias": (num_router + expert_w, num_router + expert_w + expert_b),
    }
    return HybridModel(spec, router, sizes, MappingProxyType(groups))


register_family("hybrid", compile_hybrid)
