"""Model specifications: frozen dataclasses, TOML loading and validation.

A spec is validated completely before any circuit is built. Every error names the offending
field with its dotted path (``experts.operators``) and says what is allowed.
"""

from ..errors import SpecError
from .io import UNUSED_FIELDS, load_spec, spec_from_dict, spec_to_dict, spec_to_toml
from .model import ModelSpec
from .presets import available_presets, preset_description, preset_text
from .sections import (
    AGGREGATIONS,
    CONSTRUCTIONS,
    DATASETS,
    ENTANGLERS,
    EXECUTIONS,
    EXPERT_KINDS,
    FAMILY_TRAINING,
    MAX_HYBRID_QUBITS,
    MODEL_KINDS,
    OPERATOR_SETS,
    ROUTER_KINDS,
    ROUTING_ENCODINGS,
    SEARCH_OPERATORS,
    DataSpec,
    EncoderSpec,
    ExpertsSpec,
    ReadoutSpec,
    RoutingSpec,
    TrainingSpec,
    parse_operators,
    parse_rotations,
)

__all__ = [
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
