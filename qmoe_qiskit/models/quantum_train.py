"""Quantum-Train: a QNN without inputs generates every weight of a classical network.

For a classical network with ``p`` parameters, a generator circuit on
``n = ceil(log2 p)`` qubits (:func:`qubits_for`) gives ``2**n`` basis probabilities; the first
``p`` of them, with their basis states, become the ``p`` weights through a small mapping model
(paper Sec. IV, Eq. 3-4). As in the authors' public code:

* probability ``i`` belongs to the basis state whose bits, **qubit 0 most significant**, spell
  ``i`` (the TorchQuantum / PennyLane order; Qiskit's own index has qubit 0 least significant,
  so the generator's output is reordered);
* probabilities are post-processed as ``x -> (beta tanh(gamma 2**(n-1) x))**alpha`` with the
  fixed constants ``beta = 0.8, gamma = 0.1, alpha = 0.3``, then centred (minus their mean);
* the mapping model ``M`` is ``Linear(n + 1 -> 1)`` on ``(bits as +-1, processed probability)``
  and its outputs are centred again; they are the weights, in ``named_parameters()`` order of
  the classical network, each tensor filled in row-major order;
* the classical network runs with the generated weights through
  ``torch.func.functional_call``; only the generator's angles (and structural weights) and the
  mapping model are trained.

With a DiffQAS generator of depth ``d`` this gives ``n d + 12 + (n + 2)`` trained parameters:
286 for the 108,866-parameter classifier (17 qubits, depth 15) and 135 for the 1,781-parameter
LSTM (11 qubits, depth 10), the paper's counts. After training,
:meth:`QuantumTrain.classical_state_dict` is an ordinary state dict: load it into the classical
network and no quantum code is needed.
"""

from __future__ import annotations

import copy
import math
from typing import cast

import torch
from torch import nn

from ..errors import SpecError
from .classical import count_parameters
from .diffqas import DiffQASMixture, DiffQASSpace, ProbabilityFactory

__all__ = [
    "MAPPING_INITS",
    "POST_PROCESSING",
    "QuantumTrain",
    "basis_bits",
    "qubits_for",
]

#: Initialisations of the mapping model (see :class:`QuantumTrain`).
MAPPING_INITS = ("torch", "fan-in")

#: The authors' fixed post-processing constants ``(beta, gamma, alpha)``.
POST_PROCESSING = (0.8, 0.1, 0.3)


def qubits_for(parameters: int) -> int:
    """Generator width for ``parameters`` classical weights: ``ceil(log2 p)`` (at least 1)."""
    if parameters < 1:
        raise SpecError(f"a network to generate needs at least one parameter, got {parameters}")
    return max(1, math.ceil(math.log2(parameters)))


def basis_bits(num_qubits: int, count: int) -> torch.Tensor:
    """Rows ``0..count-1`` of the basis labels as ``+-1`` ``(count, num_qubits)``, most
    significant bit (qubit 0) first: row ``i`` is the binary expansion of ``i``."""
    index = torch.arange(count)[:, None]
    shifts = torch.arange(num_qubits - 1, -1, -1)[None, :]
    return ((index >> shifts) & 1).to(torch.float64) * 2 - 1


