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

:func:`compile_hybrid` (reached through :func:`qmoe_qiskit.compiler.compile_model` for
``kind = "hybrid"``) returns a :class:`HybridModel`; its ``router`` is a regular
:class:`~qmoe_qiskit.compiler.CompiledModel` for a quantum router (circuit, ``route[i]`` weights
and one basis-state projector observable per expert), so the Aer QNN path, the fast engine and
the noise study all run it unchanged; it is ``None`` for a classical router. The torch modules
live in :mod:`qmoe_qiskit.hybrid_network`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import pairwise
from types import MappingProxyType

import numpy as np
from qiskit.circuit import ParameterVector, QuantumCircuit
from qiskit.quantum_info import SparsePauliOp

from .compiler import CompiledModel
from .spec import ModelSpec, load_spec

__all__ = [
    "HybridModel",
    "basis_projectors",
    "compile_hybrid",
    "quantum_router_circuit",
]


def quantum_router_circuit(
    num_qubits: int, layers: int, inputs, weights, *, embedding: bool = True
) -> QuantumCircuit:
    """The paper's router: RY angle embedding, then ``layers`` x [RY on every qubit, CZ chain].

    Args:
        num_qubits: ``n``, one qubit per input feature.
        layers: ``L``.
        inputs: ``n`` input angles (parameters or numbers); ``RY(x_i)`` on qubit ``i`` gives
            ``cos(x_i/2)|0> + sin(x_i/2)|1>``.
        weights: ``L x n`` angles, layer-major: ``weights[l * n + i]`` is layer ``l``, qubit ``i``.
        embedding: Include the embedding (``False`` gives the trainable unitary ``U(theta)``).

    Returns:
        A plain circuit on ``n`` qubits (gates ``ry`` and ``cz`` only).
    """
    if len(weights) != layers * num_qubits:
        raise ValueError(f"expected {layers * num_qubits} weights, got {len(weights)}")
    circuit = QuantumCircuit(num_qubits, name="quantum_router")
    if embedding:
        for qubit in range(num_qubits):
            circuit.ry(inputs[qubit], qubit)
    for layer in range(layers):
        for qubit in range(num_qubits):
            circuit.ry(weights[layer * num_qubits + qubit], qubit)
        for qubit in range(num_qubits - 1):
            circuit.cz(qubit, qubit + 1)
    return circuit


def basis_projectors(num_qubits: int, num_route: int) -> tuple[SparsePauliOp, ...]:
    """Projectors ``|k><k|`` on qubits ``0..num_route-1`` (identity elsewhere), ``k = 0..2^m-1``.

    ``|k><k| = prod_q (I + (-1)^{b_q(k)} Z_q) / 2`` with ``b_q(k)`` bit ``q`` of ``k``.

    Args:
        num_qubits: Circuit width.
        num_route: Measured (routing) qubits ``m``.

    Returns:
        ``2**m`` Hermitian observables whose expectations are the basis-state probabilities.
    """
    projectors = []
    for k in range(2**num_route):
        op = SparsePauliOp("I" * num_qubits)
        for qubit in range(num_route):
            sign = -1.0 if (k >> qubit) & 1 else 1.0
            factor = SparsePauliOp.from_sparse_list(
                [("", [], 0.5), ("Z", [qubit], 0.5 * sign)], num_qubits
            )
            op = op.compose(factor)
        projectors.append(op.simplify())
    return tuple(projectors)


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

    def summary(self) -> dict[str, int | str]:
        """Resource summary: router kind and parameter counts (and qubits/depth if quantum)."""
        out: dict[str, int | str] = {
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


def compile_hybrid(spec: ModelSpec | str) -> HybridModel:
    """Compile a ``kind = "hybrid"`` spec.

    Args:
        spec: A hybrid :class:`ModelSpec` or anything :func:`load_spec` accepts.

    Returns:
        The :class:`HybridModel`.

    Raises:
        ValueError: If the spec is not a hybrid model.
    """
    spec = load_spec(spec)
    if spec.kind != "hybrid":
        raise ValueError(f"compile_hybrid needs kind = 'hybrid', got {spec.kind!r}")
    n = spec.encoder.features
    router: CompiledModel | None = None
    sizes: tuple[int, ...] = ()
    if spec.routing.kind == "quantum":
        x = ParameterVector("x", n)
        theta = ParameterVector("route", spec.routing.layers * n)
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
