"""Accuracy from shots on a fake backend's noise, for static and dynamic circuits alike.

Where :func:`~qmoe_qiskit.hardware.noise.noisy_accuracy` computes exact noisy expectations (a
density matrix, no shots), this runs what hardware runs: the ISA circuit (for measured routing
the dynamic one: routing register measured mid-circuit, one expert per shot), the logical qubits
measured at the end, a number of shots per input on Aer's sampler with the backend's noise model
(gate errors, relaxation, readout). Class expectations are estimated from the counts and go
through the model's readout (its head), so a QMoE with measured routing and a baseline are
scored the same way.

Both the circuit and the noise model are restricted to the qubits the circuit uses first (as
for the exact noisy evaluation); mid-circuit measurements and feed-forward keep their clbits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from qiskit import QuantumCircuit

from ..circuits import ROUTE_BITS, branch_circuits
from ..models import Model, circuit_of
from .backends import get_fake_backend
from .noise import noise_model_for, restrict_noise
from .submit import measured_circuit, parameter_table
from .transpile import TranspiledModel, load_profile, transpile_model

__all__ = ["SampledEvaluation", "compact_circuit", "sampled_accuracy", "sampled_expectations"]


@dataclass(frozen=True)
class SampledEvaluation:
    """Ideal and noisy accuracy from shots, and what one shot costs.

    Attributes:
        backend: Fake backend name.
        profile: Transpile profile.
        test_size: Inputs evaluated.
        shots: Shots per input.
        ideal_accuracy: Accuracy from shots without noise (shot noise only).
        noisy_accuracy: Accuracy from shots under the backend's noise model.
        two_qubit_gates_max: Two-qubit gates of the costliest shot (ISA circuit).
        two_qubit_gates_mean: Two-qubit gates per shot, averaged over the noisy shots (for a
            dynamic circuit, each branch weighted by how often the noisy shots took it).
        depth_max: Depth of the costliest shot.
        branch_share: For a dynamic circuit, the fraction of noisy shots per branch
            (key: the routing bits, as in :func:`~qmoe_qiskit.circuits.branch_circuits`).
    """

    backend: str
    profile: str
    test_size: int
    shots: int
    ideal_accuracy: float
    noisy_accuracy: float
    two_qubit_gates_max: int
    two_qubit_gates_mean: float
    depth_max: int
    branch_share: dict[str, float]


def compact_circuit(circuit: QuantumCircuit) -> tuple[QuantumCircuit, dict[int, int]]:
    """The circuit on its active qubits only, clbits and feed-forward kept.

    Returns:
        The compact circuit and the map from device qubit to compact qubit.
    """
    active = sorted({circuit.find_bit(q).index for inst in circuit.data for q in inst.qubits})
    index = {old: new for new, old in enumerate(active)}
    compact = QuantumCircuit(len(active), global_phase=circuit.global_phase, name=circuit.name)
    for creg in circuit.cregs:
        compact.add_register(creg)
    for inst in circuit.data:
        qubits = [index[circuit.find_bit(q).index] for q in inst.qubits]
        compact.append(inst.operation, qubits, inst.clbits)
    return compact, index


def sampled_expectations(
    model: Model,
    weights: np.ndarray,
    x: np.ndarray,
    backend: str | Any,
    *,
    noisy: bool = True,
    shots: int = 1000,
    profile: str = "default",
    seed: int = 0,
    transpiled: TranspiledModel | None = None,
) -> tuple[np.ndarray, dict[str, int], TranspiledModel]:
    """Class expectations estimated from shots of the model's ISA execution circuit.

    Args:
        model: The compiled model.
        weights: Its flat weights.
        x: Inputs ``(rows, features)``.
        backend: Fake backend (name or object).
        noisy: Simulate the backend's noise model (else: shot noise only).
        shots: Shots per input.
        profile: Transpile profile.
        seed: Simulator seed.
        transpiled: The model already transpiled for ``backend`` (default: transpile it).

    Returns:
        ``(rows, observables)`` expectations, the routing-bit counts over all shots (empty for
        a circuit without mid-circuit measurement), and the transpiled model.
    """
    from qiskit_aer.primitives import SamplerV2

    if isinstance(backend, str):
        backend = get_fake_backend(backend)
    program = circuit_of(model)
    x = np.atleast_2d(np.asarray(x, dtype=float))
    if transpiled is None:
        transpiled = transpile_model(model, backend, load_profile(profile))
    circuit, index = compact_circuit(measured_circuit(transpiled.circuit, program.num_qubits))
    table = parameter_table(
        circuit, program.input_params, program.weight_params, x, model.circuit_weights(weights)
    )
    options: dict[str, Any] = {"seed_simulator": seed}
    if noisy:
        options["noise_model"] = restrict_noise(noise_model_for(backend), index)
    sampler = SamplerV2(default_shots=shots, options={"backend_options": options})
    data = sampler.run([(circuit, table)]).result()[0].data
    evs = np.stack(
        [np.asarray(data.meas.expectation_values(o), dtype=float) for o in program.observables]
    ).T.reshape(len(x), -1)
    branches: dict[str, int] = {}
    if hasattr(data, ROUTE_BITS):
        for key, count in getattr(data, ROUTE_BITS).get_counts().items():
            branches[key] = branches.get(key, 0) + count
    return evs, branches, transpiled


def sampled_accuracy(
    model: Model,
    weights: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    backend: str | Any,
    *,
    shots: int = 1000,
    profile: str = "default",
    seed: int = 0,
) -> SampledEvaluation:
    """Ideal and noisy accuracy of a trained model from shots of its execution circuit.

    Args:
        model: The compiled model (``qmoe`` coherent or measured, or ``baseline``).
        weights: Its flat trained weights.
        x: Inputs ``(rows, features)``.
        y: Labels ``(rows,)``.
        backend: Fake backend (name or object): basis, coupling map and noise model.
        shots: Shots per input.
        profile: Transpile profile (the same for every model compared).
        seed: Simulator seed.

    Returns:
        The :class:`SampledEvaluation`.

    Raises:
        NoCircuitError: The model has no circuit.
        TranspileError: Unknown backend or profile, a backend too small or without dynamic
            circuits for a measured-routing model.
    """
    if isinstance(backend, str):
        backend = get_fake_backend(backend)
    x, y = np.atleast_2d(np.asarray(x, dtype=float)), np.asarray(y)
    weights = np.asarray(weights, dtype=float)
    common: dict[str, Any] = {"shots": shots, "profile": profile, "seed": seed}
    ideal_evs, _, transpiled = sampled_expectations(
        model, weights, x, backend, noisy=False, **common
    )
    noisy_evs, branches, _ = sampled_expectations(
        model, weights, x, backend, noisy=True, transpiled=transpiled, **common
    )
    ideal = model.readout(ideal_evs, x, weights).argmax(axis=1)
    noisy = model.readout(noisy_evs, x, weights).argmax(axis=1)
    branch_of = branch_circuits(transpiled.circuit)
    costs = {
        key: sum(1 for inst in branch.data if inst.operation.num_qubits == 2)
        for key, branch in branch_of.items()
    }
    depth = max(branch.depth() for branch in branch_of.values())
    total = sum(branches.values())
    share = {key: count / total for key, count in sorted(branches.items())} if total else {}
    mean = sum(costs[k] * p for k, p in share.items()) if share else float(max(costs.values()))
    return SampledEvaluation(
        backend=transpiled.backend_name,
        profile=transpiled.profile.name,
        test_size=len(y),
        shots=shots,
        ideal_accuracy=float(np.mean(ideal == y)),
        noisy_accuracy=float(np.mean(noisy == y)),
        two_qubit_gates_max=max(costs.values()),
        two_qubit_gates_mean=float(mean),
        depth_max=int(depth),
        branch_share=share,
    )
