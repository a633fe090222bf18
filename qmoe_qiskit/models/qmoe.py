"""The ``qmoe`` and ``baseline`` families: quantum routing over quantum experts, or one PQC."""

from __future__ import annotations

from types import MappingProxyType

from qiskit.circuit import Parameter, ParameterVector, QuantumCircuit, QuantumRegister

from ..circuits import (
    Reupload,
    class_observables,
    controlled_experts_circuit,
    coupling_circuit,
    coupling_weights,
    encoder_circuit,
    expert_circuit,
    expert_projectors,
    layer_reupload,
    measured_experts_circuit,
    multiplexed_experts_circuit,
    routing_circuit,
    trainable_reupload_circuit,
    weights_per_layer,
)
from ..errors import SpecError
from ..spec import ModelSpec, parse_operators, parse_rotations
from .base import register_family
from .circuit import CompiledModel, router_span
from .head import HeadedModel

__all__ = ["compile_qmoe"]


def compile_qmoe(spec: ModelSpec) -> CompiledModel | HeadedModel:
    """Compile a ``qmoe`` or ``baseline`` spec.

    The circuit acts on the routing register (qubits ``0..r-1``) and the data register
    (qubits ``r..r+d-1``):

    1. ``encoder``: the phase encoder over all ``r + d`` qubits (angles
       ``encoder.scale * x[i]``), its CNOT chains across both registers, inside each, or none
       (``encoder.entangle``);
    2. ``routing``: the trainable routing ansatz on the routing register (``route[i]``),
       optionally re-uploading the input before every layer (``routing.reupload``);
    3. ``experts``: a Hadamard on every data qubit first when ``experts.hadamard`` (common to
       all experts, so not controlled); expert ``k`` (``expert{k}[i]``) conditioned on
       routing state ``k``, built
       multiplexed when the spec allows it, otherwise as controlled gates; optionally
       re-uploading the input on the data register before every layer (``experts.reupload``);
    4. ``aggregation``: empty, or Hadamards on the routing register for ``"interfere"``.

    With ``routing.execution = "measured"`` the model also carries ``dynamic_circuit``: the
    encoder and routing stages, then the routing register measured mid-circuit and only the
    chosen expert applied by feed-forward (:func:`measured_experts_circuit`); same parameters,
    same data-register expectations, no controlled expert gates. Engines train the coherent
    ``circuit``; hardware runs the dynamic one.

    A baseline is the encoder on the data register and one PQC (``pqc[i]``).

    Class ``c`` is read from Z on data qubit ``c``; with ``readout.head`` other than ``"none"``
    a trainable classical head maps those expectations to the class scores.

    Args:
        spec: A validated ``qmoe`` or ``baseline`` spec.

    Returns:
        The compiled model: a :class:`CompiledModel`, or a :class:`HeadedModel` around one.
    """
    experts = spec.experts
    if spec.searched_blocks:
        raise SpecError(
            f"{spec.name}: operators = 'diffqas' is a search; compile it with "
            "qmoe_qiskit.compile_model (the search family), not compile_qmoe"
        )
    operators = parse_operators("experts.operators", experts.operators)
    num_route = spec.num_route_qubits
    num_select = spec.num_select_qubits
    num_data = experts.data_qubits
    n = num_route + num_data
    select = list(range(num_select))
    data_qubits = list(range(num_route, n))
    x = ParameterVector("x", spec.encoder.features)
    scale = float(spec.encoder.scale)
    angles = list(x) if scale == 1.0 else [scale * xi for xi in x]
    per_expert = weights_per_layer(num_data, operators) * experts.layers
    per_expert += experts.extra_rotations
    ranges: dict[str, tuple[float, float]] = {}

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
    mode = spec.encoder.entangle_mode
    entangle = mode != "none"

    def reencode(width: int) -> QuantumCircuit:
        """All features again on a register of ``width`` qubits (data re-uploading)."""
        return encoder_circuit(width, angles, rotations, entangle)

    def reupload(mode: str, width: int, features: int, layers: int, prefix: str) -> Reupload:
        """The re-uploading circuits before ``layers`` ansatz layers: one fixed circuit, or
        trainable ones (groups ``{prefix}.scale`` and ``{prefix}.offset``, layer-major)."""
        if mode == "none":
            return None
        if mode == "fixed":
            return reencode(width)
        inputs = list(x)[: features or len(x)]
        scales = group(f"{prefix}.scale", layers * len(inputs))
        offsets = group(f"{prefix}.offset", layers * len(inputs))
        ranges[f"{prefix}.scale"] = (0.0, 2 * scale)
        f = len(inputs)
        return [
            trainable_reupload_circuit(
                width, inputs, scales[i * f : (i + 1) * f], offsets[i * f : (i + 1) * f], rotations
            )
            for i in range(layers)
        ]

    def expert_reupload() -> Reupload:
        return reupload(
            experts.reupload_mode,
            num_data,
            experts.features,
            experts.reupload_layers or experts.layers,
            "experts",
        )

    if spec.kind == "baseline":
        stage("encoder", encoder_circuit(num_data, angles, rotations, entangle))
        stage("routing")
        again = expert_reupload()
        pqc = group("pqc", per_expert)
        body = expert_circuit(
            num_data,
            pqc,
            operators,
            experts.layers,
            experts.entangler,
            reupload=again,
            extra_rotations=experts.extra_rotations,
        )
        experts_stage = stage("experts")
        if experts.hadamard:
            experts_stage.h(range(num_data))
        experts_stage.compose(body, inplace=True)
        stage("aggregation")
    else:
        routing = spec.routing
        route_ops = parse_operators("routing.operators", routing.operators)
        registers = [range(num_route), range(num_route, n)] if mode == "within" else None
        stage("encoder", encoder_circuit(n, angles, rotations, entangle, groups=registers))
        route_again = reupload(
            routing.reupload_mode, num_route, routing.features, routing.layers, "route"
        )
        per_coupling = coupling_weights(num_route, num_data)
        couple_w = (
            group("route.couplings", routing.couplings * per_coupling) if routing.couplings else []
        )
        per_route = weights_per_layer(num_route, route_ops)
        route_w = group("route", per_route * routing.layers)
        if routing.couplings:
            body = QuantumCircuit(n, name="routing")
            if routing.hadamard:
                body.h(range(num_route))
            for layer in range(routing.layers):
                before = layer_reupload(route_again, layer)
                if before is not None:
                    body.compose(before, range(num_route), inplace=True)
                if layer < routing.couplings:
                    couple = couple_w[layer * per_coupling : (layer + 1) * per_coupling]
                    body.compose(coupling_circuit(num_route, num_data, couple), inplace=True)
                rotations_l = route_w[layer * per_route : (layer + 1) * per_route]
                one = routing_circuit(
                    num_route, rotations_l, route_ops, 1, entangler=routing.entangler
                )
                body.compose(one, range(num_route), inplace=True)
            stage("routing", body, list(range(n)))
        else:
            body = routing_circuit(
                num_route,
                route_w,
                route_ops,
                routing.layers,
                reupload=route_again,
                entangler=routing.entangler,
                hadamard=routing.hadamard,
            )
            stage("routing", body, list(range(num_route)))
        again = expert_reupload()
        expert_w = [group(f"expert{k}", per_expert) for k in range(experts.count)]
        # the expert stage's builders share these arguments (multiplexed, controlled, measured);
        # they act on the selecting routing qubits and the data register
        shape = (num_select, num_data, expert_w, operators, experts.layers, experts.entangler)
        if spec.multiplexed:
            body = multiplexed_experts_circuit(*shape, reupload=again)
        else:
            body = controlled_experts_circuit(*shape, routing.encoding, reupload=again)
        experts_stage = stage("experts")
        if experts.hadamard:
            experts_stage.h(range(num_route, n))
        experts_stage.compose(body, select + data_qubits, inplace=True)
        aggregation = stage("aggregation")
        if spec.routing.aggregation == "interfere":
            aggregation.h(range(num_route))

    circuit = QuantumCircuit(*regs, name=spec.name)
    for part in stages.values():
        circuit.compose(part, inplace=True)
    dynamic = None
    if spec.kind == "qmoe" and spec.routing.execution == "measured":
        body = measured_experts_circuit(*shape, spec.routing.encoding, reupload=again)
        dynamic = QuantumCircuit(*regs, *body.cregs, name=f"{spec.name}-measured")
        dynamic.compose(stages["encoder"], inplace=True)
        dynamic.compose(stages["routing"], inplace=True)
        if experts.hadamard:
            dynamic.h(range(num_route, n))
        dynamic.compose(body, select + data_qubits, range(num_select), inplace=True)
    router = None
    if spec.kind == "qmoe":
        front = {name: stages[name] for name in ("encoder", "routing")}
        route_circuit = front["encoder"].compose(front["routing"])
        route_circuit.name = f"{spec.name}-router"
        start, stop = router_span(groups)
        router_groups = {
            k: (a - start, b - start) for k, (a, b) in groups.items() if start <= a and b <= stop
        }
        router = CompiledModel(
            spec=spec,
            circuit=route_circuit,
            input_params=tuple(x),
            weight_params=tuple(weights[start:stop]),
            observables=expert_projectors(n, select, experts.count, spec.routing.encoding),
            route_qubits=tuple(range(num_route)),
            data_qubits=tuple(range(num_route, n)),
            stages=MappingProxyType(front),
            weight_groups=MappingProxyType(router_groups),
            weight_ranges=MappingProxyType({k: v for k, v in ranges.items() if k in router_groups}),
        )
    model = CompiledModel(
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
        dynamic_circuit=dynamic,
        weight_ranges=MappingProxyType(ranges),
    )
    if spec.readout.head == "none":
        return model
    return HeadedModel(model, spec.readout.head)


register_family("qmoe", compile_qmoe)
register_family("baseline", compile_qmoe)
