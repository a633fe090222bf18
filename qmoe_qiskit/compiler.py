"""Compile a :class:`~qmoe_qiskit.spec.ModelSpec` into a parameterized Qiskit circuit."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np
from qiskit import transpile
from qiskit.circuit import Parameter, ParameterVector, QuantumCircuit, QuantumRegister
from qiskit.quantum_info import SparsePauliOp

from .circuits import (
    controlled_experts_circuit,
    encoder_circuit,
    expert_circuit,
    multiplexed_experts_circuit,
    routing_circuit,
    weights_per_layer,
)
from .spec import ModelSpec, load_spec, parse_operators, parse_rotations

if TYPE_CHECKING:  # pragma: no cover
    from .hybrid import HybridModel

__all__ = ["BASIS_GATES", "CompiledModel", "compile_model"]

#: Gate basis of :meth:`CompiledModel.decomposed`: accepted by Aer and by the gradient rules.
BASIS_GATES = ("rx", "ry", "rz", "h", "x", "cx", "cz")


@dataclass(frozen=True, eq=False)
class CompiledModel:
    """A compiled model: one plain circuit plus what is needed to read and train it.

    Attributes:
        spec: The validated spec it was compiled from.
        circuit: The logical circuit (encoder, routing, experts, aggregation).
        input_params: Input parameters ``x[i]``, one per feature, in feature order.
        weight_params: Trainable parameters: ``route[i]`` then ``expert0[i]``, ``expert1[i]``...
            (``pqc[i]`` for a baseline).
        observables: One observable per class (Z on data qubit ``c``, projected on the
            routing register's ``|0...0>`` for interfering aggregation).
        route_qubits: Indices of the routing register in ``circuit``.
        data_qubits: Indices of the data register in ``circuit``.
        stages: The circuit's parts on its full width, in order: ``encoder``, ``routing``,
            ``experts``, ``aggregation``; composing them gives ``circuit``.
        weight_groups: Name -> ``(start, stop)`` slice of ``weight_params``
            (``route``, ``expert0``, ... or ``pqc``).
    """

    spec: ModelSpec
    circuit: QuantumCircuit
    input_params: tuple[Parameter, ...]
    weight_params: tuple[Parameter, ...]
    observables: tuple[SparsePauliOp, ...]
    route_qubits: tuple[int, ...]
    data_qubits: tuple[int, ...]
    stages: Mapping[str, QuantumCircuit]
    weight_groups: Mapping[str, tuple[int, int]]

    @property
    def num_qubits(self) -> int:
        """Total circuit width."""
        return self.circuit.num_qubits

    @property
    def num_inputs(self) -> int:
        """Number of input features."""
        return len(self.input_params)

    @property
    def num_weights(self) -> int:
        """Number of trainable weights."""
        return len(self.weight_params)

    @functools.cached_property
    def decomposed(self) -> QuantumCircuit:
        """The circuit transpiled to :data:`BASIS_GATES`, parameters left unbound.

        No layout or routing is applied: qubit ``i`` stays qubit ``i``, so ``observables`` apply
        unchanged. This is the circuit Aer executes.
        """
        return transpile(
            self.circuit, basis_gates=list(BASIS_GATES), optimization_level=1, seed_transpiler=0
        )

    def summary(self) -> dict[str, int]:
        """Resource summary of the decomposed circuit.

        Returns:
            ``num_qubits, route_qubits, data_qubits, num_inputs, num_weights, depth,
            two_qubit_gates`` (depth and two-qubit gates after decomposition to
            :data:`BASIS_GATES`).
        """
        decomposed = self.decomposed
        two_qubit = sum(1 for inst in decomposed.data if inst.operation.num_qubits == 2)
        return {
            "num_qubits": self.num_qubits,
            "route_qubits": len(self.route_qubits),
            "data_qubits": len(self.data_qubits),
            "num_inputs": self.num_inputs,
            "num_weights": self.num_weights,
            "depth": decomposed.depth(),
            "two_qubit_gates": two_qubit,
        }

    def initial_weights(self, seed: int) -> np.ndarray:
        """Seeded initial weights, uniform in ``[-pi, pi)``."""
        return np.random.default_rng(seed).uniform(-np.pi, np.pi, self.num_weights)

    def bind(self, inputs: Any, weights: Any) -> QuantumCircuit:
        """The circuit with one input vector and one weight vector bound."""
        values = dict(zip(self.input_params, np.asarray(inputs, dtype=float), strict=True))
        values.update(zip(self.weight_params, np.asarray(weights, dtype=float), strict=True))
        return self.circuit.assign_parameters(values)


def _class_observables(spec: ModelSpec, num_route: int) -> tuple[SparsePauliOp, ...]:
    n = num_route + spec.experts.data_qubits
    route_projector = SparsePauliOp("I" * n)
    if spec.kind == "qmoe" and spec.routing.aggregation == "interfere":
        for qubit in range(num_route):
            zero = SparsePauliOp.from_sparse_list([("", [], 0.5), ("Z", [qubit], 0.5)], n)
            route_projector = route_projector.compose(zero)
    observables = []
    for c in range(spec.classes):
        z = SparsePauliOp.from_sparse_list([("Z", [num_route + c], 1.0)], n)
        observables.append(z.compose(route_projector).simplify())
    return tuple(observables)


def compile_model(spec: ModelSpec | str | Any) -> CompiledModel | HybridModel:
    """Compile a model spec into a :class:`CompiledModel` (a :class:`HybridModel` for hybrid).

    The circuit acts on the routing register (qubits ``0..r-1``) and the data register
    (qubits ``r..r+d-1``):

    1. ``encoder``: the phase encoder over all ``r + d`` qubits (inputs ``x[i]``);
    2. ``routing``: the trainable routing ansatz on the routing register (``route[i]``);
    3. ``experts``: expert ``k`` (``expert{k}[i]``) conditioned on routing state ``k``, built
       multiplexed when the spec allows it, otherwise as controlled gates;
    4. ``aggregation``: empty, or Hadamards on the routing register for ``"interfere"``.

    A baseline is the encoder on the data register and one PQC (``pqc[i]``).

    A ``kind = "hybrid"`` spec (router + classical linear experts) compiles to a
    :class:`~qmoe_qiskit.hybrid.HybridModel` whose ``router`` is a :class:`CompiledModel` of the
    router circuit (quantum router) or ``None`` (linear/MLP router); see
    :func:`qmoe_qiskit.hybrid.compile_hybrid`.

    Args:
        spec: A :class:`ModelSpec`, or anything :func:`~qmoe_qiskit.spec.load_spec` accepts.

    Returns:
        The compiled model.
    """
    spec = load_spec(spec)
    if spec.kind == "hybrid":
        from .hybrid import compile_hybrid

        return compile_hybrid(spec)
    experts = spec.experts
    operators = parse_operators("experts.operators", experts.operators)
    num_route = spec.num_route_qubits
    num_data = experts.data_qubits
    n = num_route + num_data
    x = ParameterVector("x", spec.encoder.features)
    per_expert = weights_per_layer(num_data, operators) * experts.layers

    regs = [QuantumRegister(num_route, "route")] if num_route else []
    regs.append(QuantumRegister(num_data, "data"))
    stages: dict[str, QuantumCircuit] = {}
    groups: dict[str, tuple[int, int]] = {}
    weights: list[Parameter] = []

    def stage(name: str, body: QuantumCircuit | None = None, qubits: list[int] | None = None):
        circuit = QuantumCircuit(*regs, name=name)
        if body is not None:
            circuit.compose(body, qubits, inplace=True)
        stages[name] = circuit
        return circuit

    def group(name: str, size: int) -> ParameterVector:
        vector = ParameterVector(name, size)
        groups[name] = (len(weights), len(weights) + size)
        weights.extend(vector)
        return vector

    rotations = parse_rotations(spec.encoder.rotations)
    if spec.kind == "baseline":
        stage("encoder", encoder_circuit(num_data, x, rotations, spec.encoder.entangle))
        stage("routing")
        pqc = group("pqc", per_expert)
        body = expert_circuit(num_data, pqc, operators, experts.layers, experts.entangler)
        stage("experts", body)
        stage("aggregation")
    else:
        route_ops = parse_operators("routing.operators", spec.routing.operators)
        stage("encoder", encoder_circuit(n, x, rotations, spec.encoder.entangle))
        route_w = group("route", weights_per_layer(num_route, route_ops) * spec.routing.layers)
        body = routing_circuit(num_route, route_w, route_ops, spec.routing.layers)
        stage("routing", body, list(range(num_route)))
        expert_w = [group(f"expert{k}", per_expert) for k in range(experts.count)]
        if spec.multiplexed:
            body = multiplexed_experts_circuit(
                num_route, num_data, expert_w, operators, experts.layers, experts.entangler
            )
        else:
            body = controlled_experts_circuit(
                num_route,
                num_data,
                expert_w,
                operators,
                experts.layers,
                experts.entangler,
                spec.routing.encoding,
            )
        stage("experts", body)
        aggregation = stage("aggregation")
        if spec.routing.aggregation == "interfere":
            aggregation.h(range(num_route))

    circuit = QuantumCircuit(*regs, name=spec.name)
    for part in stages.values():
        circuit.compose(part, inplace=True)
    return CompiledModel(
        spec=spec,
        circuit=circuit,
        input_params=tuple(x),
        weight_params=tuple(weights),
        observables=_class_observables(spec, num_route),
        route_qubits=tuple(range(num_route)),
        data_qubits=tuple(range(num_route, n)),
        stages=MappingProxyType(stages),
        weight_groups=MappingProxyType(groups),
    )
