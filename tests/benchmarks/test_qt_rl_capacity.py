"""``benchmarks/qt_rl_capacity.py``: distilling a classical MiniGrid actor into a QT actor."""

from __future__ import annotations

import json

import pytest
import torch

from tests.conftest import REPO, load_module


def load_script():
    return load_module(REPO / "benchmarks" / "qt_rl_capacity.py", "qt_rl_capacity")


def test_agreement_by_hand():
    capacity = load_script()
    target = torch.tensor([[1.0, 0.0], [0.5, 0.5]], dtype=torch.float64)
    log_probs = torch.log(torch.tensor([[0.5, 0.5], [0.5, 0.5]], dtype=torch.float64))
    scores = capacity.agreement(log_probs, target)
    # KL: row 0 log 2, row 1 zero; cross-entropy log 2 on both rows; entropy log 2.
    assert scores["kl"] == pytest.approx(0.5 * torch.log(torch.tensor(2.0)).item())
    assert scores["cross_entropy"] == pytest.approx(torch.log(torch.tensor(2.0)).item())
    assert scores["entropy"] == pytest.approx(torch.log(torch.tensor(2.0)).item())
    assert scores["argmax_agreement"] == 1.0  # ties resolve to action 0 on both


def test_distillation_lowers_the_cross_entropy_end_to_end(tmp_path):
    pytest.importorskip("minigrid", reason="the rl extra (gymnasium, minigrid) is not installed")
    from qmoe_qiskit.experiments.qt_rl import RLRun, run_rl

    run_rl(RLRun("classical", seed=0, episodes=2, envs=2, checkpoint_every=1), tmp_path,
           progress=False)  # fmt: skip
    capacity = load_script()
    out = tmp_path / "capacity.json"
    classical = tmp_path / "runs" / "MiniGrid-Empty-5x5-v0-classical-s0-envs2"
    argv = ["--classical", str(classical), "--states", "40", "--steps", "6", "--every", "3",
            "--episodes", "2", "--lr", "1e-2", "--out", str(out)]  # fmt: skip
    assert capacity.main(argv) == 0
    result = json.loads(out.read_text())
    assert result["teacher"]["kl"] == pytest.approx(0.0, abs=1e-12)
    curve = result["distilled_qt"][0]["curve"]
    assert [row["step"] for row in curve] == [0, 3, 6]
    assert curve[-1]["cross_entropy"] < curve[0]["cross_entropy"]
    critic_curve = result["distilled_qt_critic"][0]["curve"]
    assert critic_curve[-1]["mse"] < critic_curve[0]["mse"]
    play = result["distilled_qt"][0]["play"]
    assert play["episodes"] == 2 and 0.0 <= play["success"] <= 1.0
