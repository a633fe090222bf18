"""Spec loading and validation: every error names the field and what is allowed."""

from __future__ import annotations

import dataclasses

import pytest

from qmoe_qiskit.errors import SpecError
from qmoe_qiskit.spec import available_presets, load_spec, spec_from_dict, spec_to_toml

ISSUE_SPEC = """
name = "qmoe-digits4"
kind = "qmoe"
classes = 4

[encoder]
features = 64
rotations = "ryzxy"
entangle = true

[routing]
encoding = "binary"
layers = 2
aggregation = "none"

[experts]
count = 4
data_qubits = 4
operators = "rx+ry"
layers = 2
entangler = "cnot-ring"
"""


def test_issue_spec_loads_as_written(tmp_path):
    path = tmp_path / "model.toml"
    path.write_text(ISSUE_SPEC)
    spec = load_spec(path)
    assert spec.name == "qmoe-digits4" and spec.kind == "qmoe"
    assert spec.experts.count == 4 and spec.num_route_qubits == 2 and spec.num_qubits == 6
    assert spec.multiplexed
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.classes = 3


def test_presets_ship_with_the_package_and_round_trip(tmp_path):
    names = available_presets()
    assert "qmoe-digits4" in names and "baseline-mnist4-rxry" in names
    assert "qmoe-mnist4-rxryrz-e3" in names
    for name in names:
        spec = load_spec(name)
        path = tmp_path / f"{name}.toml"
        path.write_text(spec_to_toml(spec))
        assert load_spec(path) == spec


@pytest.mark.parametrize(
    "section,key,value,needles",
    [
        ("experts", "operators", "rw", ["experts.operators", "'rx+ry'"]),
        ("experts", "count", 0, ["experts.count", "between 1 and 64"]),
        ("experts", "entangler", "ring", ["experts.entangler", "'cnot-ring'"]),
        ("routing", "encoding", "gray", ["routing.encoding", "'onehot'"]),
        ("routing", "aggregation", "sum", ["routing.aggregation", "'interfere'"]),
        ("routing", "layers", "2", ["routing.layers", "integer"]),
        ("encoder", "rotations", "xyz", ["encoder.rotations", "'r' followed by axes"]),
        ("encoder", "features", -1, ["encoder.features"]),
        ("encoder", "entangle", "yes", ["encoder.entangle", "true, false, or one of 'all'"]),
        ("training", "lr", -0.1, ["training.lr", "positive"]),
        ("training", "memory_gb", 0, ["training.memory_gb", "positive, finite number of GB"]),
        ("experts", "construction", "magic", ["experts.construction", "'multiplexed'"]),
        ("routing", "execution", "sometimes", ["routing.execution", "'measured'"]),
    ],
)
def test_bad_values_name_the_field(section, key, value, needles):
    values = {"name": "m", section: {key: value}}
    with pytest.raises(SpecError) as info:
        spec_from_dict(values)
    for needle in needles:
        assert needle in str(info.value)


def test_cross_field_rules():
    with pytest.raises(SpecError, match="classes.*data_qubits"):
        spec_from_dict({"name": "m", "classes": 5, "experts": {"data_qubits": 4}})
    with pytest.raises(SpecError, match="experts.count.*baseline"):
        spec_from_dict({"name": "m", "kind": "baseline", "experts": {"count": 3}})
    with pytest.raises(SpecError, match="multiplexed.*binary routing"):
        spec_from_dict(
            {
                "name": "m",
                "routing": {"encoding": "onehot"},
                "experts": {"construction": "multiplexed"},
            }
        )
    with pytest.raises(SpecError, match="multiplexed.*expert on every routing state"):
        experts = {"count": 3, "construction": "multiplexed", "reupload": True}
        spec_from_dict({"name": "m", "experts": experts})
    with pytest.raises(SpecError, match="kind.*'qmoe'"):
        spec_from_dict({"name": "m", "kind": "moe"})
    with pytest.raises(SpecError, match="data.classes"):
        spec_from_dict({"name": "m", "classes": 2, "data": {"classes": [0, 1, 2]}})
    with pytest.raises(SpecError, match="routing.execution.*aggregation = 'none'"):
        routing = {"execution": "measured", "aggregation": "interfere"}
        spec_from_dict({"name": "m", "routing": routing})
    with pytest.raises(SpecError, match="routing.execution.*qmoe derive"):
        spec_from_dict(
            {"name": "m", "routing": {"execution": "measured"}, "experts": {"operators": "diffqas"}}
        )


def test_unknown_keys_and_files(tmp_path):
    with pytest.raises(SpecError, match="experts.colour is not a known key"):
        spec_from_dict({"name": "m", "experts": {"colour": "red"}})
    with pytest.raises(SpecError, match="optimizer is not a known key"):
        spec_from_dict({"name": "m", "optimizer": {}})
    with pytest.raises(SpecError, match="neither a file nor a preset"):
        load_spec(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("name = \n")
    with pytest.raises(SpecError, match="not valid TOML"):
        load_spec(bad)


def test_derived_register_sizes():
    assert spec_from_dict({"name": "m", "experts": {"count": 3}}).num_route_qubits == 2
    assert spec_from_dict({"name": "m", "experts": {"count": 3}}).multiplexed  # identity branch
    three = {"name": "m", "experts": {"count": 3, "reupload": True}}
    assert not spec_from_dict(three).multiplexed
    onehot = spec_from_dict({"name": "m", "routing": {"encoding": "onehot"}})
    assert onehot.num_route_qubits == 4 and not onehot.multiplexed
    base = spec_from_dict({"name": "m", "kind": "baseline"})
    assert base.num_route_qubits == 0 and base.experts.count == 1


TASKS = {"mnist4": ("mnist", 4), "mnist2": ("mnist", 2), "fashion4": ("fashion-mnist", 4)}
TASKS["fashion2"] = ("fashion-mnist", 2)


@pytest.mark.parametrize("task", list(TASKS))
@pytest.mark.parametrize("ops", ["rx", "ry", "rxry", "rxryrz"])
def test_paper_preset_families(task, ops):
    """paper-* keep the paper's construction; fair-baseline-* match the QMoE's qubits, weights."""
    from qmoe_qiskit import compile_model

    data, classes = TASKS[task]
    paper = load_spec(f"paper-qmoe-{task}-{ops}")
    assert paper.encoder.entangle_mode == "all" and paper.encoder.scale == 1.0
    assert paper.readout.head == "none" and paper.training.lr == 0.002
    assert paper.data.name == data and paper.classes == classes
    qmoe = compile_model(f"qmoe-{task}-{ops}")
    fair = compile_model(f"fair-baseline-{task}-{ops}")
    baseline = compile_model(f"baseline-{task}-{ops}")
    assert qmoe.spec.encoder == fair.spec.encoder == baseline.spec.encoder
    assert qmoe.spec.readout == fair.spec.readout == baseline.spec.readout
    # the same training, but for the routing loss (a baseline has no router to reward)
    assert qmoe.spec.routing.reupload_mode == "trainable" and qmoe.spec.training.class_routing
    routed = dataclasses.replace(qmoe.spec.training, class_routing=0.0)
    assert routed == fair.spec.training == baseline.spec.training
    assert fair.summary()["num_qubits"] == qmoe.summary()["num_qubits"] == 6
    assert fair.num_weights == qmoe.num_weights
    assert baseline.summary()["num_qubits"] == 4 and baseline.num_weights < qmoe.num_weights
    assert qmoe.spec.routing.operators == qmoe.spec.experts.operators
