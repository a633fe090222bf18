"""Torch modules of the hybrid QMoE: routers and the mixture of linear experts.

:func:`build_hybrid_network` is what :func:`qmoe_qiskit.network.build_network` calls for a
:class:`~qmoe_qiskit.hybrid.HybridModel`. The quantum router runs on

- ``engine="aer"``: the router's ``EstimatorQNN`` (basis-state projectors as observables) on
  qiskit-aer inside ``TorchConnector`` (the reference), or
- ``engine="torch"``: :class:`QuantumRouterTorch`, an exact batched statevector simulation of the
  router circuit in torch with autograd. RY and CZ have real matrices, so the state is real and
  each layer is ``n`` two-row rotations and one sign flip; this is tested against
  ``qiskit.quantum_info.Statevector`` and against the Aer QNN.

Every engine gives a module with the same parameters in the same order, so the flat checkpoint
vector moves between engines.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import torch
from torch import nn

from .hybrid import HybridModel

__all__ = [
    "HybridNetwork",
    "LinearExperts",
    "MLPRouter",
    "QuantumRouterTorch",
    "build_hybrid_network",
    "build_router",
]


class QuantumRouterTorch(nn.Module):
    """Exact statevector simulation of the hybrid quantum router (RY embedding, RY + CZ layers).

    Amplitude index ``sum_q b_q 2^q`` follows Qiskit's little-endian order.

    Args:
        num_qubits: ``n`` (= input features).
        layers: ``L``.
        num_route: Measured qubits ``m`` (``0..m-1``); the output has ``2**m`` probabilities.
        weights: ``L x n`` initial angles, layer-major.
    """

    def __init__(self, num_qubits: int, layers: int, num_route: int, weights: np.ndarray) -> None:
        super().__init__()
        self.num_qubits = num_qubits
        self.layers = layers
        self.num_route = num_route
        values = torch.as_tensor(np.asarray(weights, dtype=np.float64).copy())
        if values.numel() != layers * num_qubits:
            raise ValueError(f"expected {layers * num_qubits} weights, got {values.numel()}")
        self.weight = nn.Parameter(values)
        index = torch.arange(2**num_qubits)
        bits = [(index >> q) & 1 for q in range(num_qubits)]
        parity = torch.zeros_like(index)
        for q in range(num_qubits - 1):
            parity = parity + bits[q] * bits[q + 1]
        self.register_buffer("cz_signs", (1 - 2 * (parity % 2)).to(torch.float64))

    def extra_repr(self) -> str:
        return f"qubits={self.num_qubits}, layers={self.layers}, route_qubits={self.num_route}"

    def _ry(self, state: torch.Tensor, qubit: int, angle: torch.Tensor) -> torch.Tensor:
        batch = state.shape[0]
        view = state.reshape(batch, -1, 2, 2**qubit)
        a0, a1 = view[:, :, 0, :], view[:, :, 1, :]
        c, s = torch.cos(angle / 2), torch.sin(angle / 2)
        return torch.stack((c * a0 - s * a1, s * a0 + c * a1), dim=2).reshape(batch, -1)

    def amplitudes(self, x: torch.Tensor) -> torch.Tensor:
        """Real amplitudes ``(batch, 2**n)`` of ``U(theta)|psi(x)>``."""
        x = x.to(self.weight.dtype)
        batch, n = x.shape[0], self.num_qubits
        state = torch.ones(batch, 1, dtype=x.dtype, device=x.device)
        for q in reversed(range(n)):  # qubit 0 ends up the fastest-varying (least significant)
            local = torch.stack((torch.cos(x[:, q] / 2), torch.sin(x[:, q] / 2)), dim=1)
            state = (state[:, :, None] * local[:, None, :]).reshape(batch, -1)
        for layer in range(self.layers):
            for q in range(n):
                state = self._ry(state, q, self.weight[layer * n + q])
            state = state * self.cz_signs
        return state

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Routing probabilities ``(batch, 2**m)``: marginals of the routing qubits."""
        probs = self.amplitudes(x) ** 2
        return probs.reshape(x.shape[0], -1, 2**self.num_route).sum(dim=1)


