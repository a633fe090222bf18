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
import torch
from qiskit import ClassicalRegister, QuantumCircuit, transpile
from qiskit_aer import AerSimulator
from qiskit_aer.noise import NoiseModel, depolarizing_error
from qiskit_aer.primitives import EstimatorV2 as AerEstimator

from .hybrid import HybridModel
from .hybrid_network import build_hybrid_network

__all__ = [
    "FAKE_BACKENDS",
    "depolarizing_noise_model",
    "fake_backend",
    "fake_backend_routing",
    "noisy_accuracy",
    "noisy_routing",
    "predict_with_routing",
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


def _values(circuit: QuantumCircuit, model: HybridModel, x: np.ndarray, theta: np.ndarray):
    """Parameter values ``(samples, circuit.num_parameters)`` in ``circuit.parameters`` order."""
    router = model.router
    index = {p: ("x", i) for i, p in enumerate(router.input_params)}
    index.update({p: ("w", i) for i, p in enumerate(router.weight_params)})
    columns = []
    for param in circuit.parameters:
        kind, i = index[param]
        columns.append(x[:, i] if kind == "x" else np.full(len(x), theta[i]))
    return np.stack(columns, axis=1)


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
        raise ValueError("noise applies to a quantum router only")
    start, stop = model.weight_groups["route"]
    circuit = model.router.circuit
    options = {"method": "density_matrix"}
    if noise_model is not None:
        options["noise_model"] = noise_model
    estimator = AerEstimator(options={"default_precision": 0.0, "backend_options": options})
    observables = [[op] for op in model.router.observables]
    values = _values(circuit, model, np.asarray(x, dtype=float), np.asarray(weights)[start:stop])
    result = estimator.run([(circuit, observables, values)]).result()[0]
    return np.asarray(result.data.evs, dtype=float).T


def fake_backend(name: str):
    """An instance of the fake IBM backend ``name`` from ``qiskit_ibm_runtime.fake_provider``."""
    from qiskit_ibm_runtime import fake_provider

    return getattr(fake_provider, name)()


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
        backend: A (fake) backend; its noise model includes readout errors.
        shots: Shots per sample.
        seed: Transpiler and simulator seed.

    Returns:
        Empirical probabilities ``(samples, experts)``.
    """
    router = model.router
    m = len(router.route_qubits)
    circuit = router.circuit.copy()
    creg = ClassicalRegister(m, "route")
    circuit.add_register(creg)
    circuit.measure(list(router.route_qubits), creg)
    simulator = AerSimulator.from_backend(backend, seed_simulator=seed)
    compiled = transpile(circuit, backend, optimization_level=1, seed_transpiler=seed)
    start, stop = model.weight_groups["route"]
    values = _values(compiled, model, np.asarray(x, dtype=float), np.asarray(weights)[start:stop])
    bound = [compiled.assign_parameters(row) for row in values]
    counts = simulator.run(bound, shots=shots).result().get_counts()
    if isinstance(counts, dict):
        counts = [counts]
    probs = np.zeros((len(bound), 2**m))
    for i, c in enumerate(counts):
        for key, value in c.items():
            probs[i, int(key.replace(" ", ""), 2)] += value
    return probs / shots


def predict_with_routing(model: HybridModel, weights: np.ndarray, x: np.ndarray, probs):
    """Class logits ``sum_k probs[:, k] (W_k x + b_k)`` with the model's (noiseless) experts."""
    network = build_hybrid_network(model, weights, engine="torch")
    with torch.no_grad():
        experts = network.experts(torch.as_tensor(np.asarray(x, dtype=float)))
        routed = torch.as_tensor(np.asarray(probs, dtype=float))
        return torch.einsum("bk,bkc->bc", routed, experts).numpy()


def noisy_accuracy(
    model: HybridModel,
    weights: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    noise_model: NoiseModel | None,
) -> float:
    """Test accuracy with the router run on Aer under ``noise_model`` (exact expectations)."""
    probs = noisy_routing(model, weights, x, noise_model)
    logits = predict_with_routing(model, weights, x, probs)
    return float(np.mean(np.argmax(logits, axis=1) == np.asarray(y)))
