"""Engines: where a compiled model's circuit runs, as a trainable torch module.

- :mod:`.aer`: ``EstimatorQNN`` on qiskit-aer inside ``TorchConnector`` (the reference), with our
  batched parameter-shift gradient;
- :mod:`.statevector`: our exact batched statevector simulation in torch (autograd, CPU or CUDA).

:func:`build_network` is the one entry point; engine names are compared nowhere else.
"""

from .devices import (
    ENGINES,
    NOISY_ENGINES,
    check_engine,
    describe_device,
    resolve_device,
    torch_devices,
)
from .network import (
    build_network,
    build_routing_network,
    circuit_network_factory,
    probability_factory,
)

__all__ = [
    "ENGINES",
    "NOISY_ENGINES",
    "build_network",
    "build_routing_network",
    "check_engine",
    "circuit_network_factory",
    "probability_factory",
    "describe_device",
    "resolve_device",
    "torch_devices",
]
