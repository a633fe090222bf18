"""Checkpoints hold data only: a crafted pickle is refused in one line and nothing in it runs."""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from qmoe_qiskit.cli import main
from qmoe_qiskit.errors import TrainingError
from qmoe_qiskit.training import FitState
from qmoe_qiskit.training.checkpoints import (
    convert_legacy_checkpoint,
    load_checkpoint,
    save_checkpoint,
    unsafe_globals,
)
from tests.conftest import train_tiny_run


class Payload:
    """Pickles to a call of ``os.system`` that writes a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"echo pwned > {self.marker}",))


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    return train_tiny_run(tmp_path_factory.mktemp("ckpt") / "run", test_limit=8)


def _copy(run: Path, tmp_path: Path) -> Path:
    out = tmp_path / "run"
    shutil.copytree(run, out)
    return out


def _plant(run: Path, marker: Path, *, legacy: bool = True) -> None:
    """Replace the run's checkpoint by one that still holds its (numpy) weights beside a
    payload, written the way an earlier version wrote checkpoints (plain pickle)."""
    state = load_checkpoint(run / "checkpoint.pt")
    state["weights"] = np.asarray(state["weights"])
    state["extra"] = Payload(marker)
    torch.save(state, run / "checkpoint.pt")


def test_round_trip_keeps_types_and_values(tmp_path):
    param = torch.nn.Parameter(torch.zeros(3))
    adam = torch.optim.Adam([param], lr=0.1)
    param.grad = torch.ones(3)
    adam.step()
    state = FitState(
        epoch=2,
        weights=np.linspace(0, 1, 5),
        optimizer=adam.state_dict(),
        history=[{"epoch": 1, "train_loss": np.float64(0.5), "routing_mi": 0.1}],
        steps=[1.0, 0.5],
        best_val_loss=math.inf,
        best_weights=np.arange(4, dtype=np.float32),
    )
    save_checkpoint(tmp_path / "c.pt", state)
    assert unsafe_globals(tmp_path / "c.pt") == []
    back = load_checkpoint(tmp_path / "c.pt")
    assert isinstance(back["weights"], np.ndarray) and back["weights"].dtype == np.float64
    np.testing.assert_array_equal(back["weights"], state.weights)
    assert back["best_weights"].dtype == np.float32
    assert type(back["history"][0]["train_loss"]) is float
    assert back["best_val_loss"] == math.inf
    torch.testing.assert_close(
        back["optimizer"]["state"][0]["exp_avg"], adam.state_dict()["state"][0]["exp_avg"]
    )
    assert FitState(**back).epoch == 2
    assert not list(tmp_path.glob("*.tmp"))


def test_crafted_checkpoint_runs_nothing_from_the_cli(tiny_run, tmp_path, capsys):
    run = _copy(tiny_run, tmp_path)
    marker = tmp_path / "marker"
    _plant(run, marker)
    for command in (["evaluate", str(run)], ["compile", str(run)], ["routing", str(run)]):
        assert main(command) == 2, command
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "posix.system" in err and "refused" in err, err
    with pytest.raises(TrainingError, match="refused"):
        convert_legacy_checkpoint(run / "checkpoint.pt")
    assert main(["convert-checkpoint", str(run)]) == 2
    assert "does not trust" in capsys.readouterr().err
    assert not marker.exists()
    # the same pickle really runs its payload when loaded the old way: the test can fail
    torch.load(run / "checkpoint.pt", weights_only=False)
    assert marker.read_text().strip() == "pwned"


def test_crafted_checkpoint_in_a_fresh_process(tiny_run, tmp_path):
    """``qmoe evaluate`` as a user runs it: exit 2, one line on stderr, no marker."""
    run = _copy(tiny_run, tmp_path)
    marker = tmp_path / "marker"
    _plant(run, marker)
    qmoe = str(Path(sys.executable).with_name("qmoe"))
    done = subprocess.run([qmoe, "evaluate", str(run)], capture_output=True, text=True)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert not marker.exists()


def test_resume_refuses_a_crafted_checkpoint(tiny_run, tmp_path):
    from qmoe_qiskit.training import train

    run = _copy(tiny_run, tmp_path)
    marker = tmp_path / "marker"
    _plant(run, marker)
    from qmoe_qiskit.spec import load_spec
    from qmoe_qiskit.training.runs import read_config

    with pytest.raises(TrainingError, match="refused"):
        train(load_spec(run / "spec.toml"), run, read_config(run).replace(epochs=2), resume=True,
              progress=False, log=lambda _: None)  # fmt: skip
    assert not marker.exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (lambda p: p.write_bytes(p.read_bytes()[:200]), "truncated or not a torch checkpoint"),
        (lambda p: p.write_bytes(b""), "cannot be read"),
        (lambda p: save_checkpoint(p, {"epoch": 1}), "holds no weights"),
        (lambda p: torch.save(torch.zeros(2), p), "holds a Tensor, not a dict"),
    ],
    ids=["truncated", "empty", "no-weights", "not-a-dict"],
)
def test_damaged_checkpoints_are_one_line(tiny_run, tmp_path, capsys, content, message):
    run = _copy(tiny_run, tmp_path)
    content(run / "checkpoint.pt")
    assert main(["evaluate", str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err


def test_legacy_fit_state_is_converted(tmp_path):
    """Quantum-Train studies pickled ``FitState`` objects: converted into plain fields."""
    path = tmp_path / "checkpoint.pt"
    torch.save(FitState(epoch=3, weights=np.ones(4), history=[{"epoch": 1}]), path)
    assert "qmoe_qiskit.training.loop.FitState" in unsafe_globals(path)
    with pytest.raises(TrainingError, match="earlier qmoe-qiskit"):
        load_checkpoint(path)
    assert convert_legacy_checkpoint(path) is True
    state = FitState(**load_checkpoint(path))
    assert state.epoch == 3 and isinstance(state.weights, np.ndarray)
    assert convert_legacy_checkpoint(path) is False


def test_resume_removes_temporary_files_a_kill_left(tiny_run, tmp_path):
    from qmoe_qiskit.spec import load_saved_spec
    from qmoe_qiskit.training import train
    from qmoe_qiskit.training.runs import read_config

    run = _copy(tiny_run, tmp_path)
    stale = run / ".checkpoint.pt.abc123.tmp"  # what a kill during a checkpoint write leaves
    stale.write_bytes(b"half a checkpoint")
    train(load_saved_spec(run / "spec.toml"), run, read_config(run).replace(epochs=2),
          resume=True, progress=False, log=lambda _: None)  # fmt: skip
    assert not stale.exists() and load_checkpoint(run / "checkpoint.pt")["epoch"] == 2
