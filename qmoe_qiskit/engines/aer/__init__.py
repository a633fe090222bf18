"""The Aer engine: ``EstimatorQNN`` on qiskit-aer inside ``TorchConnector``, batched gradients."""

from .budget import DEFAULT_MEMORY_GB, ChunkedEstimator, rows_per_call
from .gradients import SHIFTABLE_GATES, BatchedParamShiftEstimatorGradient
from .qnn import aer_estimator, build_qnn, build_torch_network

__all__ = [
    "DEFAULT_MEMORY_GB",
    "SHIFTABLE_GATES",
    "BatchedParamShiftEstimatorGradient",
    "ChunkedEstimator",
    "aer_estimator",
    "build_qnn",
    "build_torch_network",
    "rows_per_call",
]
