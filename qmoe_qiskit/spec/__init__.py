"""Model specifications: frozen dataclasses, TOML loading and validation.

A spec is validated completely before any circuit is built. Every error names the offending
field with its dotted path (``experts.operators``) and says what is allowed.
"""

from ..errors import SpecError
from .budget import equal_budget_baseline, reupload_weight_count, spec_weight_count
from .io import (
    LEGACY_DEFAULTS,
    UNUSED_FIELDS,
    load_saved_spec,
    load_spec,
    spec_from_dict,
    spec_to_dict,
    spec_to_toml,
)
from .model import ModelSpec
from .presets import available_presets, preset_description, preset_text
from .sections import (
    AGGREGATIONS,
    CONSTRUCTIONS,
    DATASETS,
    ENTANGLERS,
    EXECUTIONS,
    EXPERT_KINDS,
    FAMILY_READOUT,
    MAX_HYBRID_QUBITS,
    MODEL_KINDS,
    OPERATOR_SETS,
    ROUTER_KINDS,
    ROUTING_ENCODINGS,
    SEARCH_OPERATORS,
    EncoderSpec,
    ExpertsSpec,
    ReadoutSpec,
    RoutingSpec,
    parse_operators,
    parse_rotations,
)
from .settings import FAMILY_TRAINING, DataSpec, TrainingSpec

__all__ = [
    "LEGACY_DEFAULTS",
    "load_saved_spec",
    "FAMILY_READOUT",
    "equal_budget_baseline",
    "reupload_weight_count",
    "spec_weight_count",
    "AGGREGATIONS",
    "EXECUTIONS",
    "CONSTRUCTIONS",
    "DATASETS",
    "DataSpec",
    "ENTANGLERS",
    "EXPERT_KINDS",
    "EncoderSpec",
    "ExpertsSpec",
    "FAMILY_TRAINING",
    "MAX_HYBRID_QUBITS",
    "MODEL_KINDS",
    "ModelSpec",
    "OPERATOR_SETS",
    "SEARCH_OPERATORS",
    "ROUTER_KINDS",
    "ROUTING_ENCODINGS",
    "ReadoutSpec",
    "RoutingSpec",
    "SpecError",
    "TrainingSpec",
    "UNUSED_FIELDS",
    "available_presets",
    "load_spec",
    "parse_operators",
    "parse_rotations",
    "preset_description",
    "preset_text",
    "spec_from_dict",
    "spec_to_dict",
    "spec_to_toml",
]
