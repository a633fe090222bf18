"""Spec sections (encoder, routing, experts, readout, training, data), their choices and checks."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..errors import SpecError

__all__ = [
    "AGGREGATIONS",
    "EXECUTIONS",
    "CONSTRUCTIONS",
    "DATASETS",
    "ENTANGLERS",
    "ENTANGLE_MODES",
    "EXPERT_KINDS",
    "EncoderSpec",
    "ExpertsSpec",
    "MAX_HYBRID_QUBITS",
    "MODEL_KINDS",
    "OPERATOR_SETS",
    "SEARCH_OPERATORS",
    "FAMILY_READOUT",
    "READOUT_HEADS",
    "REUPLOAD_MODES",
    "ReadoutSpec",
    "ROUTER_KINDS",
    "ROUTING_ENCODINGS",
    "RoutingSpec",
    "parse_operators",
    "parse_rotations",
]


MODEL_KINDS = ("qmoe", "baseline", "hybrid")


#: Router kinds: ``quantum`` (a circuit; the only kind for ``qmoe``), and for ``hybrid`` models
#: also ``linear`` (softmax of an affine map) and ``mlp`` (softmax of a ReLU network).
ROUTER_KINDS = ("quantum", "linear", "mlp")


#: Expert kinds: ``quantum`` (PQCs, ``qmoe``/``baseline``) or ``linear`` (``W x + b``, ``hybrid``).
EXPERT_KINDS = ("quantum", "linear")


#: Largest input width of a hybrid quantum router (one qubit per feature).
MAX_HYBRID_QUBITS = 16


ROUTING_ENCODINGS = ("binary", "onehot")


AGGREGATIONS = ("none", "interfere")


#: How hardware runs the expert stage (see :class:`RoutingSpec`).
EXECUTIONS = ("coherent", "measured")


OPERATOR_SETS = ("rx", "ry", "rz", "rx+ry", "rx+ry+rz")
#: ``experts.operators`` may also be ``"diffqas"``: a differentiable search over the 12
#: DiffQAS-QT candidates (:mod:`qmoe_qiskit.models.search`).
SEARCH_OPERATORS = "diffqas"


ENTANGLERS = ("cnot-ring", "cnot-chain", "diffqas-ent", "diffqas-cyc")


CONSTRUCTIONS = ("auto", "multiplexed", "controlled")
#: Data re-uploading modes (see :class:`RoutingSpec` and :class:`ExpertsSpec`): ``"none"``;
#: ``"fixed"`` (``true``): the encoder's angles again; ``"trainable"``: angles ``w * x + b``
#: with trained ``w, b`` per feature and layer.
REUPLOAD_MODES = ("none", "fixed", "trainable")
#: Encoder entangling patterns (see :class:`EncoderSpec`).
ENTANGLE_MODES = ("all", "within", "none")


DATASETS = ("digits", "moons", "mnist", "fashion-mnist")


#: Classical heads on the class expectations (see :class:`ReadoutSpec`).
READOUT_HEADS = ("none", "scale", "affine")
#: The head a spec without ``[readout]`` gets, per family (validated: an affine head lifts the
#: QMoE on every Table I task; a hybrid model's linear experts give the class scores).
FAMILY_READOUT = {"qmoe": "affine", "baseline": "affine", "hybrid": "none"}


def _fail(path: str, value: Any, allowed: str) -> SpecError:
    return SpecError(f"{path} = {value!r} is invalid: {allowed}")


def _check_int(path: str, value: Any, low: int, high: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(path, value, "expected an integer")
    if value < low or (high is not None and value > high):
        bound = f">= {low}" if high is None else f"between {low} and {high}"
        raise _fail(path, value, f"expected an integer {bound}")


def _finite(value: Any) -> bool:
    """A real number (not a bool), neither NaN nor infinite."""
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def _check_bool(path: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise _fail(path, value, "expected true or false")


def _check_choice(path: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise _fail(path, value, "allowed values are " + ", ".join(repr(c) for c in choices))


def _reupload_mode(value: bool | str) -> str:
    if isinstance(value, bool):
        return "fixed" if value else "none"
    return value


def _check_reupload(path: str, value: bool | str, features: int, path_features: str) -> None:
    if not isinstance(value, bool) and value not in REUPLOAD_MODES:
        raise _fail(
            path,
            value,
            "expected true, false, or one of " + ", ".join(repr(m) for m in REUPLOAD_MODES),
        )
    _check_int(path_features, features, 0, 4096)


def parse_rotations(rotations: str) -> tuple[str, ...]:
    """Parse an encoder rotation pattern such as ``"ryzxy"`` into gate names.

    The pattern is ``"r"`` followed by one or more axes from ``x``, ``y``, ``z``; the axes cycle
    over encoder layers. ``"ryzxy"`` gives ``("ry", "rz", "rx", "ry")``.

    Args:
        rotations: The pattern.

    Returns:
        The gate names, one per layer in the cycle.

    Raises:
        SpecError: If the pattern is malformed.
    """
    if (
        not isinstance(rotations, str)
        or len(rotations) < 2
        or rotations[0] != "r"
        or any(axis not in "xyz" for axis in rotations[1:])
    ):
        raise _fail(
            "encoder.rotations",
            rotations,
            "expected 'r' followed by axes from x, y, z (e.g. 'ryzxy' = RY, RZ, RX, RY)",
        )
    return tuple("r" + axis for axis in rotations[1:])


def parse_operators(path: str, operators: str) -> tuple[str, ...]:
    """Parse an operator set such as ``"rx+ry"`` into gate names."""
    _check_choice(path, operators, OPERATOR_SETS)
    return tuple(operators.split("+"))


@dataclass(frozen=True)
class EncoderSpec:
    """Input encoder: layers of data-driven rotations on every qubit.

    Attributes:
        features: Number of classical input features (64 for an 8x8 image).
        rotations: Rotation-axis pattern cycled over layers, e.g. ``"ryzxy"``.
        entangle: CNOT chains between consecutive encoder layers: ``"all"`` (or ``true``) across
            every qubit, routing and data registers alike (the QMoE paper's encoder, which
            leaves the routing register strongly mixed); ``"within"``: one chain inside the
            routing register and one inside the data register, keeping them apart (the
            default, chosen on a validation split); ``"none"``
            (or ``false``).
        scale: Each feature (in ``[0, pi]`` from the data loaders) is multiplied by this before
            it drives its rotation: 1 keeps the paper's ``[0, pi]`` angles; smaller values keep
            the many rotations each qubit receives (64 features on 6 qubits: 11 per qubit) from
            wrapping around, so nearby inputs stay nearby states (default 0.35, chosen on a
            validation split).
    """

    features: int = 64
    rotations: str = "ryzxy"
    entangle: bool | str = "within"
    scale: float = 0.35

    @property
    def entangle_mode(self) -> str:
        """``"all"``, ``"within"`` or ``"none"``."""
        if isinstance(self.entangle, bool):
            return "all" if self.entangle else "none"
        return self.entangle

    def validate(self) -> None:
        _check_int("encoder.features", self.features, 1, 4096)
        parse_rotations(self.rotations)
        value = self.scale
        if not _finite(value) or not 0 < value <= 100:
            raise _fail("encoder.scale", value, "expected a number in (0, 100]")
        if not isinstance(self.entangle, bool) and self.entangle not in ENTANGLE_MODES:
            raise _fail(
                "encoder.entangle",
                self.entangle,
                "expected true, false, or one of " + ", ".join(repr(m) for m in ENTANGLE_MODES),
            )


@dataclass(frozen=True)
class RoutingSpec:
    """Routing register and its trainable ansatz.

    Attributes:
        kind: Router kind. ``"quantum"`` is a routing register inside the circuit (``qmoe``) or,
            for a ``hybrid`` model, a separate router circuit: RY angle embedding of the n
            features on n qubits and ``layers`` x [RY on every qubit, CZ between neighbours]
            (``P = layers x n`` weights). ``"linear"`` and ``"mlp"`` are classical routers of a
            ``hybrid`` model (softmax over experts).
        encoding: ``"binary"`` (ceil(log2 count) qubits, expert k on basis state ``|k>``) or
            ``"onehot"`` (one qubit per expert, expert k controlled by qubit k).
        layers: Depth of the routing ansatz (rotations + CNOT chain per layer); for a hybrid
            quantum router the number L of RY+CZ layers; for an ``"mlp"`` router the number of
            hidden layers; unused by a ``"linear"`` router.
        operators: Trainable rotations of the routing ansatz (``qmoe`` only).
        aggregation: ``"none"`` (the output is sum_k p_k <O>_k) or ``"interfere"``
            (Hadamards on the routing register, observables projected on routing ``|0...0>``);
            ``qmoe`` only.
        hidden: Width of each hidden layer of an ``"mlp"`` router.
        reupload: Data re-uploading in the routing ansatz (``qmoe``): before every routing
            layer the input is encoded again on the routing register alone, so the router sees
            its own encoding of the input. ``"fixed"`` (or ``true``): the encoder's rotations
            and angles, all features; ``"trainable"``: feature ``i`` drives rotation
            ``rotations[(i // r) % len]`` on routing qubit ``i % r`` with angle
            ``w[l, i] * x[i] + b[l, i]``, ``w, b`` trained per routing layer ``l`` (data
            re-uploading classifier, Perez-Salinas et al. 2020; the default, chosen on a
            validation split: ``jobs/router-selection.toml``); ``"none"`` (or ``false``: the
            paper's router, a fixed encoding then a trainable unitary).
        features: The features a trainable re-upload reads: the first ``features`` inputs
            (0: all). Each costs 2 weights per routing layer.
        couplings: The first ``couplings`` routing layers begin by reading the data register:
            a trainable controlled RY from every data qubit to every routing qubit
            (``r x d`` weights per layer). 0: the router sees the routing register only.
        qubits: Width of the routing register (0: the least the encoding needs,
            ``ceil(log2 count)`` binary or ``count`` one-hot). A wider register gets its share
            of the encoder's features and of any re-upload on its extra qubits; the experts are
            selected by its first qubits, the others are the router's workspace.
        entangler: The CNOT layer after each routing layer (``qmoe``): ``"cnot-chain"`` or a
            DiffQAS-QT entangler (``"diffqas-ent"``, ``"diffqas-cyc"``; ``"cnot-ring"`` too).
        hadamard: A Hadamard on every routing qubit before the routing ansatz (``qmoe``).
        execution: How hardware runs the expert stage (``qmoe``): ``"coherent"`` (every expert
            controlled by the routing register) or ``"measured"`` (the routing register is
            measured mid-circuit and only the chosen expert runs, by classical feed-forward:
            no controlled expert gates). With ``aggregation = "none"`` both give the same
            data-register expectations (deferred measurement), so training uses the coherent
            circuit and transpile, submit and export use the measured one.

    ``operators = "diffqas"`` searches the routing ansatz over the 12 DiffQAS-QT candidates, as
    for the experts (see :class:`ExpertsSpec`).
    """

    kind: str = "quantum"
    encoding: str = "binary"
    layers: int = 2
    operators: str = "rx+ry"
    aggregation: str = "none"
    hidden: int = 16
    reupload: bool | str = "trainable"
    entangler: str = "cnot-chain"
    hadamard: bool = False
    execution: str = "coherent"
    features: int = 0
    couplings: int = 0
    qubits: int = 0

    @property
    def reupload_mode(self) -> str:
        """``"none"``, ``"fixed"`` or ``"trainable"``."""
        return _reupload_mode(self.reupload)

    def validate(self) -> None:
        _check_choice("routing.kind", self.kind, ROUTER_KINDS)
        _check_int("routing.hidden", self.hidden, 1, 4096)
        _check_choice("routing.encoding", self.encoding, ROUTING_ENCODINGS)
        _check_int("routing.layers", self.layers, 1, 64)
        if self.operators != SEARCH_OPERATORS:
            parse_operators("routing.operators", self.operators)
        _check_choice("routing.entangler", self.entangler, ENTANGLERS)
        _check_bool("routing.hadamard", self.hadamard)
        _check_choice("routing.aggregation", self.aggregation, AGGREGATIONS)
        _check_reupload("routing.reupload", self.reupload, self.features, "routing.features")
        _check_int("routing.couplings", self.couplings, 0, self.layers)
        _check_int("routing.qubits", self.qubits, 0, 16)
        _check_choice("routing.execution", self.execution, EXECUTIONS)
        if self.execution == "measured" and self.aggregation != "none":
            raise _fail(
                "routing.execution",
                self.execution,
                "measuring the routing register needs aggregation = 'none' (interfering "
                "aggregation reads the routing register coherently); use 'coherent'",
            )


@dataclass(frozen=True)
class ExpertsSpec:
    """Expert circuits on the data register.

    Attributes:
        kind: Expert kind. ``"quantum"`` experts are PQCs on the data register; ``"linear"``
            experts (``hybrid`` models) are classical maps ``W_k x + b_k`` to class logits.
        count: Number of experts (1 for a baseline).
        data_qubits: Qubits of the data register.
        operators: Trainable rotations per qubit and layer.
        layers: Layers of rotations + entangler.
        entangler: Fixed CNOT pattern after each layer.
        construction: ``"multiplexed"`` (uniformly-controlled rotations, shared entangler),
            ``"controlled"`` (each expert controlled on its routing state) or ``"auto"``
            (multiplexed when the routing is binary, unless the experts re-upload the input and
            some routing states have no expert).
        reupload: Data re-uploading in the experts (a baseline's PQC): before every expert
            layer the input is encoded again on the data register: ``"fixed"`` (``true``) the
            encoder's rotations and angles, ``"trainable"`` angles ``w * x + b`` trained per
            layer (as in :class:`RoutingSpec`; in a ``qmoe`` the experts share them).
        features: The features a trainable re-upload reads (0: all).
        reupload_layers: Re-upload before the first ``reupload_layers`` layers only (0: all).
        extra_rotations: After the last layer, this many more trainable rotations: the first
            ``extra_rotations`` (qubit, operator) rotations of one more layer, no entangler
            (lets an equal-budget baseline match a weight count exactly).
        hadamard: A Hadamard on every data qubit before the experts (the first axis of the
            DiffQAS-QT candidates).

    ``operators = "diffqas"`` searches over the 12 DiffQAS-QT candidates (Hadamard or not,
    ``diffqas-ent`` or ``diffqas-cyc`` entangler, RX, RY or RZ) with one softmax structural
    weight per candidate; ``qmoe derive`` turns a trained search into a plain spec that sets
    ``operators``, ``entangler`` and ``hadamard`` to the most weighted candidate.
    """

    kind: str = "quantum"
    count: int = 4
    data_qubits: int = 4
    operators: str = "rx+ry"
    layers: int = 2
    entangler: str = "cnot-ring"
    construction: str = "auto"
    reupload: bool | str = False
    hadamard: bool = False
    features: int = 0
    reupload_layers: int = 0
    extra_rotations: int = 0

    @property
    def reupload_mode(self) -> str:
        """``"none"``, ``"fixed"`` or ``"trainable"``."""
        return _reupload_mode(self.reupload)

    def validate(self) -> None:
        _check_choice("experts.kind", self.kind, EXPERT_KINDS)
        _check_int("experts.count", self.count, 1, 64)
        _check_int("experts.data_qubits", self.data_qubits, 1, 32)
        if self.operators != SEARCH_OPERATORS:
            parse_operators("experts.operators", self.operators)
        _check_bool("experts.hadamard", self.hadamard)
        _check_int("experts.layers", self.layers, 1, 64)
        _check_choice("experts.entangler", self.entangler, ENTANGLERS)
        _check_choice("experts.construction", self.construction, CONSTRUCTIONS)
        _check_reupload("experts.reupload", self.reupload, self.features, "experts.features")
        _check_int("experts.reupload_layers", self.reupload_layers, 0, self.layers)
        _check_int("experts.extra_rotations", self.extra_rotations, 0, 4096)


@dataclass(frozen=True)
class ReadoutSpec:
    """How class scores are read from the circuit (``qmoe`` and ``baseline``).

    Attributes:
        head: A trainable classical head on the class expectations ``z_c = <Z_c>``:
            ``"none"`` (scores are ``z``), ``"scale"`` (``s_c z_c + b_c``: a trainable output
            scale and offset per class, ``2 C`` weights) or ``"affine"`` (``A z + b``, ``C^2 + C``
            weights). Both start as the identity, so an untrained model scores as without a head.
            A spec without ``[readout]`` gets its family's default (:data:`FAMILY_READOUT`).
    """

    head: str = "none"

    def validate(self) -> None:
        _check_choice("readout.head", self.head, READOUT_HEADS)
