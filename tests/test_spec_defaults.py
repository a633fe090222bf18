"""What a minimal spec gets: family training defaults, data classes, fields per family."""

from __future__ import annotations

import numpy as np
import pytest

from qmoe_qiskit import compile_model, train
from qmoe_qiskit.errors import SpecError
from qmoe_qiskit.spec import (
    FAMILY_TRAINING,
    ModelSpec,
    TrainingSpec,
    load_spec,
    spec_from_dict,
    spec_to_toml,
)


def test_data_classes_default_to_the_class_count():
    spec = spec_from_dict({"name": "three", "classes": 3})
    assert spec.data.classes == (0, 1, 2)
    assert ModelSpec(name="two", classes=2).data.classes == (0, 1)
    assert spec_from_dict({"name": "four"}).data.classes == (0, 1, 2, 3)
    assert compile_model(spec).num_classes == 3


def test_qmoe_with_linear_experts_points_to_hybrid():
    with pytest.raises(SpecError, match='experts.kind.*use kind = "hybrid"'):
        spec_from_dict({"name": "m", "experts": {"kind": "linear"}})
    with pytest.raises(SpecError, match='routing.kind.*kind = "hybrid"'):
        spec_from_dict({"name": "m", "routing": {"kind": "mlp"}})


#: A hybrid spec without a [training] table.
MINIMAL_HYBRID = {
    "name": "minimal-hybrid",
    "kind": "hybrid",
    "classes": 2,
    "encoder": {"features": 2},
    "routing": {"layers": 12},
    "experts": {"kind": "linear", "count": 4},
    "data": {"name": "moons"},
}


def test_family_training_defaults_fill_missing_keys():
    minimal = MINIMAL_HYBRID
    spec = spec_from_dict(minimal)
    expected = FAMILY_TRAINING["hybrid"]
    assert {k: getattr(spec.training, k) for k in expected} == expected
    assert spec.training.lr == 0.01 and spec.training.logit_scale == 1.0
    partial = spec_from_dict({**minimal, "training": {"lr": 0.05}})
    assert partial.training.lr == 0.05 and partial.training.patience == 15
    assert spec_from_dict({"name": "q"}).training == TrainingSpec(lr=0.03, class_routing=1.0)
    assert spec_from_dict({"name": "b", "kind": "baseline"}).training == TrainingSpec(lr=0.03)
    assert ModelSpec(name="h", kind="hybrid", classes=2, **_hybrid_parts()).training.lr == 0.01


def _hybrid_parts() -> dict:
    from qmoe_qiskit.spec import EncoderSpec, ExpertsSpec, RoutingSpec

    return {
        "encoder": EncoderSpec(features=2),
        "routing": RoutingSpec(layers=3),
        "experts": ExpertsSpec(kind="linear", count=4),
    }


def test_patience_needs_a_validation_split():
    with pytest.raises(SpecError, match="training.patience.*val_fraction"):
        spec_from_dict({"name": "q", "training": {"patience": 3}})


@pytest.mark.parametrize(
    ("preset", "absent"),
    [
        ("hybrid-moons-quantum", ["rotations", "entangle", "data_qubits", "operators", "hidden"]),
        ("hybrid-moons-linear", ["rotations", "data_qubits", "hidden", "layers ="]),
        ("baseline-mnist2-rx", ["[routing]", "construction", "count ="]),
        ("qmoe-digits4", ["hidden", 'kind = "quantum"']),
    ],
)
def test_saved_spec_holds_only_fields_its_family_uses(preset, absent):
    spec = load_spec(preset)
    text = spec_to_toml(spec)
    for key in absent:
        assert key not in text, key
    again = spec_from_dict(__import__("tomllib").loads(text))
    assert spec_to_toml(again) == text
    assert compile_model(again).summary() == compile_model(spec).summary()


def test_minimal_hybrid_spec_trains_with_the_study_protocol(tmp_path):
    """No [training] table: lr 0.01, logit scale 1, early stopping on a validation split."""
    spec = spec_from_dict(
        {
            **MINIMAL_HYBRID,
            "routing": {"layers": 3},
            "data": {"name": "moons", "train_limit": 200, "test_limit": 100},
        }
    )
    from qmoe_qiskit.training import RunConfig

    config = RunConfig.from_spec(spec, epochs=12, engine="torch")
    assert (config.lr, config.logit_scale, config.val_fraction) == (0.01, 1.0, 0.2)
    metrics = train(spec, tmp_path / "run", config, progress=False, log=lambda _: None)
    rows = metrics["epochs"]
    assert all("val_accuracy" in r for r in rows) and len(rows) <= 12
    assert 1 <= metrics["best_epoch"] <= len(rows)
    assert metrics["test_accuracy"] > 0.75
    assert np.isfinite([r["val_loss"] for r in rows]).all()


