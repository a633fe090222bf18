"""Training runs: artefacts, atomic checkpoints, exact resume, evaluation."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from qmoe_qiskit.errors import TrainingError
from qmoe_qiskit.training import RunConfig, evaluate_run, load_run, train
from qmoe_qiskit.training.checkpoints import load_checkpoint
from tests.conftest import make_spec

TINY = make_spec(
    classes=2,
    **{
        "experts.count": 2,
        "experts.data_qubits": 2,
        "experts.layers": 1,
        "routing.layers": 1,
        "data.classes": (0, 1),
    },
)
CONFIG = RunConfig.from_spec(
    TINY, data="digits", train_limit=48, test_limit=24, epochs=2, batch_size=16, lr=0.05, seed=5
)


def _quiet(_msg):
    pass


def test_run_directory_and_metrics(tmp_path):
    out = tmp_path / "run"
    metrics = train(TINY, out, CONFIG, progress=False, log=_quiet)
    for name in ("spec.toml", "run.json", "checkpoint.pt", "metrics.json", "training_curve.png"):
        assert (out / name).is_file(), name
    saved = json.loads((out / "metrics.json").read_text())
    assert saved == json.loads(json.dumps(metrics))
    assert [e["epoch"] for e in saved["epochs"]] == [1, 2]
    assert all(np.isfinite(e["train_loss"]) for e in saved["epochs"])
    assert saved["test_size"] == 24 and 0 <= saved["test_accuracy"] <= 1
    assert (out / "training_curve.png").read_bytes()[:4] == b"\x89PNG"
    assert not list(out.glob("*.tmp"))
    # evaluate recomputes the same accuracy from the checkpoint, independently of train()
    assert evaluate_run(out)["test_accuracy"] == pytest.approx(saved["test_accuracy"])
    with pytest.raises(TrainingError, match="not empty"):
        train(TINY, out, CONFIG, progress=False, log=_quiet)


def test_resume_reaches_the_uninterrupted_weights(tmp_path):
    full = tmp_path / "full"
    train(TINY, full, CONFIG, progress=False, log=_quiet)
    half = tmp_path / "half"
    one_epoch = RunConfig(**{**CONFIG.__dict__, "epochs": 1})
    train(TINY, half, one_epoch, progress=False, log=_quiet)
    assert load_run(half).epoch == 1
    assert not np.allclose(load_run(half).weights, load_run(full).weights)
    train(TINY, half, CONFIG, resume=True, progress=False, log=_quiet)
    resumed, reference = load_run(half), load_run(full)
    assert resumed.epoch == 2
    np.testing.assert_array_equal(resumed.weights, reference.weights)
    state = load_checkpoint(half / "checkpoint.pt")
    assert len(state["history"]) == 2


def test_errors_are_clear(tmp_path):
    with pytest.raises(TrainingError, match="no run to resume"):
        train(TINY, tmp_path / "nothing", CONFIG, resume=True, progress=False, log=_quiet)
    moons = RunConfig.from_spec(TINY, data="moons")
    with pytest.raises(TrainingError, match="2 features but the model encodes 64"):
        train(TINY, tmp_path / "m", moons, progress=False, log=_quiet)
    with pytest.raises(TrainingError, match="not a training run"):
        load_run(tmp_path)


@pytest.mark.parametrize(("trained_with", "other"), [("torch", "aer"), ("aer", "torch")])
def test_checkpoints_are_engine_independent(tmp_path, trained_with, other):
    """A run trained on one engine scores the same test accuracy, sample by sample, on the other."""
    from qmoe_qiskit.engines import build_network

    config = RunConfig.from_spec(
        TINY, data="digits", train_limit=32, test_limit=24, epochs=1, batch_size=16, lr=0.05,
        seed=3, engine=trained_with,
    )  # fmt: skip
    out = tmp_path / "run"
    metrics = train(TINY, out, config, progress=False, log=_quiet)
    result = evaluate_run(out, engine=other)
    assert result["engine"] == other
    assert result["test_accuracy"] == pytest.approx(metrics["test_accuracy"])
    run = load_run(out)
    x = torch.as_tensor(run.config.load_data().x_test)
    with torch.no_grad():
        a = build_network(run.model, run.weights, engine="aer")(x).double()
        b = build_network(run.model, run.weights, engine="torch")(x).double()
    np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)


def test_two_concurrent_starts_into_one_directory_one_is_refused(tmp_path):
    """The second of two trains started together into the same --out is refused in one line
    (before, both exited 0 and the first result was silently lost)."""
    import subprocess
    import sys
    from pathlib import Path

    qmoe = str(Path(sys.executable).with_name("qmoe"))
    out = tmp_path / "run"
    argv = [qmoe, "train", "qmoe-digits4-pca8", "--engine", "torch", "--epochs", "2",
            "--train-limit", "200", "--test-limit", "8", "--quiet", "--threads", "1",
            "--out", str(out)]  # fmt: skip
    first = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
    second = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
    codes = sorted([first.wait(timeout=600), second.wait(timeout=600)])
    errors = first.stderr.read() + second.stderr.read()
    assert codes == [0, 2], errors
    assert "is being written by process" in errors or "is not empty" in errors
    assert len([line for line in errors.splitlines() if "error" in line]) == 1
    assert json.loads((out / "metrics.json").read_text())["test_accuracy"] >= 0
