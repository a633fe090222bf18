"""Every model family works with every command (one preset each, tiny data)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qmoe_qiskit.cli import main

#: Preset -> (train arguments that keep it tiny, has a circuit).
FAMILIES = {
    "qmoe-digits4-diffqas": (["--train-limit", "24", "--test-limit", "8"], False),
    "qmoe-digits4-pca8": (["--train-limit", "24", "--test-limit", "8"], True),
    "baseline-mnist2-rx": (
        ["--data", "digits", "--classes", "3,6", "--train-limit", "16", "--test-limit", "6"],
        True,
    ),
    "hybrid-moons-quantum": (["--train-limit", "32", "--test-limit", "8"], True),
    "hybrid-moons-linear": (["--train-limit", "32", "--test-limit", "8"], False),
    "hybrid-moons-mlp": (["--train-limit", "32", "--test-limit", "8"], False),
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """One tiny trained run per family (1 epoch, torch engine)."""
    root = tmp_path_factory.mktemp("families")
    out = {}
    for preset, (extra, _) in FAMILIES.items():
        run = root / preset
        argv = ["train", preset, "--out", str(run), "--epochs", "1", "--engine", "torch"]
        assert main([*argv, *extra, "--quiet"]) == 0
        out[preset] = run
    return out


def _json(capsys) -> dict:
    return json.loads(capsys.readouterr().out)


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("preset", FAMILIES)
def test_compile(preset, tmp_path, capsys):
    _, has_circuit = FAMILIES[preset]
    assert main(["compile", preset, "--json"]) == 0
    summary = _json(capsys)
    assert summary["name"] == preset and summary["family"] == preset.split("-")[0]
    assert summary["parts"]
    assert main(["compile", preset]) == 0
    text = capsys.readouterr().out
    assert "experts 4 x rx+ry" not in text or preset.startswith("qmoe")
    drawing = tmp_path / "circuit.txt"
    if has_circuit:
        assert main(["compile", preset, "--draw", str(drawing)]) == 0
        assert drawing.is_file() and drawing.stat().st_size > 0
        capsys.readouterr()
    else:
        assert main(["compile", preset, "--draw", str(drawing)]) == 2
        error = _error(capsys)
        assert ("no circuit" in error or "qmoe derive" in error) and not drawing.exists()


@pytest.mark.parametrize("preset", FAMILIES)
def test_train_and_evaluate_on_both_engines(preset, runs, capsys):
    run = runs[preset]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["family"] == preset.split("-")[0] and len(metrics["epochs"]) == 1
    scores = {}
    for engine in ("torch", "aer"):
        assert main(["evaluate", str(run), "--engine", engine, "--json"]) == 0
        scores[engine] = _json(capsys)["test_accuracy"]
    # Outputs agree to 1e-6 (tests/engines); an exact tie (e.g. both class scores 0 up to
    # rounding) may break differently, so allow one test sample of difference.
    assert abs(scores["aer"] - scores["torch"]) <= 1 / metrics["test_size"] + 1e-12
    assert scores["torch"] == pytest.approx(metrics["test_accuracy"])
    saved = (run / "spec.toml").read_text()
    if preset.startswith("hybrid"):
        assert "rotations" not in saved and "data_qubits" not in saved
    if preset.startswith("baseline"):
        assert "[routing]" not in saved


@pytest.mark.parametrize("preset", FAMILIES)
def test_hardware_commands(preset, runs, tmp_path, capsys):
    _, has_circuit = FAMILIES[preset]
    run = str(runs[preset])
    ledger = str(tmp_path / "jobs.sqlite")
    commands = {
        "transpile": ["transpile", run, "--backend", "fake_nairobi", "--json"],
        "submit": [
            "submit", run, "--backend", "fake_nairobi", "--limit", "2", "--ledger", ledger,
            "--shots", "256", "--json",
        ],
        "price": [
            "submit", run, "--backend", "fake_nairobi", "--limit", "2", "--ledger", ledger,
            "--dry-run", "--json",
        ],
        "qasm3": ["export", run, "--format", "qasm3", "-o", str(tmp_path / "c.qasm")],
        "qpy": ["export", run, "--format", "qpy", "-o", str(tmp_path / "c.qpy")],
        "noise": ["evaluate", run, "--noise", "fake_nairobi", "--noise-limit", "2", "--json"],
    }  # fmt: skip
    for name, argv in commands.items():
        status = main(argv)
        if not has_circuit:
            assert status == 2, name
            error = _error(capsys)
            # A search is a mixture of circuits: the error points to qmoe derive.
            assert "no quantum circuit" in error or "qmoe derive" in error, error
            continue
        assert status == 0, name
        out = capsys.readouterr().out
        if name == "transpile":
            assert json.loads(out)["backend"] == "fake_nairobi"
        elif name == "submit":
            result = json.loads(out)
            assert result["mode"] == "local" and 0 <= result["accuracy"] <= 1
            assert sum(len(j["result"]["predictions"]) for j in result["jobs"]) == 2
        elif name == "price":
            price = json.loads(out)
            assert price["dry_run"] and price["circuits"] >= 2
            assert price["estimated_qpu_seconds"] > 0
        elif name == "noise":
            result = json.loads(out)
            assert result["noise_test_size"] == 2 and 0 <= result["noisy_accuracy"] <= 1
    if has_circuit:
        assert (tmp_path / "c.qasm").is_file() and (tmp_path / "c.qpy").is_file()
    else:
        assert not (tmp_path / "c.qasm").exists()
