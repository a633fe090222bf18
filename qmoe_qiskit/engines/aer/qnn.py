"""The QNN layer: compiled circuit -> ``EstimatorQNN`` on qiskit-aer -> ``TorchConnector``."""

from __future__ import annotations

import logging

import numpy as np
from qiskit import QuantumCircuit
from qiskit.quantum_info import SparsePauliOp
from qiskit_aer.noise import NoiseModel
from qiskit_aer.primitives import EstimatorV2 as AerEstimator
from qiskit_machine_learning.connectors import TorchConnector
from qiskit_machine_learning.gradients import BaseEstimatorGradient, ParamShiftEstimatorGradient
from qiskit_machine_learning.neural_networks import EstimatorQNN

from ...errors import EngineError
from ...models import CompiledModel, require_circuit_model
from ..devices import resolve_aer_device
from .budget import DEFAULT_MEMORY_GB, ChunkedEstimator
from .gradients import BatchedParamShiftEstimatorGradient

__all__ = [
    "aer_estimator",
    "build_qnn",
    "build_torch_network",
]

log = logging.getLogger(__name__)

GRADIENTS = ("batched", "param-shift")


def aer_estimator(
    device: str = "auto",
    seed: int | None = None,
    memory_gb: float = DEFAULT_MEMORY_GB,
    noise_model: NoiseModel | None = None,
) -> ChunkedEstimator:
    """Aer's ``EstimatorV2`` for exact expectation values, within a memory budget.

    Args:
        device: See :func:`~qmoe_qiskit.engines.devices.resolve_aer_device`.
        seed: Simulator seed (only matters for non-zero precision).
        memory_gb: Working-memory budget of one Aer call, in GB (larger PUBs are split).
        noise_model: Simulate under this noise model, exactly, with Aer's density-matrix
            method (default: ideal, statevector).

    Returns:
        Aer's estimator with ``default_precision=0`` (exact) on the resolved device, wrapped
        in a :class:`~qmoe_qiskit.engines.aer.budget.ChunkedEstimator`.
    """
    resolved = resolve_aer_device(device)
    method = "statevector" if noise_model is None else "density_matrix"
    backend_options: dict[str, object] = {"method": method, "device": resolved}
    if noise_model is not None:
        backend_options["noise_model"] = noise_model
    if resolved == "CPU":
        backend_options["max_parallel_experiments"] = 0  # parameter sets in parallel over cores
    if seed is not None:
        backend_options["seed_simulator"] = seed
    estimator = AerEstimator(options={"default_precision": 0.0, "backend_options": backend_options})
    return ChunkedEstimator(estimator, memory_gb, density_matrix=noise_model is not None)


def build_qnn(
    model: CompiledModel,
    *,
    device: str = "auto",
    gradient: str = "batched",
    input_gradients: bool = False,
    estimator=None,
    memory_gb: float = DEFAULT_MEMORY_GB,
    circuit: QuantumCircuit | None = None,
    observables: list[SparsePauliOp] | None = None,
) -> EstimatorQNN:
    """An ``EstimatorQNN`` computing the class observables of ``model`` on Aer.

    The circuit is the model's decomposed circuit (Aer's ``EstimatorV2`` does not transpile),
    or ``circuit`` with ``observables`` (e.g. the model transpiled for a backend, with its
    observables mapped by the layout, for noise-aware training). The QNN's weights are
    ``model.weight_params`` in order; it plugs into qiskit-machine-learning as any QNN does
    (``TorchConnector``, ``NeuralNetworkClassifier``, ...).

    Only a plain circuit model has a QNN: for a headed model (a ``qmoe-*`` preset with a
    readout head) build it from ``model.circuit_model`` and apply the head
    (``model.readout``, ``model.head_module``) to its outputs.

    Args:
        model: The compiled circuit model (a :class:`~qmoe_qiskit.models.CompiledModel`).
        device: Aer device (``"auto"``, ``"cpu"``, ``"gpu"``).
        gradient: ``"batched"`` (:class:`BatchedParamShiftEstimatorGradient`, one Aer call per
            backward pass) or ``"param-shift"`` (qiskit-machine-learning's default).
        input_gradients: Compute gradients with respect to the inputs too; needed only when a
            trainable layer feeds the circuit's inputs.
        estimator: Use this V2 estimator instead of Aer's.
        memory_gb: Working-memory budget of one Aer call, in GB (forward and gradient calls
            are split to fit it).
        circuit: Run this circuit instead (same input and weight parameters).
        observables: Its observables (required with ``circuit``).

    Returns:
        The QNN with ``output_shape == (classes,)``.

    Raises:
        NotCircuitModelError: ``model`` has classical weights beyond its circuit's (a headed
            or hybrid model): use ``model.circuit_model`` plus the classical part.
        EngineError: An unknown gradient, ``circuit`` without ``observables`` (or the other
            way round), a circuit whose parameters are not the model's, or observables of
            another width.
    """
    model = require_circuit_model(model, "build_qnn")
    if (circuit is None) != (observables is None):
        raise EngineError("circuit and observables are given together")
    if gradient not in GRADIENTS:
        raise EngineError(f"unknown gradient {gradient!r}: use one of {', '.join(GRADIENTS)}")
    circuit = model.decomposed if circuit is None else circuit
    observables = list(model.observables if observables is None else observables)
    known = {p.name for p in (*model.input_params, *model.weight_params)}
    unknown = sorted(p.name for p in circuit.parameters if p.name not in known)
    if unknown:
        raise EngineError(f"circuit parameters that are not the model's: {unknown[:5]}")
    widths = {SparsePauliOp(o).num_qubits for o in observables}
    if widths - {circuit.num_qubits}:
        raise EngineError(
            f"observables act on {sorted(widths)} qubits, the circuit has {circuit.num_qubits}"
        )
    estimator = estimator if estimator is not None else aer_estimator(device, memory_gb=memory_gb)
    grad: BaseEstimatorGradient
    if gradient == "batched":
        grad = BatchedParamShiftEstimatorGradient(estimator, memory_gb=memory_gb)
    else:
        grad = ParamShiftEstimatorGradient(estimator)
    return EstimatorQNN(
        circuit=circuit,
        estimator=estimator,
        observables=observables,
        input_params=list(model.input_params),
        weight_params=list(model.weight_params),
        gradient=grad,
        input_gradients=input_gradients,
        default_precision=0.0,
    )


def build_torch_network(
    model: CompiledModel,
    weights: np.ndarray | None = None,
    *,
    device: str = "auto",
    gradient: str = "batched",
    input_gradients: bool = False,
    memory_gb: float = DEFAULT_MEMORY_GB,
) -> TorchConnector:
    """The model as a torch module: ``TorchConnector(EstimatorQNN)``.

    Its ``weight`` parameter holds the weights in ``model.weight_params`` order, so checkpoints
    are plain arrays.

    Args:
        model: The compiled circuit model (see :func:`build_qnn`).
        weights: Initial weights (default: ``model.initial_weights(0)``).
        device: Aer device.
        gradient: See :func:`build_qnn`.
        input_gradients: See :func:`build_qnn`.
        memory_gb: See :func:`build_qnn`.

    Returns:
        A module mapping inputs ``(batch, features)`` to class expectations ``(batch, classes)``.
    """
    qnn = build_qnn(
        model,
        device=device,
        gradient=gradient,
        input_gradients=input_gradients,
        memory_gb=memory_gb,
    )
    if weights is None:
        weights = model.initial_weights(0)
    return TorchConnector(qnn, initial_weights=np.asarray(weights, dtype=float))