class AerQuantumRouter(nn.Module):
    """The router's ``EstimatorQNN`` on Aer (``TorchConnector``); outputs the projectors' values.

    Its single parameter ``weight`` is in ``route[i]`` order, as in :class:`QuantumRouterTorch`.
    """

    def __init__(self, model: HybridModel, weights: np.ndarray, device: str = "auto") -> None:
        super().__init__()
        from .qnn import build_torch_network

        aer_device = "gpu" if device.lower() == "cuda" else device
        self.connector = build_torch_network(model.router, weights, device=aer_device)
        # TorchConnector stores float32 weights; keep the checkpoint's float64 values exactly.
        self.connector.weight.data = torch.as_tensor(np.asarray(weights, dtype=np.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.connector(x).to(torch.float64)


class MLPRouter(nn.Module):
    """``softmax`` over experts of affine layers ``sizes`` with ReLU between them.

    With ``sizes = (features, experts)`` this is the linear router ``softmax(A x + c)``.
    """

    def __init__(self, sizes: tuple[int, ...]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i, (fan_in, fan_out) in enumerate(pairwise(sizes)):
            if i:
                layers.append(nn.ReLU())
            layers.append(nn.Linear(fan_in, fan_out, dtype=torch.float64))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.net(x.to(torch.float64)), dim=1)


class LinearExperts(nn.Module):
    """``experts`` affine maps ``W_k x + b_k`` to ``classes`` logits, stacked.

    Attributes:
        weight: ``(experts, classes, features)``.
        bias: ``(experts, classes)``.
    """

    def __init__(self, experts: int, classes: int, features: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(experts, classes, features, dtype=torch.float64))
        self.bias = nn.Parameter(torch.zeros(experts, classes, dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Every expert's output ``(batch, experts, classes)``."""
        return torch.einsum("kcf,bf->bkc", self.weight, x.to(torch.float64)) + self.bias


class HybridNetwork(nn.Module):
    """``y = sum_k P(k|x) (W_k x + b_k)``: a router module and :class:`LinearExperts`.

    Parameters are ``router.*`` then ``experts.weight``, ``experts.bias`` (the checkpoint order).
    """

    def __init__(self, router: nn.Module, experts: LinearExperts) -> None:
        super().__init__()
        self.router = router
        self.experts = experts

    def routing(self, x: torch.Tensor) -> torch.Tensor:
        """Routing probabilities ``(batch, experts)``."""
        return self.router(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(torch.float64)
        probs = self.router(x)
        return torch.einsum("bk,bkc->bc", probs, self.experts(x))


def build_router(
    model: HybridModel, router_weights: np.ndarray, *, engine: str = "torch", device: str = "auto"
) -> nn.Module:
    """The router module of ``model`` with the given router weights.

    Args:
        model: The compiled hybrid model.
        router_weights: The ``route`` slice of the flat weights.
        engine: ``"aer"`` or ``"torch"`` (a classical router is torch either way).
        device: Aer device for ``engine="aer"``; the torch modules run on the CPU.

    Returns:
        A module mapping ``(batch, features)`` to routing probabilities ``(batch, experts)``.
    """
    router_weights = np.asarray(router_weights, dtype=np.float64)
    if model.router is not None:
        if engine == "aer":
            return AerQuantumRouter(model, router_weights, device)
        if engine == "torch":
            spec = model.spec
            return QuantumRouterTorch(
                spec.encoder.features, spec.routing.layers, spec.num_route_qubits, router_weights
            )
        raise ValueError(f"unknown engine {engine!r}: use 'aer' or 'torch'")
    router = MLPRouter(model.router_sizes)
    torch.nn.utils.vector_to_parameters(torch.as_tensor(router_weights), router.parameters())
    return router


def build_hybrid_network(
    model: HybridModel,
    weights: np.ndarray | None = None,
    *,
    engine: str = "torch",
    device: str = "auto",
    seed: int = 0,
) -> HybridNetwork:
    """The hybrid model as a torch module mapping ``(batch, features)`` to ``(batch, classes)``.

    Args:
        model: The compiled hybrid model.
        weights: Flat weights (router, experts' weights, experts' biases); default
            ``model.initial_weights(seed)``.
        engine: ``"aer"`` (quantum router on the Aer QNN) or ``"torch"`` (exact torch simulation).
        device: Aer device (``"auto"``, ``"cpu"``, ``"gpu"``).
        seed: Seed of the initial weights when ``weights`` is None.

    Returns:
        The :class:`HybridNetwork`.
    """
    if weights is None:
        weights = model.initial_weights(seed)
    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape != (model.num_weights,):
        raise ValueError(f"expected {model.num_weights} weights, got shape {weights.shape}")
    start, stop = model.weight_groups["route"]
    router = build_router(model, weights[start:stop], engine=engine, device=device)
    experts = LinearExperts(model.num_experts, model.num_classes, model.num_inputs)
    start = model.weight_groups["experts.weight"][0]
    torch.nn.utils.vector_to_parameters(torch.as_tensor(weights[start:]), experts.parameters())
    return HybridNetwork(router, experts)
