"""The qmoe command line, end to end in-process."""

from __future__ import annotations

import json

import torch

from qmoe_qiskit.cli import main


def test_compile_json_has_exactly_the_documented_keys(capsys):
    assert main(["compile", "qmoe-digits4", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert list(summary) == [
        "name", "family", "num_qubits", "route_qubits", "data_qubits", "num_inputs",
        "num_weights", "depth", "two_qubit_gates", "parts",
    ]  # fmt: skip
    assert summary["num_qubits"] == 6 and summary["num_weights"] == 72


def test_compile_draw_and_human_summary(tmp_path, capsys):
    drawing = tmp_path / "circuit.txt"
    assert main(["compile", "qmoe-digits4", "--draw", str(drawing)]) == 0
    assert "two_qubit_gates" in capsys.readouterr().out
    assert "route" in drawing.read_text()


def test_bad_spec_is_an_error_naming_the_field(tmp_path, capsys):
    spec = tmp_path / "bad.toml"
    spec.write_text('name = "x"\n[experts]\noperators = "rq"\n')
    assert main(["compile", str(spec)]) == 2
    err = capsys.readouterr().err
    assert "experts.operators" in err and "Traceback" not in err


def test_train_then_evaluate(tmp_path, capsys):
    spec = tmp_path / "tiny.toml"
    spec.write_text(
        'name = "tiny"\nclasses = 2\n[routing]\nlayers = 1\n'
        "[experts]\ncount = 2\ndata_qubits = 2\nlayers = 1\n[data]\nclasses = [0, 1]\n"
    )
    out = tmp_path / "run"
    args = ["train", str(spec), "--data", "digits", "--classes", "3,8", "--epochs", "1"]
    args += ["--batch-size", "16", "--train-limit", "32", "--test-limit", "16", "--seed", "2"]
    before = torch.get_num_threads()
    try:
        assert main(args + ["--out", str(out), "--quiet", "--threads", "1"]) == 0
        assert torch.get_num_threads() == 1  # set explicitly, not left to torch
    finally:
        torch.set_num_threads(before)
    captured = capsys.readouterr()
    assert "engine aer on CPU" in captured.out and "test accuracy" in captured.out
    assert main(["evaluate", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    metrics = json.loads((out / "metrics.json").read_text())
    assert result == {"test_accuracy": metrics["test_accuracy"]}
    assert json.loads((out / "run.json").read_text())["classes"] == [3, 8]
    assert main(["train", str(spec), "--out", str(out), "--device", "gpu"]) == 2
    assert "not empty" in capsys.readouterr().err  # the run directory is checked first
