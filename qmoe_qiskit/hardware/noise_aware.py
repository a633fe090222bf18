"""Noise-aware training: the circuit as a backend runs it, on Aer with the backend's noise model.

:func:`noisy_network_factory` builds, for each circuit model a family hands it, the model
transpiled for the backend (the same ISA circuit ``qmoe evaluate --noise`` scores) as an
``EstimatorQNN`` on Aer's density-matrix method with the backend's noise model, the class
observables scaled by its readout errors. Outputs are the exact noisy expectations (what
:func:`~qmoe_qiskit.hardware.noise.noisy_expectations` computes), and the gradients are exact
for them too:

* after transpilation every trainable angle sits in a rotation gate (``rz`` on IBM devices),
  whose expectation is a degree-1 trigonometric polynomial in the angle;
* an Aer noise model attaches to a gate a channel chosen by the gate's name and qubits, never by
  its angle (IBM's ``rz`` is virtual and carries none; relaxation follows gate durations, which
  do not depend on angles either), so the noisy expectation stays such a polynomial and the
  two-term parameter-shift rule is exact;
* readout errors scale each ``Z`` by ``1 - 2 e_q``, a constant.

:func:`shift_rule_report` checks the first two points on a transpiled circuit and its noise
model; tests compare the gradients with finite differences of the noisy expectation.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..engines.aer import SHIFTABLE_GATES, aer_estimator, build_qnn
from ..engines.network import DEFAULT_MEMORY_GB
from ..errors import HardwareError
from ..models import CircuitNetworkFactory, CompiledModel
from .noise import noise_model_for, noisy_program, readout_errors
from .transpile import TranspiledModel, load_profile, transpile_model

__all__ = ["ShiftRuleReport", "noisy_network_factory", "shift_rule_report"]


@dataclass(frozen=True)
class ShiftRuleReport:
    """Where the trainable angles of a transpiled circuit sit, and what noise they carry.

    Attributes:
        gates: Parameterized gate name -> count in the circuit.
        noisy_gates: Parameterized gate names the noise model attaches a channel to (on some
            of their qubits).
        exact: Every parameterized gate obeys the two-term shift rule of the gradient
            (:data:`~qmoe_qiskit.engines.aer.SHIFTABLE_GATES`); the noise channels
            of a noise model never depend on angles, so the shift rule is then exact.
    """

    gates: dict[str, int]
    noisy_gates: tuple[str, ...]
    exact: bool


def shift_rule_report(transpiled: TranspiledModel, noise_model: Any) -> ShiftRuleReport:
    """Check that parameter shifts differentiate the noisy expectation exactly.

    Args:
        transpiled: The model's ISA circuit.
        noise_model: The Aer noise model it runs under.
    """
    gates: dict[str, int] = {}
    noisy = set()
    local = getattr(noise_model, "_local_quantum_errors", {})
    default = getattr(noise_model, "_default_quantum_errors", {})
    circuit = transpiled.circuit
    for inst in circuit.data:
        op = inst.operation
        if not any(getattr(p, "parameters", None) for p in op.params):
            continue
        gates[op.name] = gates.get(op.name, 0) + 1
        qubits = tuple(circuit.find_bit(q).index for q in inst.qubits)
        if op.name in default or qubits in local.get(op.name, {}):
            noisy.add(op.name)
    return ShiftRuleReport(
        gates=gates,
        noisy_gates=tuple(sorted(noisy)),
        exact=all(name in SHIFTABLE_GATES for name in gates),
    )


def noisy_network_factory(
    backend: Any,
    profile: str = "default",
    *,
    memory_gb: float = DEFAULT_MEMORY_GB,
    noise_model: Any = None,
) -> CircuitNetworkFactory:
    """Circuit modules that run as ``backend`` would: transpiled, noisy, exact.

    Args:
        backend: A fake backend (its coupling, basis gates and noise model are used).
        profile: Transpile profile.
        memory_gb: Working-memory budget of one Aer call, in GB.
        noise_model: Override the backend's noise model.

    Returns:
        ``factory(circuit_model, weights) -> nn.Module`` for
        :func:`~qmoe_qiskit.engines.build_network` (``factory=``). A model with measured
        routing is trained on its coherent circuit (the same expectations).

    Raises:
        TranspileError: The backend is too small, or the profile unknown.
        HardwareError: A parameterized gate the shift rule does not cover.
    """
    noise = noise_model_for(backend) if noise_model is None else noise_model
    readout = readout_errors(noise)
    chosen = load_profile(profile)

    def factory(model: CompiledModel, weights: np.ndarray) -> torch.nn.Module:
        from qiskit_machine_learning.connectors import TorchConnector

        coherent = dataclasses.replace(model, dynamic_circuit=None)
        transpiled = transpile_model(coherent, backend, chosen)
        report = shift_rule_report(transpiled, noise)
        if not report.exact:
            raise HardwareError(
                f"trainable angles in {sorted(report.gates)} on {backend.name}: the "
                "parameter-shift rule covers rotation gates only"
            )
        circuit, observables, compact = noisy_program(transpiled, noise, readout)
        qnn = build_qnn(
            model,
            estimator=aer_estimator("cpu", memory_gb=memory_gb, noise_model=compact),
            memory_gb=memory_gb,
            circuit=circuit,
            observables=observables,
        )
        network = TorchConnector(qnn, initial_weights=np.asarray(weights, dtype=float))
        network.weight.data = torch.as_tensor(np.asarray(weights, dtype=np.float64))
        return network

    return factory
