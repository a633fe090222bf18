"""The Aer engine: ``EstimatorQNN`` on qiskit-aer inside ``TorchConnector``, batched gradients."""

from .gradients import BatchedParamShiftEstimatorGradient
from .qnn import aer_estimator, build_qnn, build_torch_network

__all__ = [
    "BatchedParamShiftEstimatorGradient",
    "aer_estimator",
    "build_qnn",
    "build_torch_network",
]
