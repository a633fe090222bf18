"""``kill -9`` at any point of ``qmoe train``, then ``--resume``: the same weights as no kill."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from qmoe_qiskit.training.checkpoints import load_checkpoint

QMOE = str(Path(sys.executable).with_name("qmoe"))
ARGS = [
    "train", "qmoe-digits4-pca8", "--data", "digits", "--train-limit", "400", "--test-limit", "8",
    "--batch-size", "8", "--epochs", "6", "--engine", "torch", "--device", "cpu", "--quiet",
]  # fmt: skip
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _start(out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [QMOE, *ARGS, "--out", str(out), *extra],
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _epoch(out: Path) -> int:
    try:
        return int(load_checkpoint(out / "checkpoint.pt")["epoch"])
    except Exception:  # absent, or being replaced: the atomic write is under test
        return 0


def _kill_when(process: subprocess.Popen, ready, extra_delay: float) -> bool:
    """SIGKILL ``process`` once ``ready()`` holds (plus a delay); False if it ended first."""
    deadline = time.monotonic() + 120
    while not ready():
        if process.poll() is not None or time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    time.sleep(extra_delay)
    if process.poll() is not None:
        return False
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    return True


def test_three_kills_then_resume_give_identical_weights(tmp_path):
    reference = tmp_path / "reference"
    done = _start(reference)
    assert done.wait(timeout=300) == 0, done.stderr.read()

    out = tmp_path / "killed"
    kills = []
    # 1) before the first checkpoint (settings written, epoch 1 running)
    process = _start(out)
    kills.append(_kill_when(process, lambda: (out / "run.json").is_file(), 0.05))
    assert not (out / "checkpoint.pt").exists()
    # 2) and 3) in the middle of later epochs
    for after_epoch, delay in ((1, 0.3), (3, 0.5)):
        process = _start(out, "--resume")
        kills.append(_kill_when(process, lambda e=after_epoch: _epoch(out) >= e, delay))
    assert kills == [True, True, True]
    assert 0 < _epoch(out) < 6
    final = _start(out, "--resume")
    assert final.wait(timeout=300) == 0, final.stderr.read()

    a = load_checkpoint(out / "checkpoint.pt")
    b = load_checkpoint(reference / "checkpoint.pt")
    assert a["epoch"] == b["epoch"] == 6
    np.testing.assert_array_equal(a["weights"], b["weights"])
    assert [h["train_loss"] for h in a["history"]] == [h["train_loss"] for h in b["history"]]
