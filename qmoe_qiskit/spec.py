"""Model specifications: frozen dataclasses, TOML loading and validation.

A spec is validated completely before any circuit is built. Every error names the offending
field with its dotted path (``experts.operators``) and says what is allowed.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

from .errors import SpecError

__all__ = [
    "DataSpec",
    "EncoderSpec",
    "ExpertsSpec",
    "ModelSpec",
    "RoutingSpec",
    "SpecError",
    "TrainingSpec",
    "FAMILY_TRAINING",
    "UNUSED_FIELDS",
    "available_presets",
    "load_spec",
    "preset_description",
    "preset_text",
    "spec_from_dict",
    "spec_to_dict",
    "spec_to_toml",
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
OPERATOR_SETS = ("rx", "ry", "rz", "rx+ry", "rx+ry+rz")
ENTANGLERS = ("cnot-ring", "cnot-chain")
CONSTRUCTIONS = ("auto", "multiplexed", "controlled")
DATASETS = ("digits", "moons", "mnist", "fashion-mnist")


def _fail(path: str, value: Any, allowed: str) -> SpecError:
    return SpecError(f"{path} = {value!r} is invalid: {allowed}")


def _check_int(path: str, value: Any, low: int, high: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(path, value, "expected an integer")
    if value < low or (high is not None and value > high):
        bound = f">= {low}" if high is None else f"between {low} and {high}"
        raise _fail(path, value, f"expected an integer {bound}")


def _check_choice(path: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise _fail(path, value, "allowed values are " + ", ".join(repr(c) for c in choices))


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
        entangle: Whether a CNOT chain separates consecutive encoder layers.
    """

    features: int = 64
    rotations: str = "ryzxy"
    entangle: bool = True

    def validate(self) -> None:
        _check_int("encoder.features", self.features, 1, 4096)
        parse_rotations(self.rotations)
        if not isinstance(self.entangle, bool):
            raise _fail("encoder.entangle", self.entangle, "expected true or false")


