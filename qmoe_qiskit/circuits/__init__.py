"""Pure circuit builders: each returns a plain :class:`~qiskit.circuit.QuantumCircuit`."""

from .ansatz import entangler_circuit, expert_circuit, routing_circuit, weights_per_layer
from .encoder import encoder_circuit, encoder_layers
from .experts import controlled_experts_circuit, multiplexed_experts_circuit
from .multiplexer import multiplexed_rotation_circuit

__all__ = [
    "controlled_experts_circuit",
    "encoder_circuit",
    "encoder_layers",
    "entangler_circuit",
    "expert_circuit",
    "multiplexed_experts_circuit",
    "multiplexed_rotation_circuit",
    "routing_circuit",
    "weights_per_layer",
]