class QuantumTrain(nn.Module):
    """A classical network whose weights a DiffQAS generator produces.

    Args:
        network: The classical network (a template: its own weights are never used or
            trained; it is copied).
        space: The generator's search space; its ``num_qubits`` must be
            ``qubits_for(count_parameters(network))``.
        probabilities: Engine factory for the generator circuits.
        seed: Seed of the generator angles and the mapping model.
        mapping_init: ``"torch"``: PyTorch's default ``nn.Linear`` initialisation of the
            mapping model (the authors' code); ``"fan-in"``: mapping weights uniform in
            ``[-b, b]`` with ``b = s sqrt(3 / n)`` and zero bias, where ``s`` is the standard
            deviation of the network's own default-initialised parameters, so the first
            generated weights have about the scale PyTorch would give the network. With
            ``"torch"`` the generated weights start about ``0.5`` in size whatever the network;
            a 784-input layer then saturates (training loss in the thousands), which
            ``"fan-in"`` avoids.
        angle_init: Initial generator angles (``DiffQASMixture``):
            ``"uniform"`` in ``[0, 2 pi)`` or ``"normal"``, ``0.01 * N(0, 1)`` (the authors').
        dtype: ``torch.float64`` (default) or ``torch.float32`` (the authors' precision) for
            the generator, the mapping model and the classical network; inputs are cast to it.

    ``forward(x)`` runs the network on ``x`` with the generated weights.
    """

    def __init__(
        self,
        network: nn.Module,
        space: DiffQASSpace,
        probabilities: ProbabilityFactory,
        *,
        seed: int = 0,
        mapping_init: str = "torch",
        angle_init: str = "uniform",
        dtype: torch.dtype = torch.float64,
    ) -> None:
        super().__init__()
        if mapping_init not in MAPPING_INITS:
            raise SpecError(f"mapping_init must be one of {MAPPING_INITS}, got {mapping_init!r}")
        self.num_classical = count_parameters(network)
        needed = qubits_for(self.num_classical)
        if space.num_qubits != needed:
            raise SpecError(
                f"a network with {self.num_classical} parameters needs a {needed}-qubit "
                f"generator (ceil(log2 p)), got {space.num_qubits} qubits"
            )
        template = copy.deepcopy(network).to(torch.float64)
        for parameter in template.parameters():
            parameter.requires_grad_(False)
        self._template = (template,)  # a tuple: not a submodule, so not trained or saved
        self.shapes = {name: tuple(p.shape) for name, p in template.named_parameters()}
        self.generator = DiffQASMixture(
            space, probabilities, seed=seed, angle_init=angle_init, dtype=dtype
        )
        self.dtype = dtype
        torch.manual_seed(seed)
        self.mapping = nn.Linear(space.num_qubits + 1, 1, dtype=torch.float64)
        n = space.num_qubits
        if mapping_init == "fan-in":
            scale = torch.cat([p.detach().reshape(-1) for p in template.parameters()]).std()
            bound = float(scale) * math.sqrt(3.0 / n)
            with torch.no_grad():
                self.mapping.weight.uniform_(-bound, bound)
                self.mapping.bias.zero_()
        # float32 models: the same draws as float64 ones, rounded (seeds compare across dtypes).
        self.mapping.to(dtype)
        template.to(dtype)
        self.register_buffer("bits", basis_bits(n, self.num_classical).to(dtype))
        # Qiskit index of the basis state whose qubit-0-first bits spell i.
        order = torch.zeros(2**n, dtype=torch.int64)
        for q in range(n):
            order |= ((torch.arange(2**n) >> (n - 1 - q)) & 1) << q
        self.register_buffer("_order", order[: self.num_classical])

    @property
    def network(self) -> nn.Module:
        """The classical network (template; its parameters are not the generated ones)."""
        return self._template[0]

    @property
    def num_trained(self) -> int:
        """Trained parameters: generator angles, structural weights, mapping model."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def compression(self) -> dict[str, int | float]:
        """Classical vs trained parameter counts (JSON-ready)."""
        space = self.generator.space
        return {
            "classical_parameters": self.num_classical,
            "trained_parameters": self.num_trained,
            "qnn_angles": space.num_theta,
            "structural_weights": space.num_structural,
            "mapping_parameters": sum(p.numel() for p in self.mapping.parameters()),
            "qubits": space.num_qubits,
            "ratio": self.num_classical / self.num_trained,
        }

    def generated_weights(self) -> torch.Tensor:
        """The ``p`` generated classical weights, flat, differentiable."""
        beta, gamma, alpha = POST_PROCESSING
        n = self.generator.space.num_qubits
        probs = self.generator()[self._order]
        x = (beta * torch.tanh(gamma * 2 ** (n - 1) * probs)) ** alpha
        x = x - x.mean()
        bits = cast(torch.Tensor, self.bits)
        kappa = self.mapping(torch.cat([bits, x[:, None]], dim=1))[:, 0]
        return kappa - kappa.mean()

    def generated_parameters(self) -> dict[str, torch.Tensor]:
        """The generated weights as ``name -> tensor`` of the classical network."""
        flat = self.generated_weights()
        out, start = {}, 0
        for name, shape in self.shapes.items():
            size = math.prod(shape)
            out[name] = flat[start : start + size].reshape(shape)
            start += size
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The classical network's output on ``x`` with the generated weights."""
        params = self.generated_parameters()
        return torch.func.functional_call(self.network, params, (x.to(self.dtype),))

    def classical_state_dict(self) -> dict[str, torch.Tensor]:
        """A plain state dict of the classical network with the generated weights."""
        with torch.no_grad():
            generated = {k: v.detach().clone() for k, v in self.generated_parameters().items()}
        state = {k: v.detach().clone() for k, v in self.network.state_dict().items()}
        state.update(generated)
        return state
