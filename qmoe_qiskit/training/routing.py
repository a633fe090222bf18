"""Is the mixture a mixture? Routing probabilities per input and how they depend on the class.

For a model with a router (QMoE: the routing register after encoder and routing ansatz; hybrid:
the quantum or classical router), ``P(k|x)`` is the probability that input ``x`` switches expert
``k`` on. Over a labelled set this gives:

- the class x expert matrix ``M[c, k]`` = mean of ``P(k|x)`` over the inputs of class ``c``;
- each class's routing entropy ``H(M[c, :])`` in bits (0: the class always uses one expert;
  ``log2 K``: it spreads evenly), and the mean per-input entropy ``H(P(.|x))``;
- the mutual information ``I(class; expert) = H(E) - H(E | C)`` in bits, with
  ``P(c)`` the class frequencies and ``P(e) = sum_c P(c) M[c, e]``: 0 when routing ignores the
  class, up to ``min(log2 C, log2 K)`` when every class has its own expert;
- the fraction of inputs whose most likely expert has ``P > 0.5``.

How much routing *can* depend on the class is bounded before any training: the routing ansatz
acts on the routing register alone after the encoder, and the experts do not change that
register's distribution, so ``I(class; expert)`` can never exceed the Holevo information
``chi = S(sum_c p_c rho_c) - sum_c p_c S(rho_c)`` of the class-mean states ``rho_c`` of the
routing register right after the encoder (:func:`routing_information_bound`).

Rows of ``P`` that sum to less than 1 (routing states that switch no expert on) are normalised
over the experts for the entropies and the mutual information; the missing mass is reported.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from ..engines import build_routing_network
from ..errors import NoRouterError, TrainingError
from ..models import Model, circuit_of

__all__ = [
    "RoutingStats",
    "routing_information_bound",
    "routing_probabilities",
    "routing_stats",
]


def routing_probabilities(
    model: Model,
    weights: np.ndarray,
    x: np.ndarray,
    *,
    engine: str = "torch",
    device: str = "auto",
    batch_size: int = 512,
    memory_gb: float | None = None,
) -> np.ndarray:
    """``P(k|x)`` for every row of ``x``: ``(rows, experts)``.

    ``memory_gb`` is the Aer call budget (default: the model spec's ``training.memory_gb``).

    Raises:
        NoRouterError: The model has no router (a baseline).
    """
    budget = model.spec.training.memory_gb if memory_gb is None else memory_gb
    network = build_routing_network(model, weights, engine=engine, device=device, memory_gb=budget)
    if network is None:
        raise NoRouterError(f"model {model.spec.name!r} ({model.spec.kind}) has no router")
    out = []
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            rows = torch.as_tensor(np.asarray(x[start : start + batch_size]), dtype=torch.float64)
            out.append(network(rows).detach().cpu().double().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0))


def _entropy(p: np.ndarray, axis: int = -1) -> np.ndarray:
    p = np.clip(p, 0.0, None)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, -p * np.log2(np.where(p > 0, p, 1.0)), 0.0)
    return terms.sum(axis=axis)


@dataclass(frozen=True)
class RoutingStats:
    """Routing of a labelled set (see the module docstring).

    Attributes:
        matrix: ``(classes, experts)`` mean ``P(k|x)`` per class (rows sum to at most 1).
        class_entropy: ``(classes,)`` entropy of each class's mean routing, bits.
        mean_input_entropy: Mean over inputs of ``H(P(.|x))``, bits.
        mutual_information: ``I(class; expert)``, bits.
        top_fraction: Fraction of inputs whose most likely expert has ``P > 0.5``.
        unrouted: Mean probability of routing states that switch no expert on.
        class_counts: Inputs per class.
    """

    matrix: np.ndarray
    class_entropy: np.ndarray
    mean_input_entropy: float
    mutual_information: float
    top_fraction: float
    unrouted: float
    class_counts: np.ndarray

    def to_dict(self) -> dict[str, object]:
        """JSON-ready values."""
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, np.ndarray):
                out[key] = value.tolist()
        return out


def routing_stats(probs: np.ndarray, labels: np.ndarray, num_classes: int) -> RoutingStats:
    """Class x expert matrix, entropies, mutual information and top-expert fraction.

    Args:
        probs: ``(rows, experts)`` routing probabilities.
        labels: ``(rows,)`` classes ``0..num_classes-1``.
        num_classes: Number of classes.

    Returns:
        The :class:`RoutingStats`.
    """
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    if probs.ndim != 2 or len(probs) != len(labels) or not len(labels):
        raise TrainingError(
            f"routing statistics need (rows, experts) probabilities and one label per row, got "
            f"shapes {probs.shape} and {labels.shape}"
        )
    mass = probs.sum(axis=1, keepdims=True)
    normalised = probs / np.where(mass > 0, mass, 1.0)
    counts = np.bincount(labels, minlength=num_classes)
    matrix = np.zeros((num_classes, probs.shape[1]))
    normalised_matrix = np.zeros_like(matrix)
    for c in range(num_classes):
        if counts[c]:
            matrix[c] = probs[labels == c].mean(axis=0)
            normalised_matrix[c] = normalised[labels == c].mean(axis=0)
    prior = counts / counts.sum()
    marginal = prior @ normalised_matrix
    conditional = float(np.sum(prior * _entropy(normalised_matrix)))
    mutual = float(_entropy(marginal) - conditional)
    return RoutingStats(
        matrix=matrix,
        class_entropy=_entropy(normalised_matrix),
        mean_input_entropy=float(_entropy(normalised).mean()),
        mutual_information=max(0.0, mutual),
        top_fraction=float(np.mean(probs.max(axis=1) > 0.5)),
        unrouted=float(np.mean(1.0 - mass)),
        class_counts=counts,
    )


def _von_neumann_bits(rho: np.ndarray) -> float:
    values = np.clip(np.linalg.eigvalsh(rho), 0.0, None)
    values = values[values > 1e-15]
    return float(-(values * np.log2(values)).sum())


def routing_information_bound(
    model: Model, x: np.ndarray, labels: np.ndarray, num_classes: int
) -> float | None:
    """Holevo bound on ``I(class; expert)`` for any routing ansatz, from the encoder alone.

    For every input the encoder stage is simulated (``Statevector``) and the routing register's
    reduced state ``rho(x)`` is taken; ``rho_c`` is its mean over class ``c``. Whatever unitary
    the routing ansatz applies to the routing register, the expert probabilities are a
    measurement of it, so ``I(class; expert) <= chi = S(sum_c p_c rho_c) - sum_c p_c S(rho_c)``.

    Args:
        model: A ``qmoe`` model.
        x: Inputs ``(rows, features)``.
        labels: Their classes ``0..num_classes-1``.
        num_classes: Number of classes.

    Returns:
        ``chi`` in bits, or ``None`` when the bound does not apply (no routing register, or a
        router that re-uploads the input between its trainable layers).
    """
    from qiskit.quantum_info import Statevector

    if model.spec.kind != "qmoe" or model.spec.routing.reupload:
        return None
    program = circuit_of(model)
    route = list(program.route_qubits)
    if not route or route != list(range(len(route))) or "encoder" not in program.stages:
        return None
    dim = 2 ** len(route)
    encoder = program.stages["encoder"]
    sums = np.zeros((num_classes, dim, dim), dtype=complex)
    counts = np.zeros(num_classes)
    for row, label in zip(np.asarray(x, dtype=float), np.asarray(labels), strict=True):
        bound = encoder.assign_parameters(dict(zip(program.input_params, row, strict=True)))
        psi = Statevector(bound).data.reshape(-1, dim)  # rows: other qubits; columns: routing
        sums[int(label)] += psi.T @ psi.conj()
        counts[int(label)] += 1
    present = counts > 0
    p = counts[present] / counts.sum()
    means = sums[present] / counts[present, None, None]
    total = np.einsum("c,cij->ij", p, means)
    return _von_neumann_bits(total) - float(
        sum(pc * _von_neumann_bits(rho) for pc, rho in zip(p, means, strict=True))
    )
