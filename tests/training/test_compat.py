"""Run directories written by qmoe-qiskit 0.1 (before the wings) still load, evaluate, resume.

``tests/data/runs/v0.1-*`` were written by commit a6ff703 (1 tiny epoch each, torch engine).
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from qmoe_qiskit import evaluate_run, load_run, train
from tests.conftest import REPO

OLD_RUNS = REPO / "tests" / "data" / "runs"


@pytest.mark.parametrize("name", ["v0.1-qmoe", "v0.1-hybrid"])
@pytest.mark.parametrize("engine", ["torch", "aer"])
def test_old_runs_evaluate_to_their_recorded_accuracy(name, engine):
    run = load_run(OLD_RUNS / name)
    recorded = json.loads((OLD_RUNS / name / "metrics.json").read_text())["test_accuracy"]
    assert run.epoch == 1 and run.config.val_fraction == 0 and run.config.patience == 0
    assert evaluate_run(OLD_RUNS / name, engine=engine)["test_accuracy"] == recorded


def test_old_run_resumes_to_the_same_weights(tmp_path):
    """Resumed here for a second epoch, the v0.1 run ends on the weights v0.1 itself reached
    training 2 epochs in one go (same shuffles, same Adam state). Bit-identical until the torch
    engine's fusion changed its summation order (independent registers, control qubits); a
    wrong shuffle or Adam state would differ by far more than the 1e-12 allowed."""
    out = tmp_path / "run"
    shutil.copytree(OLD_RUNS / "v0.1-qmoe", out)
    before = load_run(out)
    config = before.config.replace(epochs=2)
    metrics = train(before.spec, out, config, resume=True, progress=False, log=lambda _: None)
    assert [row["epoch"] for row in metrics["epochs"]] == [1, 2]
    after = load_run(out)
    assert after.epoch == 2
    reference = json.loads((OLD_RUNS / "v0.1-qmoe-2-epochs.json").read_text())["weights"]
    np.testing.assert_allclose(after.weights, np.asarray(reference), rtol=0, atol=1e-12)
