"""Weight budgets of ``qmoe`` / ``baseline`` specs and the equal-budget baseline of a QMoE.

An equal-budget baseline is the fair comparison for a QMoE: one PQC on the same number of
qubits, with the same number of trained weights (input scalings of trainable re-uploading and
the readout head included), the same encoder, the same re-uploading (on its own qubits), the
same head and the same training settings (routing losses apart: a baseline has no router).
:func:`equal_budget_baseline` derives it from the QMoE's spec, so it follows every change of
the QMoE; a spec file says ``equal_budget_of = "PRESET-OR-PATH"`` to get it.
"""

from __future__ import annotations

import dataclasses

from ..errors import SpecError
from .model import ModelSpec
from .sections import SEARCH_OPERATORS, parse_operators

__all__ = ["equal_budget_baseline", "reupload_weight_count", "spec_weight_count"]

_HEAD_WEIGHTS = {"none": lambda c: 0, "scale": lambda c: 2 * c, "affine": lambda c: c * c + c}


def _reupload(mode: str, features: int, encoder_features: int, layers: int) -> int:
    return 2 * (features or encoder_features) * layers if mode == "trainable" else 0


def reupload_weight_count(spec: ModelSpec) -> int:
    """Weights of the spec's trainable re-uploading (input scales and offsets), both stages."""
    features = spec.encoder.features
    experts = spec.experts
    total = _reupload(
        experts.reupload_mode, experts.features, features, experts.reupload_layers or experts.layers
    )
    if spec.kind == "qmoe":
        routing = spec.routing
        total += _reupload(routing.reupload_mode, routing.features, features, routing.layers)
    return total


def spec_weight_count(spec: ModelSpec) -> int:
    """Trained weights of a ``qmoe`` or ``baseline`` spec: circuit and readout head.

    Raises:
        SpecError: For another kind, or a DiffQAS search (its weights depend on the candidates).
    """
    if spec.kind not in ("qmoe", "baseline") or spec.searched_blocks:
        raise SpecError(
            f"{spec.name}: weight budgets are defined for plain qmoe and baseline specs"
        )
    experts = spec.experts
    d = experts.data_qubits
    ops = len(parse_operators("experts.operators", experts.operators))
    per_expert = d * ops * experts.layers + experts.extra_rotations
    total = reupload_weight_count(spec) + _HEAD_WEIGHTS[spec.readout.head](spec.classes)
    if spec.kind == "baseline":
        return total + per_expert
    routing = spec.routing
    m = spec.num_route_qubits
    route_ops = len(parse_operators("routing.operators", routing.operators))
    return (
        total
        + m * route_ops * routing.layers
        + routing.couplings * m * d
        + experts.count * per_expert
    )


def equal_budget_baseline(spec: ModelSpec, name: str | None = None) -> ModelSpec:
    """The baseline with a QMoE's qubits, trained weights, encoder, re-uploading and head.

    One PQC of ``experts.operators`` layers (the QMoE's expert entangler and Hadamard choice) on
    all ``num_qubits`` qubits; its rotations make up what the QMoE spends on routing, couplings
    and experts: ``L`` full layers plus ``extra_rotations`` of one more. Trainable re-uploading
    in the QMoE (router, experts or both) becomes the same number of trainable re-upload
    layers, over the same features, before the baseline's first layers; fixed re-uploading
    becomes fixed re-uploading before every layer.

    Args:
        spec: A plain ``qmoe`` spec.
        name: The baseline's name (default: ``fair-baseline-`` + the QMoE's name without a
            leading ``qmoe-``).

    Returns:
        The validated baseline spec.

    Raises:
        SpecError: For a spec that is not a plain ``qmoe``, or re-uploading the baseline cannot
            mirror (trainable re-uploads over different feature counts).
    """
    if spec.kind != "qmoe" or spec.routing.operators == SEARCH_OPERATORS:
        raise SpecError(f"{spec.name}: an equal-budget baseline is derived from a plain qmoe spec")
    total = spec_weight_count(spec)
    n = spec.num_qubits
    routing, experts = spec.routing, spec.experts
    features = spec.encoder.features
    trainable = [
        (r.features or features, layers)
        for r, layers in (
            (routing, routing.layers),
            (experts, experts.reupload_layers or experts.layers),
        )
        if r.reupload_mode == "trainable"
    ]
    if len({f for f, _ in trainable}) > 1:
        raise SpecError(
            f"{spec.name}: router and experts re-upload different feature counts; an "
            "equal-budget baseline cannot mirror that (use the same routing.features and "
            "experts.features)"
        )
    modes = {routing.reupload_mode, experts.reupload_mode}
    mode = "trainable" if trainable else ("fixed" if "fixed" in modes else "none")
    reupload_features = trainable[0][0] if trainable else 0
    reupload_layers = sum(layers for _, layers in trainable)
    head = _HEAD_WEIGHTS[spec.readout.head](spec.classes)
    rotations = total - head - 2 * reupload_features * reupload_layers
    per_layer = n * len(parse_operators("experts.operators", experts.operators))
    layers, extra = divmod(rotations, per_layer)
    if layers < max(1, reupload_layers):
        layers, extra = max(1, reupload_layers), 0  # pragma: no cover - tiny specs only
    baseline_experts = dataclasses.replace(
        experts,
        count=1,
        data_qubits=n,
        layers=layers,
        extra_rotations=extra,
        construction="auto",
        reupload=mode if mode != "none" else False,
        features=reupload_features if mode == "trainable" else 0,
        reupload_layers=reupload_layers if mode == "trainable" else 0,
    )
    default = "fair-baseline-" + spec.name.removeprefix("qmoe-")
    training = dataclasses.replace(spec.training, balance=0.0, specialise=0.0, class_routing=0.0)
    out = dataclasses.replace(
        spec,
        name=name or default,
        kind="baseline",
        routing=type(spec.routing)(),
        experts=baseline_experts,
        training=training,
    )
    if spec_weight_count(out) != total:  # pragma: no cover - guarded by the tests
        raise SpecError(f"{spec.name}: equal-budget baseline has {spec_weight_count(out)} weights")
    return out
