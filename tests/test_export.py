"""Export round trips: OpenQASM 3 / 2 and QPY give back the same operator."""

from __future__ import annotations

import json

import numpy as np
import pytest
from qiskit import qasm2, qasm3, qpy
from qiskit.quantum_info import Operator

from qmoe_qiskit import compile_model
from qmoe_qiskit.cli import main
from qmoe_qiskit.export import ExportError, export_model, qasm_name, rename_parameters
from tests.conftest import make_spec


@pytest.fixture(scope="module")
def small_models():
    return {
        "multiplexed": compile_model(make_spec(**{"experts.count": 2, "experts.layers": 1})),
        "controlled": compile_model(
            make_spec(
                **{"experts.count": 2, "experts.layers": 1, "experts.construction": "controlled"}
            )
        ),
    }


def _values(model, rng):
    return rng.uniform(-np.pi, np.pi, model.num_inputs), rng.uniform(
        -np.pi, np.pi, model.num_weights
    )


@pytest.mark.parametrize("kind", ["multiplexed", "controlled"])
def test_qasm3_roundtrip_binds_by_name(kind, small_models, tmp_path, rng):
    model = small_models[kind]
    result = export_model(model, tmp_path / "m.qasm", "qasm3")
    text = result.path.read_text()
    assert "input float[64] x_0;" in text and "gate " not in text  # flattened: no custom gates
    mapping = json.loads(result.map_path.read_text())
    assert set(mapping.values()) == {p.name for p in model.circuit.parameters}
    loaded = qasm3.loads(text)
    x, w = _values(model, rng)
    ours = {p.name: v for p, v in zip(model.input_params, x, strict=True)}
    ours.update({p.name: v for p, v in zip(model.weight_params, w, strict=True)})
    bound = loaded.assign_parameters({p: ours[mapping[p.name]] for p in loaded.parameters})
    assert Operator(bound).equiv(Operator(model.bind(x, w)))


def test_qasm2_bound_roundtrip(small_models, tmp_path, rng):
    model = small_models["controlled"]
    x, w = _values(model, rng)
    result = export_model(model, tmp_path / "m.qasm", "qasm2", weights=w, inputs=x)
    loaded = qasm2.loads(result.path.read_text())
    assert loaded.num_parameters == 0
    assert Operator(loaded).equiv(Operator(model.bind(x, w)))


def test_qasm2_refuses_free_parameters(small_models, tmp_path, rng):
    model = small_models["multiplexed"]
    with pytest.raises(ExportError, match="free parameters"):
        export_model(model, tmp_path / "m.qasm", "qasm2", weights=_values(model, rng)[1])


def test_qpy_roundtrip(small_models, tmp_path, rng):
    model = small_models["controlled"]
    result = export_model(model, tmp_path / "m.qpy", "qpy")
    with open(result.path, "rb") as handle:
        (loaded,) = qpy.load(handle)
    assert {p.name for p in loaded.parameters} == {p.name for p in model.circuit.parameters}
    x, w = _values(model, rng)
    values = {p.name: v for p, v in zip(model.input_params, x, strict=True)}
    values.update({p.name: v for p, v in zip(model.weight_params, w, strict=True)})
    bound = loaded.assign_parameters({p: values[p.name] for p in loaded.parameters})
    assert Operator(bound).equiv(Operator(model.bind(x, w)))
    # a second dump of the loaded circuit is byte-identical QPY content (QPY equality)
    with open(tmp_path / "again.qpy", "wb") as handle:
        qpy.dump(loaded, handle)
    with open(tmp_path / "again.qpy", "rb") as handle:
        assert qpy.load(handle)[0] == loaded


def test_names_and_collisions():
    assert qasm_name("x[3]") == "x_3" and qasm_name("expert1[12]") == "expert1_12"
    from qiskit import QuantumCircuit
    from qiskit.circuit import Parameter

    qc = QuantumCircuit(1)
    qc.rx(Parameter("a[1]"), 0)
    qc.ry(Parameter("a_1"), 0)
    with pytest.raises(ExportError, match="both map"):
        rename_parameters(qc)


def test_cli_export_spec_qasm3(tmp_path, capsys):
    out = tmp_path / "digits.qasm"
    assert main(["export", "qmoe-digits4", "--format", "qasm3", "-o", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["free_parameters"] == 64 + 72
    assert qasm3.loads(out.read_text()).num_parameters == 136
    assert main(["export", "qmoe-digits4", "--format", "qasm2", "-o", str(out)]) == 2
    assert "free parameters" in capsys.readouterr().err
