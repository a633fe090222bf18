"""Every script in ``examples/`` runs as written and gives the values it claims (each is imported
as a module and its ``main`` run with small settings in a temporary directory)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from qiskit import qasm3

from tests.conftest import REPO, load_module

EXAMPLES = REPO / "examples"


def _load(name: str) -> ModuleType:
    return load_module(EXAMPLES / f"{name}.py", f"example_{name}")


def test_every_example_is_tested_here():
    tested = {"quickstart", "hardware", "quantum_train", "estimator", "qml_classifier"}
    assert {p.stem for p in EXAMPLES.glob("*.py")} == tested


def test_quickstart(tmp_path):
    out = _load("quickstart").main(tmp_path, epochs=1, train_limit=96, test_limit=48)
    assert 0.25 < out["test_accuracy"] <= 1.0  # above chance for 4 classes
    assert out["evaluated"]["test_accuracy"] == pytest.approx(out["test_accuracy"], abs=1e-9)
    matrix = np.asarray(out["routing_matrix"])
    assert matrix.shape == (4, 4) and np.allclose(matrix.sum(axis=1), 1.0, atol=1e-6)
    assert 0.0 <= out["mutual_information"] <= 2.0
    assert (out["run"] / "checkpoint.pt").is_file()
    assert {p.parent for p in tmp_path.rglob("*")} <= {tmp_path, out["run"]}


def test_hardware(tmp_path):
    out = _load("hardware").main(tmp_path, "fake_nairobi", samples=4)
    assert out["report"]["two_qubit_gates"] > 0 and out["price"].dry_run
    assert out["price"].qpu_seconds > 0
    assert [r.status for r in out["ledger_rows"]] == ["done"]  # one 4-sample job, recorded
    assert 0.0 <= out["result"].accuracy <= 1.0
    assert qasm3.loads(out["qasm"].read_text()).num_qubits == 6


def test_quantum_train():
    out = _load("quantum_train").main(epochs=2)
    assert out["plain_equals_generated"]  # the plain MLP holds exactly the generated weights
    assert out["classical_weights"] == 42 and out["accuracy"] > 0.7


def test_estimator():
    scores = _load("estimator").main(epochs=2)
    assert set(scores) == {"qmoe", "baseline"}
    assert all(score > 0.5 for score in scores.values())  # 3 classes: chance is about 0.4


def test_a_script_runs_from_the_command_line(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "quantum_train.py"), "--epochs", "1"],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "plain MLP test accuracy" in done.stdout
    assert not any(Path(tmp_path).iterdir())  # nothing written into the current directory
