"""One entry point from a compiled model to a trainable torch module, whatever the engine."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from .compiler import CompiledModel

if TYPE_CHECKING:  # pragma: no cover
    from .hybrid import HybridModel

__all__ = ["ENGINES", "build_network", "describe_device"]

#: Execution engines: ``"aer"`` (EstimatorQNN on qiskit-aer inside TorchConnector, the
#: reference) and ``"torch"`` (batched statevector simulation with autograd).
ENGINES = ("aer", "torch")


def build_network(
    model: CompiledModel | HybridModel,
    weights: np.ndarray | None = None,
    *,
    engine: str = "aer",
    device: str = "auto",
    seed: int = 0,
) -> torch.nn.Module:
    """A torch module mapping inputs ``(batch, features)`` to class expectations.

    A QMoE or baseline network has one parameter, ``weight``, in ``model.weight_params``
    order, whatever the engine, so checkpoints (the flat parameter vector) move between engines.
    A :class:`~qmoe_qiskit.hybrid.HybridModel` gives a
    :class:`~qmoe_qiskit.hybrid_network.HybridNetwork` (router, then linear experts) whose
    quantum router runs on the Aer QNN (``"aer"``) or on an exact torch simulation of the router
    circuit (``"torch"``); its outputs are class logits.

    Args:
        model: The compiled model.
        weights: Flat parameter vector to start from (default: freshly initialised from
            ``seed``, e.g. ``model.initial_weights(seed)``).
        engine: One of :data:`ENGINES`.
        device: ``"auto"``, ``"cpu"`` or ``"gpu"``/``"cuda"``; ``"auto"`` takes a GPU when the
            engine can use one.
        seed: Seed of the initial weights when ``weights`` is None.

    Returns:
        The module.
    """
    from .hybrid import HybridModel

    if isinstance(model, HybridModel):
        if engine not in ENGINES:
            raise ValueError(f"unknown engine {engine!r}: use one of {', '.join(ENGINES)}")
        from .hybrid_network import build_hybrid_network

        return build_hybrid_network(model, weights, engine=engine, device=device, seed=seed)
    if weights is None:
        weights = model.initial_weights(seed)
    if engine == "aer":
        from .qnn import build_torch_network

        aer_device = "gpu" if device.lower() == "cuda" else device
        return build_torch_network(model, weights, device=aer_device)
    if engine == "torch":
        from .engine import TorchStatevectorNetwork, resolve_torch_device

        return TorchStatevectorNetwork(model, weights, device=resolve_torch_device(device))
    raise ValueError(f"unknown engine {engine!r}: use one of {', '.join(ENGINES)}")


def describe_device(engine: str, device: str) -> str:
    """A one-line, human-readable statement of where the engine will run (validates it)."""
    if engine == "aer":
        from .qnn import aer_devices, resolve_device

        resolved = resolve_device("gpu" if device.lower() == "cuda" else device)
        listed = ", ".join(aer_devices())
        return f"engine aer on {resolved} (qiskit-aer devices: {listed})"
    if engine == "torch":
        from .engine import resolve_torch_device

        return f"engine torch on {resolve_torch_device(device)}"
    raise ValueError(f"unknown engine {engine!r}: use one of {', '.join(ENGINES)}")