def test_a_minimal_qmoe_gets_the_validated_construction():
    """Not the paper's: registers kept apart, scale 0.35, the trainable re-uploading router,
    an affine head, Adam 0.03 and the class-routing loss (chosen on validation splits)."""
    spec = spec_from_dict(
        {"name": "m", "encoder": {"features": 64}, "routing": {"encoding": "binary"},
         "experts": {"count": 5, "data_qubits": 4}}
    )  # fmt: skip
    assert spec.encoder.entangle_mode == "within" and spec.encoder.scale == 0.35
    assert spec.routing.reupload_mode == "trainable" and spec.readout.head == "affine"
    assert spec.training.lr == 0.03 and spec.training.class_routing == 1.0
    assert spec_from_dict({"name": "b", "kind": "baseline"}).readout.head == "affine"
    assert spec_from_dict(MINIMAL_HYBRID).readout.head == "none"  # linear experts score
    paper = load_spec("paper-qmoe-mnist4-rxry")  # the paper's construction, explicitly
    assert paper.encoder.entangle_mode == "all" and paper.encoder.scale == 1.0
    assert paper.routing.reupload_mode == "none" and paper.readout.head == "none"
    assert paper.training.lr == 0.002 and paper.training.class_routing == 0.0


def test_saved_specs_of_earlier_versions_keep_their_meaning(tmp_path):
    """A spec.toml written by 0.1 leaves out fields that did not exist then: loaded from a run
    directory, they take 0.1's defaults, so the run's circuit is the one it was trained as."""
    from qmoe_qiskit.spec import load_saved_spec
    from tests.conftest import REPO

    old = REPO / "tests" / "data" / "runs" / "v0.1-qmoe" / "spec.toml"
    saved = load_saved_spec(old)
    assert saved.encoder.entangle_mode == "all" and saved.encoder.scale == 1.0
    assert saved.routing.reupload_mode == "none" and saved.readout.head == "none"
    assert compile_model(saved).num_weights == 72
    assert load_spec(old).routing.reupload_mode == "trainable"  # as a user's new spec file
    again = tmp_path / "spec.toml"
    again.write_text(spec_to_toml(saved))  # what this version writes lists every field
    assert spec_to_toml(load_saved_spec(again)) == spec_to_toml(load_spec(again))


@pytest.mark.parametrize(
    ("section", "field", "value", "message"),
    [
        ("training", "lr", float("nan"), "training.lr = nan is invalid"),
        ("training", "lr", float("inf"), "training.lr = inf is invalid"),
        ("training", "logit_scale", 1e308, "positive number up to 10000"),
        ("training", "balance", float("nan"), "finite number >= 0"),
        ("training", "class_routing", float("inf"), "finite number >= 0"),
        ("training", "memory_gb", float("inf"), "positive, finite number of GB"),
        ("training", "val_fraction", float("nan"), "in \\[0, 1\\)"),
        ("encoder", "scale", float("nan"), "in \\(0, 100\\]"),
    ],
)
def test_non_finite_numbers_are_refused_at_load(section, field, value, message):
    """TOML has nan and inf literals: a spec file can hold them; none may reach training."""
    import tomllib

    literal = {float("nan"): "nan", float("inf"): "inf"}.get(value, repr(value))
    if value != value:
        literal = "nan"
    text = f'name = "n"\n[{section}]\n{field} = {literal}\n'
    with pytest.raises(SpecError, match=message):
        spec_from_dict(tomllib.loads(text))


@pytest.mark.parametrize("name", ["two\nlines", "tab\there", "bell\x07", "nul\x00"])
def test_spec_names_with_control_characters_are_refused(name, tmp_path):
    with pytest.raises(SpecError, match="without control characters"):
        spec_from_dict({"name": name})
    path = tmp_path / "spec.toml"  # so spec_to_toml never writes one into a run's spec.toml
    path.write_text('name = "ok"\n')
    assert load_spec(path).name == "ok"


@pytest.mark.parametrize("encoding", ["binary", "onehot"])
def test_expert_counts_that_would_not_compile_in_time_name_the_count(encoding):
    """40 experts passed validation and compiled for minutes; 40 one-hot experts were blamed
    on data_qubits."""
    with pytest.raises(SpecError, match="experts.count = 40 is invalid: a qmoe compiles at most"):
        spec_from_dict({"name": "big", "routing": {"encoding": encoding}, "experts": {"count": 40}})
    assert spec_from_dict({"name": "ok", "experts": {"count": 20}}).experts.count == 20
    hybrid = {**MINIMAL_HYBRID, "routing": {"kind": "linear"}, "experts": {"kind": "linear",
              "count": 40}}  # fmt: skip
    assert spec_from_dict(hybrid).experts.count == 40  # classical experts: no circuit to build


def test_the_widest_accepted_qmoe_specs_compile_in_seconds():
    """The validator's expert limits keep compile short (20 one-hot experts took 35 s: their
    routing projectors span 2**20 Pauli terms); a generous 20 s guard, not a benchmark."""
    import time

    from qmoe_qiskit.models import compile_model

    with pytest.raises(SpecError, match="experts.count = 13 is invalid: one-hot routing"):
        spec_from_dict({"name": "w", "routing": {"encoding": "onehot"}, "experts": {"count": 13}})
    for encoding, count in (("onehot", 12), ("binary", 20)):
        spec = spec_from_dict(
            {"name": "wide", "routing": {"encoding": encoding}, "experts": {"count": count}}
        )
        start = time.perf_counter()
        model = compile_model(spec)
        assert time.perf_counter() - start < 20
        assert model.num_experts == count
