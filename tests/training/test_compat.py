"""Run directories written by qmoe-qiskit 0.1 (before the wings) still load, evaluate, resume
once their checkpoint is converted (``qmoe convert-checkpoint``); unconverted, they are refused.

``tests/data/runs/v0.1-*`` were written by commit a6ff703 (1 tiny epoch each, torch engine); their
checkpoints pickle numpy arrays, so they are converted in a copy before each test.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from qmoe_qiskit import evaluate_run, load_run, train
from qmoe_qiskit.cli import main
from qmoe_qiskit.errors import TrainingError
from tests.conftest import REPO

OLD_RUNS = REPO / "tests" / "data" / "runs"


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """Copies of the v0.1 runs with their checkpoints converted by the command a user runs."""
    root = tmp_path_factory.mktemp("old-runs")
    for name in ("v0.1-qmoe", "v0.1-hybrid"):
        shutil.copytree(OLD_RUNS / name, root / name)
    assert main(["convert-checkpoint", str(root)]) == 0
    return root


def test_old_runs_are_refused_until_converted(tmp_path, capsys):
    out = tmp_path / "run"
    shutil.copytree(OLD_RUNS / "v0.1-qmoe", out)
    with pytest.raises(TrainingError, match="earlier qmoe-qiskit.*qmoe convert-checkpoint"):
        load_run(out)
    assert main(["evaluate", str(out)]) == 2
    assert "convert-checkpoint" in capsys.readouterr().err
    assert main(["convert-checkpoint", str(out / "checkpoint.pt")]) == 0
    assert "1 of 1 checkpoint(s) converted" in capsys.readouterr().out
    assert load_run(out).epoch == 1
    assert main(["convert-checkpoint", str(out)]) == 0  # a second time: nothing to do
    assert "already data-only" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["v0.1-qmoe", "v0.1-hybrid"])
@pytest.mark.parametrize("engine", ["torch", "aer"])
def test_old_runs_evaluate_to_their_recorded_accuracy(converted, name, engine):
    run = load_run(converted / name)
    recorded = json.loads((OLD_RUNS / name / "metrics.json").read_text())["test_accuracy"]
    assert run.epoch == 1 and run.config.val_fraction == 0 and run.config.patience == 0
    assert evaluate_run(converted / name, engine=engine)["test_accuracy"] == recorded


def test_old_run_resumes_to_the_same_weights(converted, tmp_path):
    """Resumed here for a second epoch, the v0.1 run ends on the weights v0.1 itself reached
    training 2 epochs in one go (same shuffles, same Adam state). Bit-identical until the torch
    engine's fusion changed its summation order (independent registers, control qubits); a
    wrong shuffle or Adam state would differ by far more than the 1e-12 allowed."""
    out = tmp_path / "run"
    shutil.copytree(converted / "v0.1-qmoe", out)
    before = load_run(out)
    config = before.config.replace(epochs=2)
    metrics = train(before.spec, out, config, resume=True, progress=False, log=lambda _: None)
    assert [row["epoch"] for row in metrics["epochs"]] == [1, 2]
    after = load_run(out)
    assert after.epoch == 2
    reference = json.loads((OLD_RUNS / "v0.1-qmoe-2-epochs.json").read_text())["weights"]
    np.testing.assert_allclose(after.weights, np.asarray(reference), rtol=0, atol=1e-12)
