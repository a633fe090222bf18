"""DiffQAS: a differentiable search over the 12 DiffQAS-QT candidate circuits.

A search space (:class:`DiffQASSpace`) stacks ``layers`` ensemble layers; ensemble layer ``m``
chooses one of ``candidates`` (paper indices, :data:`~qmoe_qiskit.circuits.diffqas.CANDIDATES`)
and runs it with ``depth`` circuit layers on angles ``Theta_m`` that every candidate of that
layer shares. An *architecture* is one choice per ensemble layer; its circuit is the chosen
candidates' circuits one after the other (:meth:`DiffQASSpace.circuit`).

:class:`DiffQASMixture` is the search itself: with structural logits ``a[m, j]`` and
``w[m] = softmax(a[m])``, its output is

    P(Theta, a) = sum over architectures (j_1, ..., j_M) of  prod_m w[m, j_m] * P_(j_1..j_M)(Theta)

where ``P_arch`` is the architecture's vector of ``2**n`` basis probabilities. With one
ensemble layer (the paper's setting, ``layers = 1``) this is the paper's Eq. (7),
``sum_j w_j VQC_j(Theta)``, with ``N = 12`` structural weights; with ``M`` layers there are
``N x M`` structural weights (paper Sec. V) and ``N**M`` architectures, which is why ``M`` is
kept small (:data:`MAX_ARCHITECTURES`). The paper does not say how ``w`` is normalised; we use a
softmax of learnable logits, initialised to zero (all candidates equal).

Architectures whose probabilities do not depend on ``Theta`` (see
:func:`~qmoe_qiskit.circuits.diffqas.constant_candidates`) are found numerically when the
mixture is built, reported by :attr:`DiffQASMixture.constant_architectures`, and evaluated once.

Circuits are simulated by whatever engine the caller passes as a :data:`ProbabilityFactory`
(``qmoe_qiskit.engines.probability_factory``), so this module imports no engine.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
import torch
from qiskit.circuit import ParameterVector, QuantumCircuit
from torch import nn

from ..circuits.diffqas import CANDIDATES, candidate_circuit
from ..errors import EngineError, SpecError

__all__ = [
    "ANGLE_INITS",
    "MAX_ARCHITECTURES",
    "DiffQASMixture",
    "DiffQASSpace",
    "ProbabilityFactory",
]

#: Builds the module that simulates some architectures of a space:
#: ``factory(space, architectures)`` returns a module mapping the shared angles
#: ``(space.num_theta,)`` to probabilities ``(len(architectures), 2**n)`` (Qiskit index order),
#: differentiable in the angles. Engines provide it
#: (``qmoe_qiskit.engines.probability_factory``).
ProbabilityFactory = Callable[["DiffQASSpace", Sequence[tuple[int, ...]]], nn.Module]

#: Most architectures (``len(candidates) ** layers``) a mixture may enumerate.
MAX_ARCHITECTURES = 256

#: Initialisations of the shared angles (see :class:`DiffQASMixture`).
ANGLE_INITS = ("uniform", "normal")

#: Real dtypes a mixture computes in (states in the matching complex dtype).
DTYPES = (torch.float64, torch.float32)


@dataclass(frozen=True)
class DiffQASSpace:
    """A DiffQAS search space (what the search chooses between).

    Attributes:
        num_qubits: Register width.
        depth: Circuit layers of each candidate (the paper's "QNN depth").
        candidates: Paper indices (1..12) allowed in every ensemble layer; one index fixes the
            architecture (a "Config j" baseline: no structural weights).
        layers: Stacked ensemble layers ``M``.
    """

    num_qubits: int
    depth: int
    candidates: tuple[int, ...] = tuple(range(1, 13))
    layers: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.num_qubits, int) or self.num_qubits < 1:
            raise SpecError(f"num_qubits must be a positive integer, got {self.num_qubits!r}")
        if not isinstance(self.depth, int) or self.depth < 1:
            raise SpecError(f"depth must be a positive integer, got {self.depth!r}")
        if not isinstance(self.layers, int) or self.layers < 1:
            raise SpecError(f"layers must be a positive integer, got {self.layers!r}")
        candidates = tuple(self.candidates)
        if not candidates:
            raise SpecError("candidates must name at least one of 1..12")
        bad = [c for c in candidates if not isinstance(c, int) or not 1 <= c <= len(CANDIDATES)]
        if bad:
            raise SpecError(f"candidates must be integers in 1..12, got {bad}")
        if len(set(candidates)) != len(candidates):
            raise SpecError(f"candidates must not repeat, got {list(candidates)}")
        object.__setattr__(self, "candidates", candidates)
        if self.num_architectures > MAX_ARCHITECTURES:
            raise SpecError(
                f"{len(candidates)} candidates in {self.layers} ensemble layers make "
                f"{self.num_architectures} architectures (at most {MAX_ARCHITECTURES}); "
                "use fewer layers or candidates"
            )

    @property
    def searching(self) -> bool:
        """Whether there is anything to choose (more than one candidate)."""
        return len(self.candidates) > 1

    @property
    def num_theta(self) -> int:
        """Shared circuit angles: ``layers x depth x num_qubits``."""
        return self.layers * self.depth * self.num_qubits

    @property
    def num_structural(self) -> int:
        """Structural weights: ``layers x len(candidates)`` when searching, else 0."""
        return self.layers * len(self.candidates) if self.searching else 0

    @property
    def num_weights(self) -> int:
        """Trainable weights of the search: angles plus structural weights."""
        return self.num_theta + self.num_structural

    @property
    def weight_shapes(self) -> dict[str, tuple[int, ...]]:
        """Shape of each trainable tensor (``theta``; ``logits`` when searching)."""
        shapes: dict[str, tuple[int, ...]] = {"theta": (self.layers, self.depth, self.num_qubits)}
        if self.searching:
            shapes["logits"] = (self.layers, len(self.candidates))
        return shapes

    @property
    def num_architectures(self) -> int:
        """Architectures the mixture sums over: ``len(candidates) ** layers``."""
        return len(self.candidates) ** self.layers

    def architectures(self) -> list[tuple[int, ...]]:
        """Every architecture, as one paper index per ensemble layer, in product order."""
        return list(itertools.product(self.candidates, repeat=self.layers))

    def circuit(self, architecture: Sequence[int], theta: Sequence | None = None) -> QuantumCircuit:
        """The circuit of one architecture.

        Args:
            architecture: One paper index per ensemble layer.
            theta: ``num_theta`` angles (parameters or numbers), ensemble layer ``m`` using
                ``theta[m * depth * n : (m + 1) * depth * n]``; default a fresh
                ``ParameterVector("theta", num_theta)``.

        Returns:
            The candidates' circuits composed in order.
        """
        architecture = tuple(architecture)
        if len(architecture) != self.layers:
            raise SpecError(
                f"an architecture names one candidate per layer ({self.layers}), got "
                f"{list(architecture)}"
            )
        if theta is None:
            theta = ParameterVector("theta", self.num_theta)
        if len(theta) != self.num_theta:
            raise EngineError(f"expected {self.num_theta} angles, got {len(theta)}")
        per = self.depth * self.num_qubits
        circuit = QuantumCircuit(self.num_qubits, name="-".join(map(str, architecture)))
        for m, index in enumerate(architecture):
            block = candidate_circuit(
                index, self.num_qubits, theta[m * per : (m + 1) * per], self.depth
            )
            circuit.compose(block, inplace=True)
        return circuit


class DiffQASMixture(nn.Module):
    """The search: structural weights over architectures that share one angle vector.

    Args:
        space: The search space.
        probabilities: Engine factory that simulates architectures of ``space``.
        seed: Seed of the initial angles; logits start at 0.
        constant_trials: Random angle vectors used to find constant architectures.
        angle_init: ``"uniform"``: angles uniform in ``[0, 2 pi)``; ``"normal"``: angles
            ``0.01 * N(0, 1)``, as the authors' Quantum-Train code initialises its QNN (every
            circuit then starts near the identity: probability close to 1 on ``|0...0>``).
        dtype: ``torch.float64`` (default) or ``torch.float32`` for the angles, structural
            weights and probabilities (states in complex128 or complex64; the authors' code
            runs in float32). Constant architectures are found in float64 either way.

    Attributes:
        theta: The shared angles ``(num_theta,)``, ensemble layer major, then circuit layer,
            then qubit.
        logits: Structural logits ``(layers, len(candidates))`` (only when searching).
        constant_architectures: Architectures whose output does not depend on ``theta``.

    ``forward()`` returns the mixed probabilities ``(2**n,)`` in Qiskit index order.
    """

    def __init__(
        self,
        space: DiffQASSpace,
        probabilities: ProbabilityFactory,
        *,
        seed: int = 0,
        constant_trials: int = 3,
        angle_init: str = "uniform",
        dtype: torch.dtype = torch.float64,
    ) -> None:
        super().__init__()
        if angle_init not in ANGLE_INITS:
            raise SpecError(f"angle_init must be one of {ANGLE_INITS}, got {angle_init!r}")
        if dtype not in DTYPES:
            raise SpecError(f"dtype must be torch.float64 or torch.float32, got {dtype}")
        self.space = space
        self.dtype = dtype
        generator = torch.Generator().manual_seed(seed)
        draw = torch.rand if angle_init == "uniform" else torch.randn
        theta = draw(space.num_theta, generator=generator, dtype=torch.float64)
        theta = 2 * math.pi * theta if angle_init == "uniform" else 0.01 * theta
        self.theta = nn.Parameter(theta.to(dtype))
        if space.searching:
            self.logits = nn.Parameter(torch.zeros(space.weight_shapes["logits"], dtype=dtype))
        self.architectures = space.architectures()
        everything = probabilities(space, self.architectures)
        rng = np.random.default_rng(seed + 7919)
        draws = rng.uniform(0, 2 * np.pi, size=(constant_trials + 1, space.num_theta))
        with torch.no_grad():
            outs = torch.stack([everything(torch.as_tensor(w)) for w in draws])
        fixed = (outs - outs[:1]).abs().amax(dim=(0, 2)) <= 1e-10
        self._constant = [i for i in range(len(self.architectures)) if fixed[i]]
        self._varying = [i for i in range(len(self.architectures)) if not fixed[i]]
        self.constant_architectures = tuple(self.architectures[i] for i in self._constant)
        self.register_buffer("_fixed", outs[0, self._constant].detach().to(dtype).clone())
        varying = [self.architectures[i] for i in self._varying]
        self.simulator = probabilities(space, varying) if varying else None

    def structural_weights(self) -> torch.Tensor:
        """``w = softmax(logits)`` per ensemble layer, ``(layers, len(candidates))``."""
        if not self.space.searching:
            return torch.ones(self.space.layers, 1, dtype=self.dtype)
        return torch.softmax(self.logits, dim=-1)

    def architecture_weights(self) -> torch.Tensor:
        """Weight of every architecture (products of structural weights), summing to 1."""
        w = self.structural_weights()
        total = w[0]
        for m in range(1, self.space.layers):
            total = (total[:, None] * w[m][None, :]).reshape(-1)
        return total

    def forward(self) -> torch.Tensor:
        """The mixed basis probabilities ``(2**n,)``."""
        weights = self.architecture_weights()
        out = torch.zeros((), dtype=weights.dtype, device=weights.device)
        if self._constant:
            out = weights[self._constant] @ cast(torch.Tensor, self._fixed)
        if self.simulator is not None:
            out = out + weights[self._varying] @ self.simulator(self.theta).to(self.dtype)
        return out

    def derived(self) -> tuple[int, ...]:
        """The argmax architecture: the most weighted candidate of each ensemble layer."""
        with torch.no_grad():
            best = self.structural_weights().argmax(dim=-1).tolist()
        return tuple(self.space.candidates[j] for j in best)