@dataclass(frozen=True)
class RoutingSpec:
    """Routing register and its trainable ansatz.

    Attributes:
        kind: Router kind. ``"quantum"`` is a routing register inside the circuit (``qmoe``) or,
            for a ``hybrid`` model, a separate router circuit: RY angle embedding of the n
            features on n qubits and ``layers`` x [RY on every qubit, CZ between neighbours]
            (``P = layers x n`` weights). ``"linear"`` and ``"mlp"`` are classical routers of a
            ``hybrid`` model (softmax over experts).
        encoding: ``"binary"`` (ceil(log2 count) qubits, expert k on basis state |k>) or
            ``"onehot"`` (one qubit per expert, expert k controlled by qubit k).
        layers: Depth of the routing ansatz (rotations + CNOT chain per layer); for a hybrid
            quantum router the number L of RY+CZ layers; for an ``"mlp"`` router the number of
            hidden layers; unused by a ``"linear"`` router.
        operators: Trainable rotations of the routing ansatz (``qmoe`` only).
        aggregation: ``"none"`` (the output is sum_k p_k <O>_k) or ``"interfere"``
            (Hadamards on the routing register, observables projected on routing |0...0>);
            ``qmoe`` only.
        hidden: Width of each hidden layer of an ``"mlp"`` router.
    """

    kind: str = "quantum"
    encoding: str = "binary"
    layers: int = 2
    operators: str = "rx+ry"
    aggregation: str = "none"
    hidden: int = 16

    def validate(self) -> None:
        _check_choice("routing.kind", self.kind, ROUTER_KINDS)
        _check_int("routing.hidden", self.hidden, 1, 4096)
        _check_choice("routing.encoding", self.encoding, ROUTING_ENCODINGS)
        _check_int("routing.layers", self.layers, 1, 64)
        parse_operators("routing.operators", self.operators)
        _check_choice("routing.aggregation", self.aggregation, AGGREGATIONS)


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
            (multiplexed when the routing is binary and count is a power of two).
    """

    kind: str = "quantum"
    count: int = 4
    data_qubits: int = 4
    operators: str = "rx+ry"
    layers: int = 2
    entangler: str = "cnot-ring"
    construction: str = "auto"

    def validate(self) -> None:
        _check_choice("experts.kind", self.kind, EXPERT_KINDS)
        _check_int("experts.count", self.count, 1, 64)
        _check_int("experts.data_qubits", self.data_qubits, 1, 32)
        parse_operators("experts.operators", self.operators)
        _check_int("experts.layers", self.layers, 1, 64)
        _check_choice("experts.entangler", self.entangler, ENTANGLERS)
        _check_choice("experts.construction", self.construction, CONSTRUCTIONS)


@dataclass(frozen=True)
class TrainingSpec:
    """Training defaults; every one can be overridden on the command line.

    Attributes:
        epochs: Passes over the training set.
        batch_size: Mini-batch size.
        lr: Adam learning rate.
        seed: Seed for weight initialisation, data split and shuffling.
        logit_scale: Model outputs are multiplied by this before the softmax cross-entropy (a
            fixed temperature; it does not change predictions).
        val_fraction: Fraction of the training split held out (stratified) as a validation
            split, scored every epoch (0 = none).
        patience: Early stopping after this many epochs without a lower validation loss,
            keeping the best epoch's weights (0 = off; needs ``val_fraction``).

    A spec without a ``[training]`` table (or with some keys missing) gets its family's
    validated defaults: :data:`FAMILY_TRAINING`.
    """

    epochs: int = 3
    batch_size: int = 32
    lr: float = 2e-3
    seed: int = 0
    logit_scale: float = 5.0
    val_fraction: float = 0.0
    patience: int = 0

    def validate(self) -> None:
        _check_int("training.epochs", self.epochs, 1, 100_000)
        _check_int("training.batch_size", self.batch_size, 1, 1_000_000)
        for name in ("lr", "logit_scale"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise _fail(f"training.{name}", value, "expected a positive number")
        _check_int("training.seed", self.seed, 0)
        value = self.val_fraction
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
            raise _fail("training.val_fraction", value, "expected a number in [0, 1)")
        _check_int("training.patience", self.patience, 0)
        if self.patience and not self.val_fraction:
            raise _fail(
                "training.patience",
                self.patience,
                "early stopping needs a validation split: set training.val_fraction too",
            )


#: Validated training defaults per model family (what a spec gets for keys it leaves out).
#: ``qmoe``/``baseline``: the QMoE paper's Adam 2e-3 over a few epochs; ``hybrid``: the
#: hybrid study's protocol (lr 0.01, logit scale 1, early stopping on a 20 % validation split),
#: which reaches 98.9 % on Two Moons where the generic defaults give 91.5 %.
FAMILY_TRAINING: dict[str, dict[str, Any]] = {
    "qmoe": {},
    "baseline": {},
    "hybrid": {
        "epochs": 100,
        "batch_size": 32,
        "lr": 0.01,
        "logit_scale": 1.0,
        "val_fraction": 0.2,
        "patience": 15,
    },
}


@dataclass(frozen=True)
class DataSpec:
    """Default data for ``qmoe train`` (overridden by ``--data`` and friends).

    Attributes:
        name: ``"digits"``, ``"moons"``, ``"mnist"`` or ``"fashion-mnist"``.
        classes: Class labels to keep, in order; label ``classes[i]`` becomes class ``i``
            (default: ``0 .. classes-1`` of the model).
        train_limit: Keep at most this many training samples (0 = all), class-balanced.
        test_limit: Keep at most this many test samples (0 = all), class-balanced.
        pca: Reduce the features to this many principal components fitted on the training
            split, then rescale to ``[0, pi]`` with the training range (0 = no PCA); see
            :func:`qmoe_qiskit.features.reduce_pca`.
    """

    name: str = "digits"
    classes: tuple[int, ...] = ()
    train_limit: int = 0
    test_limit: int = 0
    pca: int = 0

    def validate(self) -> None:
        _check_choice("data.name", self.name, DATASETS)
        if any(isinstance(c, bool) or not isinstance(c, int) or c < 0 for c in self.classes):
            raise _fail("data.classes", list(self.classes), "expected non-negative integers")
        if len(set(self.classes)) != len(self.classes):
            raise _fail("data.classes", list(self.classes), "classes must be distinct")
        _check_int("data.train_limit", self.train_limit, 0)
        _check_int("data.test_limit", self.test_limit, 0)
        _check_int("data.pca", self.pca, 0, 4096)


@dataclass(frozen=True)
class ModelSpec:
    """A complete model definition.

    Attributes:
        name: Model name (used in reports and file names).
        kind: ``"qmoe"`` (routing register + experts), ``"baseline"`` (encoder + one PQC) or
            ``"hybrid"`` (a quantum, linear or MLP router weighting classical linear experts:
            ``y = sum_k P(k|x) (W_k x + b_k)``).
        classes: Number of output classes; class c is read from Z on data qubit c (for a
            hybrid model, the experts' output width).
        encoder: Input encoder.
        routing: Routing register (ignored by a baseline).
        experts: Experts (a baseline uses one).
        training: Training defaults (default: the family's, :data:`FAMILY_TRAINING`).
        data: Default data set (``data.classes`` default: ``0 .. classes-1``).
    """

    name: str
    kind: str = "qmoe"
    classes: int = 4
    encoder: EncoderSpec = field(default_factory=EncoderSpec)
    routing: RoutingSpec = field(default_factory=RoutingSpec)
    experts: ExpertsSpec = field(default_factory=ExpertsSpec)
    training: TrainingSpec | None = None
    data: DataSpec = field(default_factory=DataSpec)

    def __post_init__(self) -> None:
        if self.training is None:
            family = FAMILY_TRAINING.get(self.kind, {}) if isinstance(self.kind, str) else {}
            object.__setattr__(self, "training", TrainingSpec(**family))
        valid_count = isinstance(self.classes, int) and not isinstance(self.classes, bool)
        if not self.data.classes and valid_count and 2 <= self.classes <= 4096:
            classes = tuple(range(self.classes))
            object.__setattr__(self, "data", dataclasses.replace(self.data, classes=classes))
        self.validate()

    @property
    def num_route_qubits(self) -> int:
        """Qubits of the routing register (0 for a baseline and a classical hybrid router).

        A hybrid quantum router measures ``log2(experts.count)`` of its qubits (qubits
        ``0..m-1``); expert ``k`` is the basis state ``|k>`` of those qubits (qubit 0 is the
        least significant bit), the other qubits are traced out.
        """
        if self.kind == "baseline":
            return 0
        if self.kind == "hybrid":
            if self.routing.kind != "quantum":
                return 0
            return max(1, math.ceil(math.log2(self.experts.count)))
        if self.routing.encoding == "onehot":
            return self.experts.count
        return max(1, math.ceil(math.log2(self.experts.count)))

    @property
    def num_qubits(self) -> int:
        """Total qubits: routing register + data register (hybrid: one per input feature for a
        quantum router, 0 for a classical one)."""
        if self.kind == "hybrid":
            return self.encoder.features if self.routing.kind == "quantum" else 0
        return self.num_route_qubits + self.experts.data_qubits

    @property
    def multiplexed(self) -> bool:
        """Whether experts are built as uniformly-controlled rotations."""
        if self.kind in ("baseline", "hybrid"):
            return False
        if self.experts.construction == "controlled":
            return False
        power_of_two = self.experts.count == 2**self.num_route_qubits
        return self.routing.encoding == "binary" and power_of_two

    def validate(self) -> None:
        """Check every field and their combinations.

        Raises:
            SpecError: Naming the first invalid field and what is allowed.
        """
        if not isinstance(self.name, str) or not self.name.strip():
            raise _fail("name", self.name, "expected a non-empty string")
        _check_choice("kind", self.kind, MODEL_KINDS)
        _check_int("classes", self.classes, 2)
        for part in (self.encoder, self.routing, self.experts, self.training, self.data):
            part.validate()
        if self.data.pca and self.data.pca != self.encoder.features:
            raise _fail(
                "data.pca",
                self.data.pca,
                f"PCA components feed the model, so data.pca must equal encoder.features "
                f"({self.encoder.features}) or be 0",
            )
        if self.kind == "hybrid":
            self._validate_hybrid()
            return
        if self.routing.kind != "quantum":
            raise _fail(
                "routing.kind",
                self.routing.kind,
                f"a {self.kind} model routes with qubits ('quantum'); a linear or MLP router "
                'over linear experts is kind = "hybrid"',
            )
        if self.experts.kind != "quantum":
            raise _fail(
                "experts.kind",
                self.experts.kind,
                f"a {self.kind} model has quantum experts; for classical linear experts under a "
                'router use kind = "hybrid"',
            )
        if self.classes > self.experts.data_qubits:
            raise _fail(
                "classes",
                self.classes,
                f"class c is read from Z on data qubit c, so classes must be <= "
                f"experts.data_qubits ({self.experts.data_qubits})",
            )
        if len(self.data.classes) != self.classes:
            raise _fail(
                "data.classes",
                list(self.data.classes),
                f"expected {self.classes} labels (one per model class)",
            )
        if self.kind == "baseline" and self.experts.count != 1:
            raise _fail("experts.count", self.experts.count, "a baseline has exactly 1 expert")
        if self.kind == "qmoe":
            if self.experts.count < 2:
                raise _fail("experts.count", self.experts.count, "a qmoe needs >= 2 experts")
            if self.experts.construction == "multiplexed" and not self.multiplexed:
                raise _fail(
                    "experts.construction",
                    self.experts.construction,
                    "'multiplexed' needs binary routing and a power-of-two expert count; "
                    "use 'controlled' or 'auto'",
                )
        if self.num_qubits > 32:
            raise _fail("experts.data_qubits", self.experts.data_qubits, "at most 32 qubits")

    def _validate_hybrid(self) -> None:
        if len(self.data.classes) != self.classes:
            raise _fail(
                "data.classes",
                list(self.data.classes),
                f"expected {self.classes} labels (one per model class)",
            )
        if self.experts.kind != "linear":
            raise _fail("experts.kind", self.experts.kind, "a hybrid model needs 'linear' experts")
        if self.experts.count < 2:
            raise _fail("experts.count", self.experts.count, "a hybrid model needs >= 2 experts")
        if self.routing.kind != "quantum":
            return
        count, n = self.experts.count, self.encoder.features
        if count & (count - 1):
            raise _fail(
                "experts.count",
                count,
                "a quantum router maps expert k to basis state |k>, so the count must be a "
                "power of two",
            )
        if n > MAX_HYBRID_QUBITS:
            raise _fail(
                "encoder.features",
                n,
                f"a quantum router has one qubit per feature: at most {MAX_HYBRID_QUBITS} "
                "(reduce the data with data.pca)",
            )
        if count > 2**n:
            raise _fail(
                "experts.count",
                count,
                f"a quantum router on {n} qubits has at most {2**n} basis states",
            )


_SECTIONS = {
    "encoder": EncoderSpec,
    "routing": RoutingSpec,
    "experts": ExpertsSpec,
    "training": TrainingSpec,
    "data": DataSpec,
}


def _build_section(name: str, cls: type, values: Any) -> Any:
    if not isinstance(values, Mapping):
        raise _fail(name, values, "expected a table")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise SpecError(
            f"{name}.{unknown[0]} is not a known key; allowed keys are {', '.join(sorted(known))}"
        )
    kwargs = dict(values)
    if cls is TrainingSpec and isinstance(kwargs.get("lr"), int):
        kwargs["lr"] = float(kwargs["lr"])
    if cls is DataSpec and "classes" in kwargs:
        if not isinstance(kwargs["classes"], (list, tuple)):
            raise _fail("data.classes", kwargs["classes"], "expected a list of integers")
        kwargs["classes"] = tuple(kwargs["classes"])
    return cls(**kwargs)


def spec_from_dict(values: Mapping[str, Any]) -> ModelSpec:
    """Build and validate a :class:`ModelSpec` from a mapping (e.g. parsed TOML).

    Args:
        values: Top-level keys ``name``, ``kind``, ``classes`` and section tables.

    Returns:
        The validated spec.

    Raises:
        SpecError: For unknown keys or invalid values.
    """
    if not isinstance(values, Mapping):
        raise SpecError("a spec must be a table of keys")
    top_keys = {"name", "kind", "classes"}
    unknown = sorted(set(values) - top_keys - set(_SECTIONS))
    if unknown:
        allowed = ", ".join(sorted(top_keys | set(_SECTIONS)))
        raise SpecError(f"{unknown[0]} is not a known key; allowed keys are {allowed}")
    if "name" not in values:
        raise SpecError("name is missing: every spec needs a name")
    kwargs: dict[str, Any] = {k: values[k] for k in top_keys if k in values}
    kind = kwargs.get("kind", "qmoe")
    for name, cls in _SECTIONS.items():
        if name in values:
            kwargs[name] = _build_section(name, cls, values[name])
    family = FAMILY_TRAINING.get(kind, {}) if isinstance(kind, str) else {}
    if family:
        given = values.get("training", {})
        defaults = {k: v for k, v in family.items() if k not in given}
        base = kwargs.get("training") or TrainingSpec()
        kwargs["training"] = dataclasses.replace(base, **defaults)

    if kwargs.get("kind") == "baseline" and "experts" in values:
        if "count" not in values["experts"]:
            kwargs["experts"] = dataclasses.replace(kwargs["experts"], count=1)
    elif kwargs.get("kind") == "baseline":
        kwargs["experts"] = ExpertsSpec(count=1)
    try:
        return ModelSpec(**kwargs)
    except TypeError as exc:  # pragma: no cover - guarded by the key checks above
        raise SpecError(str(exc)) from exc


#: Fields each family leaves unused, per section (``"*"``: the whole section). They are left
#: out of :func:`spec_to_dict`, so a saved ``spec.toml`` holds only what its family reads.
UNUSED_FIELDS: dict[str, dict[str, tuple[str, ...]]] = {
    "qmoe": {"routing": ("kind", "hidden"), "experts": ("kind",)},
    "baseline": {"routing": ("*",), "experts": ("kind", "count", "construction")},
    "hybrid": {
        "encoder": ("rotations", "entangle"),
        "routing": ("encoding", "operators", "aggregation"),
        "experts": ("data_qubits", "operators", "layers", "entangler", "construction"),
    },
}


def _unused(spec: ModelSpec, section: str) -> set[str]:
    unused = set(UNUSED_FIELDS.get(spec.kind, {}).get(section, ()))
    if spec.kind == "hybrid" and section == "routing":
        if spec.routing.kind != "mlp":
            unused.add("hidden")
        if spec.routing.kind == "linear":
            unused.add("layers")
    return unused


def spec_to_dict(spec: ModelSpec) -> dict[str, Any]:
    """The spec as plain TOML-compatible data (the inverse of :func:`spec_from_dict`).

    Fields the spec's family does not use (:data:`UNUSED_FIELDS`) are left out.
    """
    out = dataclasses.asdict(spec)
    out["data"]["classes"] = list(spec.data.classes)
    for section in _SECTIONS:
        unused = _unused(spec, section)
        if "*" in unused:
            del out[section]
            continue
        for key in unused:
            out[section].pop(key, None)
    return out


def spec_to_toml(spec: ModelSpec) -> str:
    """Render a spec as TOML text that :func:`load_spec` reads back to an equivalent spec."""

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return repr(v)

    data = spec_to_dict(spec)
    lines = [f"{k} = {value(data[k])}" for k in ("name", "kind", "classes")]
    for section in _SECTIONS:
        if section not in data:
            continue
        lines.append("")
        lines.append(f"[{section}]")
        lines.extend(f"{k} = {value(v)}" for k, v in data[section].items())
    return "\n".join(lines) + "\n"


def available_presets() -> list[str]:
    """Names of the model presets shipped inside the package."""
    folder = resources.files("qmoe_qiskit") / "presets"
    return sorted(p.name[: -len(".toml")] for p in folder.iterdir() if p.name.endswith(".toml"))


def _unknown_preset(name: str) -> SpecError:
    import difflib

    close = difflib.get_close_matches(str(name), available_presets(), n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(close)}?" if close else "; list them with: qmoe presets"
    return SpecError(f"spec {str(name)!r} is neither a file nor a preset{hint}")


def preset_text(name: str) -> str:
    """The TOML text of a shipped preset.

    Raises:
        SpecError: No such preset (with the closest names).
    """
    preset = resources.files("qmoe_qiskit") / "presets" / f"{name}.toml"
    if not preset.is_file():
        raise _unknown_preset(name)
    return preset.read_text(encoding="utf-8")


def preset_description(name: str) -> str:
    """A preset's one-line description: its leading comment."""
    for line in preset_text(name).splitlines():
        if line.startswith("#"):
            return line.lstrip("# ").strip()
        if line.strip():
            break
    return ""


def load_spec(source: str | Path | Mapping[str, Any] | ModelSpec) -> ModelSpec:
    """Load and validate a model spec.

    Args:
        source: A path to a TOML file, the name of a shipped preset (see
            :func:`available_presets`), a mapping, or an existing spec.

    Returns:
        The validated spec.

    Raises:
        SpecError: If the file is missing, not TOML, or any field is invalid.
    """
    if isinstance(source, ModelSpec):
        return source
    if isinstance(source, Mapping):
        return spec_from_dict(source)
    path = Path(source)
    if path.is_file():
        text = path.read_text(encoding="utf-8")
        origin = str(path)
    elif path.is_dir():
        raise SpecError(f"{path} is a directory, not a spec file (a run's spec is spec.toml)")
    else:
        text = preset_text(str(source))
        origin = f"preset {source}"
    try:
        values = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{origin}: not valid TOML: {exc}") from exc
    try:
        return spec_from_dict(values)
    except SpecError as exc:
        raise SpecError(f"{origin}: {exc}") from exc
