"""Fast exact engine: compiled circuits as batched, fused statevector simulation in torch.

The Aer path (:mod:`qmoe_qiskit.engines.aer`) stays the reference; this engine runs the same
decomposed circuit, with the same weight order, at statevector speed on CPU or CUDA.
"""

from .allocator import retain_freed_memory
from .fusion import Block, ExecutionPlan, Step, choose_block_qubits, fuse_gates, plan_execution
from .lowering import EngineError, Gate, GateProgram, lower_circuit
from .network import TorchStatevectorNetwork
from .observables import ObservableTable, observable_table

__all__ = [
    "Block",
    "EngineError",
    "ExecutionPlan",
    "Gate",
    "GateProgram",
    "ObservableTable",
    "Step",
    "TorchStatevectorNetwork",
    "choose_block_qubits",
    "fuse_gates",
    "lower_circuit",
    "observable_table",
    "plan_execution",
    "retain_freed_memory",
]
