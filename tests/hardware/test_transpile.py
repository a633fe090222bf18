"""Transpile profiles, ISA circuits with mapped observables, resource and QPU-time reports."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.quantum_info import Statevector
from qiskit_ibm_runtime.fake_provider import FakeNairobiV2

from qmoe_qiskit import compile_model
from qmoe_qiskit.cli import main
from qmoe_qiskit.errors import TranspileError
from qmoe_qiskit.hardware import (
    available_profiles,
    get_fake_backend,
    load_isa,
    load_profile,
    resource_report,
    save_isa,
    transpile_model,
)
from qmoe_qiskit.hardware.report import circuit_duration
from tests.conftest import REPO, make_spec

PACKAGE_PROFILES = REPO / "qmoe_qiskit" / "transpile_profiles"


@pytest.fixture(scope="module")
def model():
    return compile_model(make_spec(**{"experts.count": 2, "experts.layers": 1}))


@pytest.fixture(scope="module")
def backend():
    return FakeNairobiV2()


@pytest.fixture(scope="module")
def transpiled(model, backend):
    return transpile_model(model, backend, "fast")


def test_profiles_present_and_package_copies_identical():
    names = sorted(p.name for p in (REPO / "transpile").glob("*.toml"))
    assert {"default.toml", "fast.toml", "deep.toml"} <= set(names)
    for name in names:
        assert (PACKAGE_PROFILES / name).read_text() == (REPO / "transpile" / name).read_text()
    assert {"default", "fast", "deep"} <= set(available_profiles())
    deep = load_profile("deep")
    assert deep.optimization_level == 3 and deep.options()["seed_transpiler"] == 1234


def test_profile_errors(tmp_path):
    with pytest.raises(TranspileError, match="unknown transpile profile"):
        load_profile("nope")
    bad = tmp_path / "bad.toml"
    bad.write_text("optimization_level = 2\ncolor = 'red'\n")
    with pytest.raises(TranspileError, match="unknown profile keys"):
        load_profile(bad)
    bad.write_text("optimization_level = 7\n")
    with pytest.raises(TranspileError, match="0-3"):
        load_profile(bad)


def test_fake_backend_lookup():
    assert get_fake_backend("fake_nairobi").name == "fake_nairobi"
    assert get_fake_backend("FakeFez").name == "fake_fez"
    with pytest.raises(TranspileError, match="no fake backend"):
        get_fake_backend("fake_atlantis")
    with pytest.raises(TranspileError, match="did you mean fake_torino") as info:
        get_fake_backend("fake_torrino")
    assert len(str(info.value)) < 150  # a suggestion, not the list of every backend


def test_isa_circuit_is_native_and_observables_follow_layout(model, backend, transpiled, rng):
    isa = transpiled.circuit
    for inst in isa.data:
        qargs = tuple(isa.find_bit(q).index for q in inst.qubits)
        assert backend.target.instruction_supported(inst.operation.name, qargs)
    assert {p.name for p in isa.parameters} == {p.name for p in model.circuit.parameters}
    x = rng.uniform(-np.pi, np.pi, model.num_inputs)
    w = rng.uniform(-np.pi, np.pi, model.num_weights)
    values = {p.name: v for p, v in zip(model.input_params, x, strict=True)}
    values.update({p.name: v for p, v in zip(model.weight_params, w, strict=True)})
    state = Statevector(isa.assign_parameters({p: values[p.name] for p in isa.parameters}))
    reference = Statevector(model.bind(x, w))
    for logical, mapped in zip(model.observables, transpiled.observables, strict=True):
        assert np.isclose(state.expectation_value(mapped), reference.expectation_value(logical))


def test_circuit_duration_by_hand(backend):
    qc = QuantumCircuit(7)
    qc.sx(0)
    qc.cx(0, 1)
    qc.rz(0.3, 2)
    qc.x(2)
    t = backend.target
    seconds, missing = circuit_duration(qc, t)
    q0 = t["sx"][(0,)].duration + t["cx"][(0, 1)].duration
    expected = max(
        q0 + t["measure"][(0,)].duration,
        q0 + t["measure"][(1,)].duration,
        t["x"][(2,)].duration + t["measure"][(2,)].duration,
    )
    assert np.isclose(seconds, expected) and expected > 0 and missing == ()


def test_resource_report_formula(transpiled, backend, model):
    report = resource_report(transpiled, backend, circuits=10, shots=1000)
    isa = transpiled.circuit
    assert report.two_qubit_gates == sum(1 for i in isa.data if i.operation.num_qubits == 2)
    assert report.logical_two_qubit_gates == model.summary()["two_qubit_gates"]
    assert np.isclose(
        report.two_qubit_overhead,
        report.two_qubit_gates / report.logical_two_qubit_gates,
        atol=1e-4,
    )
    assert report.rep_delay_s == backend.configuration().default_rep_delay
    assert np.isclose(
        report.qpu_time_s, 10 * 1000 * (report.circuit_duration_s + report.rep_delay_s)
    )
    assert len(report.layout) == model.num_qubits
    assert set(report.layout) <= set(report.physical_qubits)
    assert report.depth == isa.depth()


def test_save_and_load_isa(transpiled, tmp_path):
    qpy_path, sidecar = save_isa(transpiled, tmp_path / "isa.qpy", {"note": "x"})
    loaded, info = load_isa(qpy_path)
    assert loaded.circuit == transpiled.circuit
    assert (
        loaded.circuit.layout.final_index_layout() == transpiled.circuit.layout.final_index_layout()
    )
    assert all(a.equiv(b) for a, b in zip(loaded.observables, transpiled.observables, strict=True))
    assert info["note"] == "x" and loaded.profile.name == "fast"
    assert json.loads(Path(sidecar).read_text())["backend"] == "fake_nairobi"


def test_cli_transpile_json_and_all_fake(tmp_path, capsys, monkeypatch):
    out = tmp_path / "isa.qpy"
    assert (
        main(
            [
                "transpile",
                "qmoe-digits4",
                "--backend",
                "fake_nairobi",
                "--profile",
                "fast",
                "--json",
                "-o",
                str(out),
                "--circuits",
                "5",
                "--shots",
                "100",
            ]
        )
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert data["backend"] == "fake_nairobi" and data["qpy"] == str(out) and out.is_file()
    assert data["num_qubits"] == 6 and data["two_qubit_gates"] >= data["logical_two_qubit_gates"]
    import qmoe_qiskit.hardware as hw

    monkeypatch.setattr(hw, "fake_backend_names", lambda n=0: ("fake_lagos", "fake_nairobi"))
    assert (
        main(["transpile", "qmoe-digits4", "--backend", "all-fake", "--profile", "fast", "--json"])
        == 0
    )
    rows = json.loads(capsys.readouterr().out)["backends"]
    assert [r["backend"] for r in rows] == ["fake_lagos", "fake_nairobi"]
    assert rows[1]["two_qubit_gates"] == data["two_qubit_gates"]  # same seed, same profile
    assert (
        main(["transpile", "qmoe-digits4", "--backend", "fake_nairobi", "--profile", "nope"]) == 2
    )


@pytest.mark.parametrize("damage", ["truncated", "empty", "sidecar"])
def test_a_damaged_isa_file_is_one_line(transpiled, tmp_path, damage, capsys):
    qpy_path, sidecar = save_isa(transpiled, tmp_path / "isa.qpy", {"note": "x"})
    if damage == "truncated":
        qpy_path.write_bytes(qpy_path.read_bytes()[:40])
    elif damage == "empty":
        qpy_path.write_bytes(b"")
    else:
        sidecar.write_text('{"observables": [')
    with pytest.raises(TranspileError, match="not a readable QPY circuit|cannot be read") as info:
        load_isa(qpy_path)
    assert len(str(info.value).splitlines()) == 1


def test_save_isa_replaces_a_planted_link_instead_of_writing_through_it(transpiled, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    run = tmp_path / "run"
    run.mkdir()
    (run / "isa.qpy.json").symlink_to(victim)  # planted in a run directory someone sent
    (run / "isa.qpy").symlink_to(victim)
    save_isa(transpiled, run / "isa.qpy", {})
    assert victim.read_text() == "keep me"
    assert not (run / "isa.qpy.json").is_symlink() and not (run / "isa.qpy").is_symlink()
    assert load_isa(run / "isa.qpy")[0].circuit == transpiled.circuit
    assert not list(run.glob(".*.tmp"))


def _bind_by_name(circuit, model, x, weights):
    values = {p.name: v for p, v in zip(model.input_params, x, strict=True)}
    values.update({p.name: v for p, v in zip(model.weight_params, weights, strict=True)})
    return circuit.assign_parameters({p: values[p.name] for p in circuit.parameters})


def test_a_user_pass_manager_gives_an_isa_circuit_with_the_logical_expectations(
    model, backend, rng
):
    from qiskit.transpiler import generate_preset_pass_manager

    program = model.circuit_model
    pm = generate_preset_pass_manager(optimization_level=3, backend=backend, seed_transpiler=7)
    transpiled = transpile_model(model, backend, pm)
    assert transpiled.profile.name == "custom" and transpiled.backend_name == backend.name
    assert transpiled.profile.optimization_level is None
    isa = transpiled.circuit
    assert isa.num_qubits == backend.num_qubits
    for inst in isa.data:  # every instruction is native on its qubits
        if inst.operation.name != "barrier":
            qargs = tuple(isa.find_bit(q).index for q in inst.qubits)
            assert backend.target.instruction_supported(inst.operation.name, qargs), inst
    weights = rng.uniform(-np.pi, np.pi, program.num_weights)
    for x in rng.uniform(0, np.pi, (2, program.num_inputs)):
        logical = Statevector(program.bind(x, weights))
        physical = Statevector(_bind_by_name(isa, program, x, weights))
        for obs, mapped in zip(program.observables, transpiled.observables, strict=True):
            assert physical.expectation_value(mapped).real == pytest.approx(
                logical.expectation_value(obs).real, abs=1e-9
            )


def test_pass_manager_that_is_not_for_the_backend_is_refused(model, backend):
    from qiskit.transpiler import PassManager, generate_preset_pass_manager

    with pytest.raises(TranspileError, match="not ISA for fake_nairobi"):
        transpile_model(model, backend, PassManager())  # no pass: the logical gates stay
    other = generate_preset_pass_manager(optimization_level=1, basis_gates=["u", "cx"])
    with pytest.raises(TranspileError, match="not ISA") as info:
        transpile_model(model, backend, other)
    assert "\n" not in str(info.value)
    with pytest.raises(TranspileError, match="profile must be a profile name"):
        transpile_model(model, backend, 3)
