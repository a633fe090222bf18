"""The ``qmoe`` and ``baseline`` families: quantum routing over quantum experts, or one PQC."""

from __future__ import annotations

from types import MappingProxyType

from qiskit.circuit import Parameter, ParameterVector, QuantumCircuit, QuantumRegister

from ..circuits import (
    class_observables,
    controlled_experts_circuit,
    encoder_circuit,
    expert_circuit,
    expert_projectors,
    multiplexed_experts_circuit,
    routing_circuit,
    weights_per_layer,
)
from ..spec import ModelSpec, parse_operators, parse_rotations
from .base import register_family
from .circuit import CompiledModel

__all__ = ["compile_qmoe"]


def compile_qmoe(spec: ModelSpec) -> CompiledModel:
    """Compile a ``qmoe`` or ``baseline`` spec.

    The circuit acts on the routing register (qubits ``0..r-1``) and the data register
    (qubits ``r..r+d-1``):

    1. ``encoder``: the phase encoder over all ``r + d`` qubits (inputs ``x[i]``);
    2. ``routing``: the trainable routing ansatz on the routing register (``route[i]``);
    3. ``experts``: expert ``k`` (``expert{k}[i]``) conditioned on routing state ``k``, built
       multiplexed when the spec allows it, otherwise as controlled gates;
    4. ``aggregation``: empty, or Hadamards on the routing register for ``"interfere"``.

    A baseline is the encoder on the data register and one PQC (``pqc[i]``).

    Args:
        spec: A validated ``qmoe`` or ``baseline`` spec.

    Returns:
        The compiled model.
    """
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
    router = None
    if spec.kind == "qmoe":
        front = {name: stages[name] for name in ("encoder", "routing")}
        route_circuit = front["encoder"].compose(front["routing"])
        route_circuit.name = f"{spec.name}-router"
        start, stop = groups["route"]
        router = CompiledModel(
            spec=spec,
            circuit=route_circuit,
            input_params=tuple(x),
            weight_params=tuple(weights[start:stop]),
            observables=expert_projectors(
                n, list(range(num_route)), experts.count, spec.routing.encoding
            ),
            route_qubits=tuple(range(num_route)),
            data_qubits=tuple(range(num_route, n)),
            stages=MappingProxyType(front),
            weight_groups=MappingProxyType({"route": (0, stop - start)}),
        )
    return CompiledModel(
        spec=spec,
        circuit=circuit,
        input_params=tuple(x),
        weight_params=tuple(weights),
        observables=class_observables(
            num_route,
            num_data,
            spec.classes,
            project_route=spec.kind == "qmoe" and spec.routing.aggregation == "interfere",
        ),
        route_qubits=tuple(range(num_route)),
        data_qubits=tuple(range(num_route, n)),
        stages=MappingProxyType(stages),
        weight_groups=MappingProxyType(groups),
        router=router,
    )


register_family("qmoe", compile_qmoe)
register_family("baseline", compile_qmoe)
