"""A circuit model: one parameterized circuit whose observables' expectations are its outputs.

:class:`CompiledModel` is the compiled form of the ``qmoe`` and ``baseline`` families and the
circuit part of every other family (a hybrid model's quantum router is one). Engines run it,
hardware transpiles and submits it, export writes it.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import torch
from numpy.typing import ArrayLike
from qiskit import transpile
from qiskit.circuit import Parameter, QuantumCircuit
from qiskit.quantum_info import SparsePauliOp

from ..circuits import shot_costs
from ..errors import NoRouterError, NotCircuitModelError
from ..spec import ModelSpec

__all__ = ["BASIS_GATES", "CompiledModel", "RoutedNetwork", "require_circuit_model"]

#: Builds the torch module of a circuit model (inputs -> observable expectations) on an engine:
#: ``factory(circuit_model, circuit_weights) -> nn.Module``. Engines provide it; families use it.
CircuitNetworkFactory = Callable[["CompiledModel", np.ndarray], torch.nn.Module]

#: Gate basis of :meth:`CompiledModel.decomposed`: accepted by Aer and by the gradient rules.
BASIS_GATES = ("rx", "ry", "rz", "h", "x", "cx", "cz")


class RoutedNetwork(torch.nn.Module):
    """A network whose circuit also measures the routing projectors, for routing losses.

    ``inner`` outputs ``(batch, classes + experts)``: the class scores, then ``P(k|x)``.
    ``forward`` returns the class scores and keeps the probabilities in :attr:`last_routing`.
    Its parameters are ``inner``'s, in the same order (checkpoints are unchanged).
    """

    def __init__(self, inner: torch.nn.Module, classes: int) -> None:
        super().__init__()
        self.inner = inner
        self.classes = classes
        self.last_routing: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.inner(x)
        self.last_routing = out[:, self.classes :].to(torch.float64)
        return out[:, : self.classes]


def router_span(groups: Mapping[str, tuple[int, int]]) -> tuple[int, int]:
    """``(start, stop)`` of the router's weights among ``groups``: the ``route`` group and
    every ``route.*`` group (re-uploading, couplings), which come first and together."""
    spans = [v for k, v in groups.items() if k == "route" or k.startswith("route.")]
    return min(a for a, _ in spans), max(b for _, b in spans)


@dataclass(frozen=True, eq=False)
class CompiledModel:
    """A compiled circuit model: one plain circuit plus what is needed to read and train it.

    Attributes:
        spec: The validated spec it was compiled from.
        circuit: The logical circuit (for a QMoE: encoder, routing, experts, aggregation).
        input_params: Input parameters ``x[i]``, one per feature, in feature order.
        weight_params: Trainable parameters: ``route[i]`` then ``expert0[i]``, ``expert1[i]``...
            (``pqc[i]`` for a baseline).
        observables: One observable per output (class ``c``: Z on data qubit ``c``, projected on
            the routing register's ``|0...0>`` for interfering aggregation).
        route_qubits: Indices of the routing register in ``circuit``.
        data_qubits: Indices of the data register in ``circuit``.
        stages: The circuit's parts on its full width, in order (for a QMoE ``encoder``,
            ``routing``, ``experts``, ``aggregation``); composing them gives ``circuit``.
        weight_groups: Name -> ``(start, stop)`` slice of ``weight_params``
            (``route``, ``expert0``, ... or ``pqc``).
        router: For a QMoE, the routing part as a circuit model of its own: the ``encoder``
            and ``routing`` stages, the ``route`` weights, and one projector per expert (the
            routing-register state that switches it on), whose expectations are ``P(k|x)``.
            ``None`` for a baseline (and for a router itself).
        dynamic_circuit: With ``routing.execution = "measured"``, the circuit hardware runs
            instead of ``circuit``: the routing register measured mid-circuit into the
            classical register ``route_bits`` and only the chosen expert applied by
            feed-forward. Same parameters, same expectations of ``observables``; ``None`` when
            the execution is coherent.
        weight_ranges: Group name -> ``(low, high)``: that group's initial weights are drawn
            uniformly from this range instead of ``[-pi, pi)`` (trainable re-uploading's input
            scales start near the encoder's scale).
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
    router: CompiledModel | None = None
    dynamic_circuit: QuantumCircuit | None = None
    weight_ranges: Mapping[str, tuple[float, float]] = dataclasses.field(
        default_factory=lambda: MappingProxyType({})
    )

    @property
    def execution_circuit(self) -> QuantumCircuit:
        """The circuit hardware runs, :attr:`dynamic_circuit` when set, else :attr:`circuit`."""
        return self.circuit if self.dynamic_circuit is None else self.dynamic_circuit

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

    @property
    def num_classes(self) -> int:
        """Number of outputs (one per observable)."""
        return len(self.observables)

    @property
    def num_experts(self) -> int:
        """Experts the router chooses between (0 without a router)."""
        return 0 if self.router is None else len(self.router.observables)

    @property
    def circuit_model(self) -> CompiledModel:
        """The circuit to run: the model itself."""
        return self

    def circuit_weights(self, weights: ArrayLike) -> np.ndarray:
        """All weights bind the circuit."""
        return np.asarray(weights, dtype=np.float64)

    def readout(self, expectations: ArrayLike, inputs: ArrayLike, weights: ArrayLike) -> np.ndarray:
        """Class scores are the observables' expectations."""
        return np.asarray(expectations, dtype=np.float64)

    @functools.cached_property
    def decomposed(self) -> QuantumCircuit:
        """The circuit transpiled to :data:`BASIS_GATES`, parameters left unbound.

        No layout or routing is applied: qubit ``i`` stays qubit ``i``, so ``observables`` apply
        unchanged. This is the circuit Aer executes.
        """
        return transpile(
            self.circuit, basis_gates=list(BASIS_GATES), optimization_level=1, seed_transpiler=0
        )

    def summary(self) -> dict[str, int | str]:
        """Resource summary of the decomposed circuit.

        Returns:
            ``family, num_qubits, route_qubits, data_qubits, num_inputs, num_weights, depth,
            two_qubit_gates`` (depth and two-qubit gates after decomposition to
            :data:`BASIS_GATES`).
        """
        decomposed = self.decomposed
        two_qubit = sum(1 for inst in decomposed.data if inst.operation.num_qubits == 2)
        summary: dict[str, int | str] = {
            "family": self.spec.kind,
            "num_qubits": self.num_qubits,
            "route_qubits": len(self.route_qubits),
            "data_qubits": len(self.data_qubits),
            "num_inputs": self.num_inputs,
            "num_weights": self.num_weights,
            "depth": decomposed.depth(),
            "two_qubit_gates": two_qubit,
        }
        if self.dynamic_circuit is not None:
            shot = shot_costs(self.decomposed_dynamic)
            summary["measured_depth"] = shot["depth"]
            summary["measured_two_qubit_gates"] = shot["two_qubit_gates"]
        return summary

    @functools.cached_property
    def decomposed_dynamic(self) -> QuantumCircuit | None:
        """:attr:`dynamic_circuit` decomposed like :attr:`decomposed` (``None`` if unset)."""
        if self.dynamic_circuit is None:
            return None
        basis = [*BASIS_GATES, "measure", "if_else"]
        return transpile(
            self.dynamic_circuit, basis_gates=basis, optimization_level=1, seed_transpiler=0
        )

    def describe(self) -> list[str]:
        """What the circuit is made of, one line per stage."""
        spec = self.spec
        chains = {"all": "across all qubits", "within": "within each register", "none": "none"}
        lines = [
            f"encoder: {spec.encoder.features} features"
            + (f" x {spec.encoder.scale:g}" if spec.encoder.scale != 1 else "")
            + f", rotations {spec.encoder.rotations}, "
            f"CNOT chains {chains[spec.encoder.entangle_mode]}"
        ]

        def again(part) -> str:
            mode = part.reupload_mode
            if mode == "none":
                return ""
            which = "the input" if mode == "fixed" else "the input through trained w * x + b"
            layers = getattr(part, "reupload_layers", 0)
            return f", re-uploading {which} before " + (
                f"the first {layers} layers" if layers else "every layer"
            )

        if spec.kind == "baseline":
            extra = spec.experts.extra_rotations
            lines.append(
                f"pqc: {spec.experts.layers} layers of {spec.experts.operators} + "
                f"{spec.experts.entangler} on {spec.experts.data_qubits} qubits"
                + (f" + {extra} rotations" if extra else "")
                + again(spec.experts)
            )
        else:
            construction = "multiplexed" if spec.multiplexed else "controlled"
            routing = spec.routing
            wider = len(self.route_qubits) - spec.num_select_qubits
            lines.append(
                f"routing: {len(self.route_qubits)} qubits ({routing.encoding}"
                + (f", the first {spec.num_select_qubits} select" if wider else "")
                + f"), {routing.layers} layers of {routing.operators}"
                + (
                    f", the first {routing.couplings} reading the data register through "
                    "controlled RY couplings"
                    if routing.couplings
                    else ""
                )  # fmt: skip
                + again(routing)
            )
            lines.append(
                f"experts: {spec.experts.count} x {spec.experts.layers} layers of "
                f"{spec.experts.operators} on {spec.experts.data_qubits} qubits, {construction}"
                + again(spec.experts)
            )
            lines.append(f"aggregation: {spec.routing.aggregation}")
            if self.dynamic_circuit is not None:
                lines.append(
                    "execution: measured (hardware measures the routing register mid-circuit "
                    "and runs only the chosen expert; training uses the coherent circuit)"
                )
        lines.append(f"readout: Z on data qubits 0..{self.num_classes - 1} (one per class)")
        return lines

    def initial_weights(self, seed: int) -> np.ndarray:
        """Seeded initial weights, uniform in ``[-pi, pi)`` (:attr:`weight_ranges` apart)."""
        weights = np.random.default_rng(seed).uniform(-np.pi, np.pi, self.num_weights)
        if self.weight_ranges:
            rng = np.random.default_rng([seed, 1])
            for name, (low, high) in sorted(self.weight_ranges.items()):
                start, stop = self.weight_groups[name]
                weights[start:stop] = rng.uniform(low, high, stop - start)
        return weights

    @property
    def router_span(self) -> tuple[int, int]:
        """``(start, stop)`` of the router's weights: the ``route`` group and every
        ``route.*`` group (re-uploading, couplings), which come first and together."""
        return router_span(self.weight_groups)

    def bind(self, inputs: ArrayLike, weights: ArrayLike) -> QuantumCircuit:
        """The circuit with one input vector and one weight vector bound."""
        values = dict(zip(self.input_params, np.asarray(inputs, dtype=float), strict=True))
        values.update(zip(self.weight_params, np.asarray(weights, dtype=float), strict=True))
        return self.circuit.assign_parameters(values)

    def routing_network(
        self, weights: np.ndarray, circuit_network: CircuitNetworkFactory
    ) -> torch.nn.Module | None:
        """The router's module ``(batch, features) -> (batch, experts)`` of ``P(k|x)``.

        Returns:
            ``None`` when the model has no router (a baseline).
        """
        if self.router is None:
            return None
        start, stop = self.router_span
        return circuit_network(self.router, np.asarray(weights, dtype=np.float64)[start:stop])

    def routed_network(
        self, weights: np.ndarray, circuit_network: CircuitNetworkFactory
    ) -> RoutedNetwork:
        """:meth:`network` that also measures ``P(k|x)`` in the same pass (routing losses).

        The circuit gets the router's expert projectors as extra observables: the expert
        blocks are controlled by the routing register and leave its distribution unchanged,
        so the final state still holds ``P(k|x)``.

        Raises:
            NoRouterError: A model without a router, or with interfering aggregation (its
                Hadamards change the routing register's distribution).
        """
        if self.router is None:
            raise NoRouterError(f"model {self.spec.name!r} ({self.spec.kind}) has no router")
        if self.spec.routing.aggregation != "none":
            raise NoRouterError(
                f"model {self.spec.name!r} aggregates by interference: its final state does not "
                "hold the routing probabilities, so routing losses are not available"
            )
        measured = dataclasses.replace(
            self, observables=self.observables + self.router.observables, router=None
        )
        inner = circuit_network(measured, np.asarray(weights, dtype=np.float64))
        return RoutedNetwork(inner, self.num_classes)

    def network(
        self, weights: np.ndarray, circuit_network: CircuitNetworkFactory
    ) -> torch.nn.Module:
        """The circuit on the engine ``circuit_network`` stands for (outputs: expectations)."""
        return circuit_network(self, np.asarray(weights, dtype=np.float64))


def require_circuit_model(model: object, use: str = "an EstimatorQNN") -> CompiledModel:
    """``model`` itself when it is a plain circuit model (a :class:`CompiledModel`).

    A model with classical weights beyond its circuit's (a headed model's readout head, a
    hybrid model's classical experts) is refused rather than silently run without them.

    Args:
        model: The model to check.
        use: What needs the plain circuit model (for the message).

    Raises:
        NotCircuitModelError: ``model`` is not a :class:`CompiledModel`.
    """
    if isinstance(model, CompiledModel):
        return model
    kind = type(model).__name__
    circuit = getattr(model, "circuit_model", None)
    if circuit is None:
        raise NotCircuitModelError(f"{use} needs a plain circuit model (CompiledModel), got {kind}")
    extra = int(getattr(model, "num_weights", 0)) - circuit.num_weights
    name = getattr(getattr(model, "spec", None), "name", "?")
    raise NotCircuitModelError(
        f"{use} needs a plain circuit model, but {name!r} is a {kind} with {extra} classical "
        "weights after its circuit's: use model.circuit_model (weights: "
        "model.circuit_weights(w)) plus the classical part on its outputs (model.head, "
        "model.readout)"
    )
