"""A circuit model followed by a trainable classical head on its class expectations.

``readout.head = "scale"`` gives ``score_c = s_c z_c + b_c`` and ``"affine"`` gives
``score = A z + b``, where ``z_c = <Z_c>`` are the circuit model's class expectations. An
expectation lies in ``[-1, 1]`` and, for a few-qubit circuit, is usually far smaller (the QMoE
paper's models read ``|<Z_c>|`` of about 0.1-0.2), so a fixed softmax temperature leaves the
cross-entropy near ``ln C``; a trainable scale lets training set the confidence per class.

The flat weight vector is the circuit's weights, then the head's: ``scale`` then ``offset``
(``"scale"``: ``C`` each), or the matrix ``A`` row-major then ``b`` (``"affine"``). Both heads
start as the identity, so an untrained headed model scores exactly as its circuit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import torch
from numpy.typing import ArrayLike
from qiskit.circuit import QuantumCircuit
from torch import nn

from ..errors import EngineError, SpecError
from ..spec import ModelSpec
from .base import CircuitNetworkFactory
from .circuit import CompiledModel

__all__ = ["HeadedModel", "HeadedNetwork", "ReadoutHead", "head_weights"]


def head_weights(head: str, classes: int) -> int:
    """Number of weights of a readout head on ``classes`` class expectations."""
    if head == "none":
        return 0
    if head == "scale":
        return 2 * classes
    if head == "affine":
        return classes * classes + classes
    raise SpecError(f"unknown readout head {head!r}: use none, scale or affine")


class ReadoutHead(nn.Module):
    """``s * z + b`` (``"scale"``) or ``z A^T + b`` (``"affine"``) on ``(batch, classes)``.

    Parameters (checkpoint order): ``"scale"``: ``scale (C,)``, ``offset (C,)``;
    ``"affine"``: ``matrix (C, C)``, ``offset (C,)``. Initialised to the identity map.
    """

    def __init__(self, head: str, classes: int) -> None:
        super().__init__()
        if head not in ("scale", "affine"):
            raise SpecError(f"unknown readout head {head!r}: use scale or affine")
        self.head = head
        if head == "scale":
            self.scale = nn.Parameter(torch.ones(classes, dtype=torch.float64))
        else:
            self.matrix = nn.Parameter(torch.eye(classes, dtype=torch.float64))
        self.offset = nn.Parameter(torch.zeros(classes, dtype=torch.float64))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        z = z.to(torch.float64)
        if self.head == "scale":
            return z * self.scale + self.offset
        return z @ self.matrix.T + self.offset


class HeadedNetwork(nn.Module):
    """A circuit module followed by a :class:`ReadoutHead`.

    Parameters are ``body.*`` then ``head.*`` (the flat weight order). When the body keeps
    routing probabilities (``last_routing``, see ``Model.routed_network``) they are passed on.
    """

    def __init__(self, body: nn.Module, head: ReadoutHead) -> None:
        super().__init__()
        self.body = body
        self.head = head

    @property
    def last_routing(self) -> torch.Tensor | None:
        """The body's routing probabilities of the last batch (routed networks only)."""
        return getattr(self.body, "last_routing", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


@dataclass(frozen=True, eq=False)
class HeadedModel:
    """A :class:`CompiledModel` (the circuit) with a trainable readout head.

    A headed model is two parts, and only the first is a circuit: :attr:`circuit_model` (the
    :class:`CompiledModel`, with ``circuit``, ``input_params``, ``weight_params`` and
    ``observables``) and the classical head (its kind :attr:`head`; :meth:`head_module` and
    :meth:`head_affine` give it with trained values). The flat weights are the circuit's, then
    the head's (:meth:`split_weights`). Anything that needs a plain circuit model (an
    ``EstimatorQNN``, :func:`~qmoe_qiskit.engines.aer.build_qnn`) takes
    :attr:`circuit_model`; passing the headed model itself is refused
    (:class:`~qmoe_qiskit.errors.NotCircuitModelError`) rather than run without its head::

        qnn = build_qnn(model.circuit_model)
        circuit_w, head_w = model.split_weights(weights)
        z = qnn.forward(x, circuit_w)                   # (rows, classes) expectations
        scores = model.readout(z, x, weights)           # = z @ A.T + b
        matrix, offset = model.head_affine(weights)     # A, b

    Attributes:
        circuit: The compiled circuit model; it runs on simulators and QPUs unchanged.
        head: The head's kind, ``"scale"`` or ``"affine"`` (see :class:`ReadoutHead`).
    """

    circuit: CompiledModel
    head: str

    def __post_init__(self) -> None:
        head_weights(self.head, self.circuit.num_classes)  # validates the name

    @property
    def spec(self) -> ModelSpec:
        """The validated spec."""
        return self.circuit.spec

    @property
    def num_head_weights(self) -> int:
        """Weights of the head alone."""
        return head_weights(self.head, self.num_classes)

    @property
    def weight_groups(self) -> Mapping[str, tuple[int, int]]:
        """The circuit's weight groups, then ``head``."""
        start = self.circuit.num_weights
        groups = dict(self.circuit.weight_groups)
        groups["head"] = (start, start + self.num_head_weights)
        return MappingProxyType(groups)

    @property
    def num_inputs(self) -> int:
        """Input features."""
        return self.circuit.num_inputs

    @property
    def num_weights(self) -> int:
        """Circuit weights plus head weights."""
        return self.circuit.num_weights + self.num_head_weights

    @property
    def num_classes(self) -> int:
        """Class scores."""
        return self.circuit.num_classes

    @property
    def num_experts(self) -> int:
        """Experts of the circuit's router (0 for a baseline)."""
        return self.circuit.num_experts

    @property
    def circuit_model(self) -> CompiledModel:
        """The circuit part: a plain :class:`CompiledModel` (what an ``EstimatorQNN`` runs)."""
        return self.circuit

    def circuit_weights(self, weights: ArrayLike) -> np.ndarray:
        """The circuit part of the flat weights."""
        return np.asarray(weights, dtype=np.float64)[: self.circuit.num_weights]

    def split_weights(self, weights: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """The flat weights as ``(circuit weights, head weights)``.

        Raises:
            EngineError: ``weights`` does not have :attr:`num_weights` entries.
        """
        weights = np.asarray(weights, dtype=np.float64)
        if weights.shape != (self.num_weights,):
            raise EngineError(f"expected {self.num_weights} weights, got shape {weights.shape}")
        split = self.circuit.num_weights
        return weights[:split], weights[split:]

    def head_affine(self, weights: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """The head as ``(A, b)`` with ``scores = z @ A.T + b`` (``A`` diagonal for ``scale``).

        Args:
            weights: The model's flat weights (circuit, then head).
        """
        w = self.split_weights(weights)[1]
        c = self.num_classes
        if self.head == "scale":
            return np.diag(w[:c]), w[c:]
        return w[: c * c].reshape(c, c), w[c * c :]

    def head_module(self, weights: ArrayLike | None = None) -> ReadoutHead:
        """The head as a torch module ``(batch, classes) -> (batch, classes)``.

        Args:
            weights: The model's flat weights (circuit, then head); default: the identity head
                of :meth:`initial_weights`.
        """
        head = ReadoutHead(self.head, self.num_classes)
        if weights is not None:
            values = torch.as_tensor(self.split_weights(weights)[1])
            nn.utils.vector_to_parameters(values, head.parameters())
        return head

    def readout(self, expectations: ArrayLike, inputs: ArrayLike, weights: ArrayLike) -> np.ndarray:
        """Class scores: the head applied to the class expectations ``(rows, classes)``."""
        matrix, offset = self.head_affine(weights)
        z = np.asarray(expectations, dtype=np.float64)[:, : self.num_classes]
        return z @ matrix.T + offset

    def initial_weights(self, seed: int) -> np.ndarray:
        """The circuit's seeded weights, then the identity head."""
        c = self.num_classes
        if self.head == "scale":
            head = np.concatenate([np.ones(c), np.zeros(c)])
        else:
            head = np.concatenate([np.eye(c).ravel(), np.zeros(c)])
        return np.concatenate([self.circuit.initial_weights(seed), head])

    def bind(self, inputs: ArrayLike, weights: ArrayLike) -> QuantumCircuit:
        """The circuit with one input vector and the circuit weights bound."""
        return self.circuit.bind(inputs, self.circuit_weights(weights))

    def summary(self) -> dict[str, int | str]:
        """The circuit's resource summary, with the head and the total weight count."""
        out = self.circuit.summary()
        out.update(
            num_weights=self.num_weights,
            circuit_weights=self.circuit.num_weights,
            head=self.head,
            head_weights=self.num_head_weights,
        )
        return out

    def describe(self) -> list[str]:
        """The circuit's stages, then the head."""
        c = self.num_classes
        head = (
            f"{c} scales + {c} offsets" if self.head == "scale" else f"{c}x{c} matrix + {c} offsets"
        )
        return [*self.circuit.describe(), f"head: {self.head} ({head}, trainable)"]

    def _headed(self, body: nn.Module, weights: ArrayLike) -> HeadedNetwork:
        return HeadedNetwork(body, self.head_module(weights))

    def network(self, weights: ArrayLike, circuit_network: CircuitNetworkFactory) -> nn.Module:
        """The circuit on the engine, then the head."""
        body = self.circuit.network(self.circuit_weights(weights), circuit_network)
        return self._headed(body, weights)

    def routed_network(
        self, weights: ArrayLike, circuit_network: CircuitNetworkFactory
    ) -> HeadedNetwork:
        """:meth:`network` that keeps each batch's ``P(k|x)`` (see
        :meth:`CompiledModel.routed_network`)."""
        body = self.circuit.routed_network(self.circuit_weights(weights), circuit_network)
        return self._headed(body, weights)

    def routing_network(
        self, weights: ArrayLike, circuit_network: CircuitNetworkFactory
    ) -> nn.Module | None:
        """The circuit's router module, or ``None`` for a baseline."""
        return self.circuit.routing_network(self.circuit_weights(weights), circuit_network)
