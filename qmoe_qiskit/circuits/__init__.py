"""Pure circuit builders: each returns a plain :class:`~qiskit.circuit.QuantumCircuit`."""

from .ansatz import (
    Reupload,
    entangler_circuit,
    expert_circuit,
    layer_reupload,
    routing_circuit,
    weights_per_layer,
)
from .branches import branch_circuits, condition_bits, is_dynamic, shot_costs
from .couplings import coupling_circuit, coupling_weights
from .diffqas import (
    CANDIDATES,
    Candidate,
    candidate_circuit,
    candidate_weights,
    constant_candidates,
    diffqas_entangler,
    equivalent_candidates,
)
from .drawing import staged_circuit
from .encoder import encoder_circuit, encoder_layers
from .experts import (
    ROUTE_BITS,
    controlled_experts_circuit,
    measured_experts_circuit,
    multiplexed_experts_circuit,
)
from .multiplexer import multiplexed_rotation_circuit
from .observables import (
    basis_projectors,
    class_observables,
    expert_projectors,
    state_projector,
    zero_projector,
)
from .reupload import reupload_weights, trainable_reupload_circuit
from .router import quantum_router_circuit, router_weights

__all__ = [
    "CANDIDATES",
    "ROUTE_BITS",
    "Candidate",
    "Reupload",
    "basis_projectors",
    "branch_circuits",
    "candidate_circuit",
    "candidate_weights",
    "class_observables",
    "condition_bits",
    "constant_candidates",
    "equivalent_candidates",
    "controlled_experts_circuit",
    "coupling_circuit",
    "coupling_weights",
    "diffqas_entangler",
    "encoder_circuit",
    "encoder_layers",
    "entangler_circuit",
    "expert_circuit",
    "expert_projectors",
    "is_dynamic",
    "layer_reupload",
    "measured_experts_circuit",
    "multiplexed_experts_circuit",
    "multiplexed_rotation_circuit",
    "quantum_router_circuit",
    "reupload_weights",
    "router_weights",
    "routing_circuit",
    "shot_costs",
    "staged_circuit",
    "trainable_reupload_circuit",
    "state_projector",
    "weights_per_layer",
    "zero_projector",
]
