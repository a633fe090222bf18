"""One entry point from a compiled model to a trainable torch module, whatever the engine.

Engines know how to run a circuit; model families know how to combine circuits with classical
parts. :func:`build_network` hands the family (``model.network``) the engine's factory for
circuit modules, so no family imports an engine and no engine knows a family.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from ..errors import EngineError
from ..models import CircuitNetworkFactory, CompiledModel, Model
from ..models.diffqas import DiffQASSpace, ProbabilityFactory
from ..spec import TrainingSpec
from .devices import ENGINES, check_engine, resolve_device

#: Default working-memory budget of one Aer call, in GB (the spec's ``training.memory_gb``).
DEFAULT_MEMORY_GB: float = TrainingSpec.memory_gb

__all__ = [
    "DEFAULT_MEMORY_GB",
    "ENGINES",
    "build_network",
    "build_routing_network",
    "check_engine",
    "circuit_network_factory",
    "probability_factory",
]


def circuit_network_factory(
    engine: str, device: str = "auto", memory_gb: float = DEFAULT_MEMORY_GB
) -> CircuitNetworkFactory:
    """The factory that builds a circuit's torch module on ``engine`` and ``device``.

    Both engines give a module with one parameter, ``weight`` (float64, in
    ``model.weight_params`` order), mapping inputs ``(batch, features)`` to the observables'
    expectations ``(batch, observables)``.

    Args:
        engine: One of :data:`ENGINES`.
        device: ``"auto"``, ``"cpu"``, ``"gpu"``/``"cuda"`` or ``"cuda:N"``.
        memory_gb: Working-memory budget of one pass, in GB: one Aer call's parameter rows, or
            the states the torch engine keeps for a backward pass (beyond it, slices of the
            batch recompute them:
            :class:`~qmoe_qiskit.engines.statevector.TorchStatevectorNetwork`).

    Returns:
        ``factory(circuit_model, circuit_weights) -> nn.Module``.

    Raises:
        DeviceError: For an unknown engine or an unavailable device.
    """
    check_engine(engine)
    resolved = resolve_device(engine, device)
    if engine == "aer":
        from .aer import build_torch_network

        def aer(model: CompiledModel, weights: np.ndarray) -> torch.nn.Module:
            network = build_torch_network(model, weights, device=resolved, memory_gb=memory_gb)
            # TorchConnector stores float32 weights; keep the checkpoint's float64 values exactly.
            network.weight.data = torch.as_tensor(np.asarray(weights, dtype=np.float64))
            return network

        return aer

    from .statevector import TorchStatevectorNetwork

    def statevector(model: CompiledModel, weights: np.ndarray) -> torch.nn.Module:
        return TorchStatevectorNetwork(model, weights, device=resolved, memory_gb=memory_gb)

    return statevector


def probability_factory(engine: str, device: str = "auto") -> ProbabilityFactory:
    """The factory that simulates DiffQAS architectures on ``engine`` (generators).

    ``"torch"`` runs all architectures of a space as one batch of states
    (:class:`~qmoe_qiskit.engines.statevector.layered.TorchLayeredProbabilities`, autograd);
    ``"aer"`` runs their Qiskit circuits on Aer with exact probabilities and parameter-shift
    gradients (:class:`~qmoe_qiskit.engines.aer.probabilities.AerLayeredProbabilities`).

    Args:
        engine: One of :data:`ENGINES`.
        device: ``"auto"``, ``"cpu"``, ``"gpu"``/``"cuda"`` or ``"cuda:N"``.

    Returns:
        ``factory(space, architectures) -> nn.Module`` (angles -> probabilities).

    Raises:
        DeviceError: For an unknown engine or an unavailable device.
    """
    check_engine(engine)
    resolved = resolve_device(engine, device)
    if engine == "aer":
        from .aer.probabilities import AerLayeredProbabilities

        def aer(space: DiffQASSpace, architectures) -> torch.nn.Module:
            return AerLayeredProbabilities(space, architectures, device=resolved)

        return aer

    from .statevector.layered import TorchLayeredProbabilities

    def statevector(space: DiffQASSpace, architectures) -> torch.nn.Module:
        return TorchLayeredProbabilities(space, architectures, device=resolved)

    return statevector


def build_network(
    model: Model,
    weights: np.ndarray | None = None,
    *,
    engine: str = "aer",
    device: str = "auto",
    seed: int = 0,
    routed: bool = False,
    memory_gb: float = DEFAULT_MEMORY_GB,
    factory: CircuitNetworkFactory | None = None,
) -> torch.nn.Module:
    """A torch module mapping inputs ``(batch, features)`` to class scores ``(batch, classes)``.

    The module's parameters, flattened in order, are the model's flat weight vector, whatever
    the engine, so checkpoints move between engines. A QMoE or baseline network has one
    parameter, ``weight``, in ``model.weight_params`` order; a hybrid network is its router
    (the router circuit on the engine, or a classical router) then its linear experts.

    Args:
        model: A compiled model of any family.
        weights: Flat weights to start from (default: ``model.initial_weights(seed)``).
        engine: One of :data:`ENGINES`.
        device: ``"auto"``, ``"cpu"`` or ``"gpu"``/``"cuda"``; ``"auto"`` takes a GPU when the
            engine can use one.
        seed: Seed of the initial weights when ``weights`` is None.
        routed: Also keep each batch's routing probabilities ``P(k|x)`` in the module's
            ``last_routing`` attribute (for routing losses; see ``Model.routed_network``).
        memory_gb: Working-memory budget of one pass, in GB (one Aer call, or the states the
            torch engine keeps; results do not depend on it).
        factory: Build the circuit modules with this factory instead of the engine's (e.g.
            :func:`~qmoe_qiskit.hardware.noise_aware.noisy_network_factory`: the circuit
            transpiled for a backend, on Aer with its noise model).

    Returns:
        The module.

    Raises:
        DeviceError: For an unknown engine or an unavailable device.
        EngineError: If ``weights`` does not have ``model.num_weights`` entries.
    """
    if weights is None:
        weights = model.initial_weights(seed)
    build = model.routed_network if routed else model.network
    network = _build(model, build, weights, engine, device, memory_gb, factory)
    assert network is not None  # network() and routed_network() always build a module
    return network


def _build(
    model: Model,
    build: Callable[[np.ndarray, CircuitNetworkFactory], torch.nn.Module | None],
    weights: np.ndarray,
    engine: str,
    device: str,
    memory_gb: float,
    factory: CircuitNetworkFactory | None = None,
) -> torch.nn.Module | None:
    """``build(weights, factory)`` on the engine (or the given factory), after checking the
    weights; the module (if any) gets the input-width check."""
    if factory is None:
        factory = circuit_network_factory(engine, device, memory_gb)
    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape != (model.num_weights,):
        raise EngineError(
            f"model {model.spec.name!r} has {model.num_weights} weights, got shape {weights.shape}"
        )
    network = build(weights, factory)
    if network is not None:
        network.register_forward_pre_hook(_input_check(model))
    return network


def _input_check(model: Model):
    """A forward pre-hook that names the expected input width before any engine sees it."""
    expected = model.num_inputs

    def check(module: torch.nn.Module, args: tuple) -> None:
        x = args[0] if args else None
        shape = tuple(getattr(x, "shape", ()))
        if len(shape) != 2 or shape[1] != expected:
            raise EngineError(
                f"model {model.spec.name!r} takes inputs of shape (batch, {expected}) "
                f"({expected} features), got shape {shape}"
            )

    return check


def build_routing_network(
    model: Model,
    weights: np.ndarray,
    *,
    engine: str = "torch",
    device: str = "auto",
    memory_gb: float = DEFAULT_MEMORY_GB,
    factory: CircuitNetworkFactory | None = None,
) -> torch.nn.Module | None:
    """The model's router as a module ``(batch, features) -> (batch, experts)`` of ``P(k|x)``.

    Args:
        model: A compiled model.
        weights: Its flat weights.
        engine: One of :data:`ENGINES` (runs the router circuit, if the router is one).
        device: As for :func:`build_network`.
        memory_gb: As for :func:`build_network`.
        factory: As for :func:`build_network`.

    Returns:
        The module, or ``None`` for a model without routing (a baseline).

    Raises:
        DeviceError: For an unknown engine or an unavailable device.
        EngineError: If ``weights`` does not have ``model.num_weights`` entries.
    """
    return _build(model, model.routing_network, weights, engine, device, memory_gb, factory)
