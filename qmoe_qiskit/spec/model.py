"""The complete model definition: :class:`ModelSpec` and the rules between its sections."""

from __future__ import annotations

import dataclasses
import math
import unicodedata
from dataclasses import dataclass, field
from typing import cast

from .sections import (
    FAMILY_READOUT,
    MAX_HYBRID_QUBITS,
    MODEL_KINDS,
    SEARCH_OPERATORS,
    EncoderSpec,
    ExpertsSpec,
    ReadoutSpec,
    RoutingSpec,
    _check_choice,
    _check_int,
    _fail,
)
from .settings import FAMILY_TRAINING, DataSpec, TrainingSpec

__all__ = [
    "ModelSpec",
]


#: Most experts a ``qmoe`` spec may have: compiling stays under a second up to here.
MAX_QMOE_EXPERTS = 20

#: Most experts of one-hot routing (one routing qubit each): an expert's routing projector
#: spans ``2**count`` Pauli terms, so compiling takes 0.3 s at 12 and 35 s at 20.
MAX_ONEHOT_EXPERTS = 12


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
        readout: Classical head on the class expectations (``qmoe``/``baseline``; default: the
            family's, :data:`FAMILY_READOUT`).
        training: Training defaults (default: the family's, :data:`FAMILY_TRAINING`).
        data: Default data set (``data.classes`` default: ``0 .. classes-1``).
    """

    name: str
    kind: str = "qmoe"
    classes: int = 4
    encoder: EncoderSpec = field(default_factory=EncoderSpec)
    routing: RoutingSpec = field(default_factory=RoutingSpec)
    experts: ExpertsSpec = field(default_factory=ExpertsSpec)
    # None (the default) stands for the family's, filled in by __post_init__: after
    # construction both are always set, which is the type readers see.
    readout: ReadoutSpec = cast(ReadoutSpec, None)
    training: TrainingSpec = cast(TrainingSpec, None)
    data: DataSpec = field(default_factory=DataSpec)

    def __post_init__(self) -> None:
        if self.readout is None:
            head = FAMILY_READOUT.get(self.kind, "none") if isinstance(self.kind, str) else "none"
            object.__setattr__(self, "readout", ReadoutSpec(head=head))
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
        if self.kind == "qmoe" and self.routing.qubits:
            return self.routing.qubits
        return self.num_select_qubits

    @property
    def num_select_qubits(self) -> int:
        """Routing qubits that select the expert (the first ones of the routing register):
        ``ceil(log2 count)`` for binary routing, ``count`` for one-hot; 0 without routing."""
        if self.kind == "baseline" or (self.kind == "hybrid" and self.routing.kind != "quantum"):
            return 0
        if self.kind == "qmoe" and self.routing.encoding == "onehot":
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
    def searched_blocks(self) -> tuple[str, ...]:
        """Blocks whose ``operators`` is ``"diffqas"`` (a DiffQAS search), in logit order:
        ``"routing"`` (``qmoe`` only), then ``"experts"``."""
        blocks = []
        if self.kind == "qmoe" and self.routing.operators == SEARCH_OPERATORS:
            blocks.append("routing")
        if self.kind in ("qmoe", "baseline") and self.experts.operators == SEARCH_OPERATORS:
            blocks.append("experts")
        return tuple(blocks)

    @property
    def multiplexed(self) -> bool:
        """Whether experts are built as uniformly-controlled rotations."""
        if self.kind in ("baseline", "hybrid"):
            return False
        if self.experts.construction == "controlled":
            return False
        every_state = self.experts.count == 2**self.num_select_qubits
        binary = self.routing.encoding == "binary"
        return binary and (every_state or self.experts.reupload_mode == "none")

    def validate(self) -> None:
        """Check every field and their combinations.

        Raises:
            SpecError: Naming the first invalid field and what is allowed.
        """
        if not isinstance(self.name, str) or not self.name.strip():
            raise _fail("name", self.name, "expected a non-empty string")
        if any(unicodedata.category(c).startswith("C") for c in self.name):
            raise _fail("name", self.name, "expected a name without control characters")
        _check_choice("kind", self.kind, MODEL_KINDS)
        _check_int("classes", self.classes, 2)
        parts = (self.encoder, self.routing, self.experts, self.readout, self.training, self.data)
        for part in parts:
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
        if self.experts.operators == "diffqas" and self.experts.hadamard:
            raise _fail(
                "experts.hadamard",
                True,
                'with experts.operators = "diffqas" each candidate decides the Hadamard layer; '
                "leave hadamard out",
            )
        if self.routing.operators == "diffqas" and self.routing.hadamard:
            raise _fail(
                "routing.hadamard",
                True,
                'with routing.operators = "diffqas" each candidate decides the Hadamard layer; '
                "leave hadamard out",
            )
        if self.routing.execution == "measured" and self.searched_blocks:
            raise _fail(
                "routing.execution",
                "measured",
                "a DiffQAS search is a mixture of circuits, not one circuit to run; train it, "
                "then 'qmoe derive' a plain spec and set execution there",
            )
        for path, used in (
            ("routing.features", self.routing.features),
            ("experts.features", self.experts.features),
        ):
            if used > self.encoder.features:
                raise _fail(
                    path, used, f"at most encoder.features ({self.encoder.features}); 0 = all"
                )
        if self.kind == "qmoe" and self.experts.extra_rotations:
            raise _fail(
                "experts.extra_rotations",
                self.experts.extra_rotations,
                "extra rotations are for a baseline's PQC (equal-budget matching); use 0",
            )
        if self.kind == "qmoe" and self.routing.qubits:
            if self.routing.qubits < self.num_select_qubits:
                raise _fail(
                    "routing.qubits",
                    self.routing.qubits,
                    f"{self.experts.count} experts with {self.routing.encoding} routing need at "
                    f"least {self.num_select_qubits} routing qubits (0 = that many)",
                )
        if self.kind == "baseline" and self.experts.count != 1:
            raise _fail("experts.count", self.experts.count, "a baseline has exactly 1 expert")
        if self.kind == "qmoe":
            if self.experts.count < 2:
                raise _fail("experts.count", self.experts.count, "a qmoe needs >= 2 experts")
            if self.experts.count > MAX_QMOE_EXPERTS:
                raise _fail(
                    "experts.count",
                    self.experts.count,
                    f"a qmoe compiles at most {MAX_QMOE_EXPERTS} experts (the expert stage's "
                    "symbolic angles grow steeply: 24 experts take 5 s to compile, 32 minutes)",
                )
            if self.routing.encoding == "onehot" and self.experts.count > MAX_ONEHOT_EXPERTS:
                raise _fail(
                    "experts.count",
                    self.experts.count,
                    f"one-hot routing compiles at most {MAX_ONEHOT_EXPERTS} experts (one routing "
                    "qubit each; each expert's routing projector has 2**count Pauli terms): use "
                    "routing.encoding = 'binary'",
                )
            if self.experts.construction == "multiplexed" and not self.multiplexed:
                raise _fail(
                    "experts.construction",
                    self.experts.construction,
                    "'multiplexed' needs binary routing, and an expert on every routing state "
                    "when the experts re-upload the input; "
                    "use 'controlled' or 'auto'",
                )
        if self.num_qubits > 32:
            raise _fail("experts.data_qubits", self.experts.data_qubits, "at most 32 qubits")

    def _validate_hybrid(self) -> None:
        if self.readout.head != "none":
            raise _fail(
                "readout.head",
                self.readout.head,
                "a hybrid model's linear experts already give class scores; use 'none'",
            )
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
