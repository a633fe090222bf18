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
    measured_experts_circuit,
    multiplexed_experts_circuit,
    routing_circuit,
    weights_per_layer,
)
from ..errors import SpecError
from ..spec import ModelSpec, parse_operators, parse_rotations
from .base import register_family
from .circuit import CompiledModel
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
    num_data = experts.data_qubits
    n = num_route + num_data
    x = ParameterVector("x", spec.encoder.features)
    scale = float(spec.encoder.scale)
    angles = list(x) if scale == 1.0 else [scale * xi for xi in x]
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
    mode = spec.encoder.entangle_mode
    entangle = mode != "none"

    def reencode(width: int) -> QuantumCircuit:
        """All features again on a register of ``width`` qubits (data re-uploading)."""
        return encoder_circuit(width, angles, rotations, entangle)

    expert_reupload = reencode(num_data) if experts.reupload else None
    if spec.kind == "baseline":
        stage("encoder", encoder_circuit(num_data, angles, rotations, entangle))
        stage("routing")
        pqc = group("pqc", per_expert)
        body = expert_circuit(
            num_data,
            pqc,
            operators,
            experts.layers,
            experts.entangler,
            reupload=expert_reupload,
        )
        experts_stage = stage("experts")
        if experts.hadamard:
            experts_stage.h(range(num_data))
        experts_stage.compose(body, inplace=True)
        stage("aggregation")
    else:
        route_ops = parse_operators("routing.operators", spec.routing.operators)
        registers = [range(num_route), range(num_route, n)] if mode == "within" else None
        stage("encoder", encoder_circuit(n, angles, rotations, entangle, groups=registers))
        route_w = group("route", weights_per_layer(num_route, route_ops) * spec.routing.layers)
        body = routing_circuit(
            num_route,
            route_w,
            route_ops,
            spec.routing.layers,
            reupload=reencode(num_route) if spec.routing.reupload else None,
            entangler=spec.routing.entangler,
            hadamard=spec.routing.hadamard,
        )
        stage("routing", body, list(range(num_route)))
        expert_w = [group(f"expert{k}", per_expert) for k in range(experts.count)]
        # the expert stage's builders share these arguments (multiplexed, controlled, measured)
        shape = (num_route, num_data, expert_w, operators, experts.layers, experts.entangler)
        if spec.multiplexed:
            body = multiplexed_experts_circuit(*shape, reupload=expert_reupload)
        else:
            body = controlled_experts_circuit(
                *shape, spec.routing.encoding, reupload=expert_reupload
            )
        experts_stage = stage("experts")
        if experts.hadamard:
            experts_stage.h(range(num_route, n))
        experts_stage.compose(body, inplace=True)
        aggregation = stage("aggregation")
        if spec.routing.aggregation == "interfere":
            aggregation.h(range(num_route))

    circuit = QuantumCircuit(*regs, name=spec.name)
    for part in stages.values():
        circuit.compose(part, inplace=True)
    dynamic = None
    if spec.kind == "qmoe" and spec.routing.execution == "measured":
        body = measured_experts_circuit(*shape, spec.routing.encoding, reupload=expert_reupload)
        dynamic = QuantumCircuit(*regs, *body.cregs, name=f"{spec.name}-measured")
        dynamic.compose(stages["encoder"], inplace=True)
        dynamic.compose(stages["routing"], inplace=True)
        if experts.hadamard:
            dynamic.h(range(num_route, n))
        dynamic.compose(body, range(n), range(num_route), inplace=True)
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
    )
    if spec.readout.head == "none":
        return model
    return HeadedModel(model, spec.readout.head)


register_family("qmoe", compile_qmoe)
register_family("baseline", compile_qmoe)
