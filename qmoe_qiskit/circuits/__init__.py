"""Pure circuit builders: each returns a plain :class:`~qiskit.circuit.QuantumCircuit`."""

from .ansatz import entangler_circuit, expert_circuit, routing_circuit, weights_per_layer
from .drawing import staged_circuit
from .encoder import encoder_circuit, encoder_layers
from .experts import controlled_experts_circuit, multiplexed_experts_circuit
from .multiplexer import multiplexed_rotation_circuit
from .observables import (
    basis_projectors,
    class_observables,
    expert_projectors,
    state_projector,
    zero_projector,
)
from .router import quantum_router_circuit, router_weights

__all__ = [
    "basis_projectors",
    "class_observables",
    "controlled_experts_circuit",
    "encoder_circuit",
    "encoder_layers",
    "entangler_circuit",
    "expert_circuit",
    "expert_projectors",
    "multiplexed_experts_circuit",
    "multiplexed_rotation_circuit",
    "quantum_router_circuit",
    "router_weights",
    "routing_circuit",
    "staged_circuit",
    "state_projector",
    "weights_per_layer",
    "zero_projector",
]
