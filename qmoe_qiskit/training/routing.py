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

How much routing *can* depend on the class is bounded before any training, by a ceiling that
depends on the router's design (:func:`routing_information_bound`): when the routing ansatz acts
on the routing register alone after the encoder (the paper's design), ``I(class; expert)`` can
never exceed the Holevo information ``chi = S(sum_c p_c rho_c) - sum_c p_c S(rho_c)`` of the
class-mean states ``rho_c`` of the routing register right after the encoder; a router that
reads the data register is capped by both registers' Holevo information; a router that
re-uploads the input only by ``min(log2 K, H(class))``.

Rows of ``P`` that sum to less than 1 (routing states that switch no expert on) are normalised
over the experts for the entropies and the mutual information; the missing mass is reported.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch

from ..engines import build_routing_network
from ..errors import NoRouterError, TrainingError
from ..models import Model, circuit_of

__all__ = [
    "RoutingBound",
    "RoutingStats",
    "expert_specialisation",
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


def expert_specialisation(
    probs: np.ndarray, labels: np.ndarray, predictions: np.ndarray, num_classes: int
) -> list[dict[str, object]]:
    """Per expert: the classes it serves and the model's accuracy on the inputs routed to it.

    An input is routed to its most likely expert (``argmax_k P(k|x)``, what a measured-routing
    shot does most often).

    Args:
        probs: ``(rows, experts)`` routing probabilities.
        labels: ``(rows,)`` true classes.
        predictions: ``(rows,)`` the model's predicted classes.
        num_classes: Number of classes.

    Returns:
        One dict per expert: ``expert``, ``inputs`` (routed to it), ``share`` (of all inputs),
        ``classes`` (fraction of its inputs per class), ``top_class``, ``top_class_share``
        and ``accuracy`` (``None`` when no input is routed to it).
    """
    probs, labels = np.asarray(probs), np.asarray(labels, dtype=np.int64)
    predictions = np.asarray(predictions, dtype=np.int64)
    top = probs.argmax(axis=1)
    rows = []
    for k in range(probs.shape[1]):
        mine = top == k
        count = int(mine.sum())
        classes = np.bincount(labels[mine], minlength=num_classes) / max(count, 1)
        rows.append(
            {
                "expert": k,
                "inputs": count,
                "share": count / max(len(labels), 1),
                "classes": classes.tolist(),
                "top_class": int(classes.argmax()) if count else None,
                "top_class_share": float(classes.max()) if count else None,
                "accuracy": float(np.mean(predictions[mine] == labels[mine])) if count else None,
            }
        )
    return rows


@dataclass(frozen=True)
class RoutingBound:
    """The most ``I(class; expert)`` a router of this design can reach on a labelled set.

    Attributes:
        bits: The ceiling, ``min(holevo, capacity)`` where a Holevo bound applies.
        holevo: The Holevo information of :attr:`register` after the encoder, or ``None`` when
            no fixed-encoding bound applies (the router re-uploads the input).
        capacity: ``min(log2 experts, H(class))``: no router can carry more.
        register: Which register the Holevo bound is taken over: ``"routing"`` (the routing
            register alone), ``"all"`` (routing and data), or ``""``.
        reason: Why this bound holds for this design, one sentence.
    """

    bits: float
    holevo: float | None
    capacity: float
    register: str
    reason: str

    @property
    def information_limited(self) -> bool:
        """Whether a fixed encoding caps routing below what the experts and classes allow."""
        return self.holevo is not None and self.holevo < self.capacity - 1e-9

    def to_dict(self) -> dict[str, object]:
        """JSON-ready values."""
        return {**asdict(self), "information_limited": self.information_limited}


def _holevo_bits(encoder, inputs, qubits: list[int], x, labels, num_classes) -> float:
    from qiskit.quantum_info import Statevector

    dim = 2 ** len(qubits)
    sums = np.zeros((num_classes, dim, dim), dtype=complex)
    counts = np.zeros(num_classes)
    for row, label in zip(np.asarray(x, dtype=float), np.asarray(labels), strict=True):
        bound = encoder.assign_parameters(dict(zip(inputs, row, strict=True)))
        psi = Statevector(bound).data.reshape(-1, dim)  # rows: other qubits; columns: these
        sums[int(label)] += psi.T @ psi.conj()
        counts[int(label)] += 1
    present = counts > 0
    p = counts[present] / counts.sum()
    means = sums[present] / counts[present, None, None]
    total = np.einsum("c,cij->ij", p, means)
    return _von_neumann_bits(total) - float(
        sum(pc * _von_neumann_bits(rho) for pc, rho in zip(p, means, strict=True))
    )


def routing_information_bound(
    model: Model, x: np.ndarray, labels: np.ndarray, num_classes: int
) -> RoutingBound | None:
    """The ceiling on ``I(class; expert)`` that applies to this model's router design.

    The experts are selected by measuring (or controlling on) the first routing qubits, so
    ``I(class; expert)`` is the classical information of a measurement; by Holevo's theorem it
    never exceeds the Holevo information ``chi = S(sum_c p_c rho_c) - sum_c p_c S(rho_c)`` of
    any register that the measurement is a (unitary, then partial) function of, where
    ``rho_c`` is that register's mean state over class ``c``. Which register depends on the
    design:

    - routing ansatz on the routing register only (the paper's, a wider register): the
      routing register right after the encoder (all its qubits, extra ones included);
    - couplings that read the data register: routing and data register after the encoder
      (the couplings and the ansatz are one trainable unitary on both);
    - re-uploading (fixed or trainable) between routing layers: none, since the routing
      register is not a fixed encoding followed by a trainable unitary; only the capacity
      ``min(log2 K, H(class))`` holds.

    Every design is also capped by that capacity. Each ``rho(x)`` is simulated with
    ``Statevector`` on the encoder stage.

    Args:
        model: A ``qmoe`` model.
        x: Inputs ``(rows, features)``.
        labels: Their classes ``0..num_classes-1``.
        num_classes: Number of classes.

    Returns:
        The :class:`RoutingBound`, or ``None`` for a model without a routing register.
    """
    spec = model.spec
    if spec.kind != "qmoe":
        return None
    program = circuit_of(model)
    route = list(program.route_qubits)
    if not route or route != list(range(len(route))) or "encoder" not in program.stages:
        return None
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=num_classes)
    capacity = min(math.log2(spec.experts.count), float(_entropy(counts / counts.sum())))
    routing = spec.routing
    if routing.reupload_mode != "none":
        reason = (
            f"the router re-uploads the input ({routing.reupload_mode}) between its trainable "
            "layers, so no fixed encoding caps it: only min(log2 experts, H(class)) applies"
        )
        return RoutingBound(capacity, None, capacity, "", reason)
    if routing.couplings:
        qubits, register = list(range(program.num_qubits)), "all"
        reason = (
            "the router reads the data register through trainable couplings: encoder, then one "
            "trainable unitary on routing and data register, then the experts' selection, so "
            "Holevo's bound of both registers after the encoder applies"
        )
    else:
        qubits, register = route, "routing"
        reason = (
            f"the routing ansatz acts on the {len(route)}-qubit routing register alone after a "
            "fixed encoder, so Holevo's bound of that register after the encoder applies"
        )
    encoder = program.stages["encoder"]
    chi = _holevo_bits(encoder, program.input_params, qubits, x, labels, num_classes)
    return RoutingBound(min(chi, capacity), chi, capacity, register, reason)
