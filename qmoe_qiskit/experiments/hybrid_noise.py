"""Accuracy of a trained hybrid model when its quantum router runs on a noisy Aer simulator.

Two noise settings:

- :func:`depolarizing_noise_model`: depolarizing error ``eps`` after every one-qubit gate and
  ``eps`` (two-qubit channel) after every two-qubit gate. The router circuit is run as written
  (``n`` embedding RYs, ``L x n`` trainable RYs, ``L x (n-1)`` CZs: every gate is noisy) with
  exact density-matrix expectations of the basis-state projectors (no shot noise).
- :func:`fake_backend_routing`: the router transpiled to a fake IBM backend and sampled on
  ``AerSimulator.from_backend`` (the backend's gate, relaxation and readout errors), with shots.

The noisy routing probabilities then weight the (classical, noiseless) linear experts.
"""

from __future__ import annotations

import numpy as np
from qiskit import ClassicalRegister, transpile
from qiskit_aer import AerSimulator
from qiskit_aer.noise import NoiseModel, depolarizing_error
from qiskit_aer.primitives import EstimatorV2 as AerEstimator

from ..errors import NoCircuitError
from ..hardware import get_fake_backend, parameter_table
from ..models import HybridModel

__all__ = [
    "FAKE_BACKENDS",
    "depolarizing_noise_model",
    "fake_backend_routing",
    "noisy_accuracy",
    "noisy_routing",
]

ONE_QUBIT_GATES = ("ry", "rx", "rz", "h", "x", "sx", "u", "u3")
TWO_QUBIT_GATES = ("cz", "cx", "ecr")
#: Fake backends of the study: a 5-qubit Falcon (CX) and a 133-qubit Heron (CZ).
FAKE_BACKENDS = ("FakeManilaV2", "FakeTorino")


def depolarizing_noise_model(eps: float) -> NoiseModel:
    """Depolarizing error ``eps`` on every one- and two-qubit gate.

    Args:
        eps: Error parameter of :func:`qiskit_aer.noise.depolarizing_error` (same value for the
            one-qubit and the two-qubit channel).

    Returns:
        The noise model.
    """
    model = NoiseModel(basis_gates=list(ONE_QUBIT_GATES + TWO_QUBIT_GATES))
    model.add_all_qubit_quantum_error(depolarizing_error(eps, 1), list(ONE_QUBIT_GATES))
    model.add_all_qubit_quantum_error(depolarizing_error(eps, 2), list(TWO_QUBIT_GATES))
    return model


def noisy_routing(
    model: HybridModel, weights: np.ndarray, x: np.ndarray, noise_model: NoiseModel | None
) -> np.ndarray:
    """Routing probabilities ``(samples, experts)`` of the router circuit on Aer.

    Args:
        model: A hybrid model with a quantum router.
        weights: Its flat weights.
        x: Inputs ``(samples, features)``.
        noise_model: Aer noise model, or ``None`` for the ideal circuit.

    Returns:
        Exact (density-matrix) expectations of the basis-state projectors.
    """
    if model.router is None:
        raise NoCircuitError("noise applies to a quantum router only")
    circuit = model.router.circuit
    options = {"method": "density_matrix"}
    if noise_model is not None:
        options["noise_model"] = noise_model
    estimator = AerEstimator(options={"default_precision": 0.0, "backend_options": options})
    observables = [[op] for op in model.router.observables]
    router = model.router
    theta = model.circuit_weights(weights)
    values = parameter_table(circuit, router.input_params, router.weight_params, x, theta)
    result = estimator.run([(circuit, observables, values)]).result()[0]
    return np.asarray(result.data.evs, dtype=float).T


def fake_backend_routing(
    model: HybridModel,
    weights: np.ndarray,
    x: np.ndarray,
    backend,
    *,
    shots: int = 2048,
    seed: int = 0,
) -> np.ndarray:
    """Routing probabilities estimated from shots on a noisy simulation of ``backend``.

    The router circuit (routing qubits measured) is transpiled once to the backend
    (optimization level 1, fixed seed), then bound per sample.

    Args:
        model: A hybrid model with a quantum router.
        weights: Flat weights.
        x: Inputs ``(samples, features)``.
        backend: A (fake) backend or its name; its noise model includes readout errors.
        shots: Shots per sample.
        seed: Transpiler and simulator seed.

    Returns:
        Empirical probabilities ``(samples, experts)``.
    """
    if isinstance(backend, str):
        backend = get_fake_backend(backend)
    router = model.router
    if router is None:
        raise NoCircuitError(f"model {model.spec.name!r} has no quantum router to sample")
    m = len(router.route_qubits)
    circuit = router.circuit.copy()
    creg = ClassicalRegister(m, "route")
    circuit.add_register(creg)
    circuit.measure(list(router.route_qubits), creg)
    simulator = AerSimulator.from_backend(backend, seed_simulator=seed)
    compiled = transpile(circuit, backend, optimization_level=1, seed_transpiler=seed)
    theta = model.circuit_weights(weights)
    values = parameter_table(compiled, router.input_params, router.weight_params, x, theta)
    bound = [compiled.assign_parameters(row) for row in values]
    counts = simulator.run(bound, shots=shots).result().get_counts()
    if isinstance(counts, dict):
        counts = [counts]
    probs = np.zeros((len(bound), 2**m))
    for i, c in enumerate(counts):
        for key, value in c.items():
            probs[i, int(key.replace(" ", ""), 2)] += value
    return probs / shots


def noisy_accuracy(
    model: HybridModel,
    weights: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    noise_model: NoiseModel | None,
) -> float:
    """Test accuracy with the router run on Aer under ``noise_model`` (exact expectations)."""
    probs = noisy_routing(model, weights, x, noise_model)
    logits = model.readout(probs, x, weights)
    return float(np.mean(np.argmax(logits, axis=1) == np.asarray(y)))
