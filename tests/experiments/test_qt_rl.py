"""Quantum-Train actor-critic on MiniGrid: parameter counts, n-step targets by hand, a short run
that resumes, and the report's reward curve."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qmoe_qiskit.experiments.qt_report import write_report
from qmoe_qiskit.experiments.qt_rl import (
    RLRun,
    make_agent,
    moving_average,
    n_step_targets,
    parameter_counts,
    run_rl,
)
from qmoe_qiskit.training.checkpoints import load_checkpoint


def test_qt_agent_trains_314_parameters_for_11848_classical_weights():
    actor, critic = make_agent("qt", seed=0)
    assert sum(p.numel() for p in actor.parameters()) == 157
    assert sum(p.numel() for p in critic.parameters()) == 157
    assert actor.qt.num_classical == 6023 and critic.qt.num_classical == 5825
    plain_actor, plain_critic = make_agent("classical", seed=0)
    assert sum(p.numel() for p in plain_actor.parameters()) == 6023
    x = torch.zeros(3, 147, dtype=torch.float64)
    assert actor.call_with(actor.weights(), x).shape == (3, 7)
    assert critic.call_with(critic.weights(), x).shape == (3, 1)
    # nn.Module.apply keeps its meaning (it was overridden once: a parent's apply broke).
    assert (
        actor.apply(lambda m: None) is actor and plain_critic.apply(lambda m: None) is plain_critic
    )


def test_qt_actor_agent_generates_the_actor_and_trains_the_critic_classically():
    actor, critic = make_agent("qt-actor", seed=0)
    counts = parameter_counts(actor, critic)
    assert counts["trained_parameters"] == 157 + 5825
    assert counts["classical_parameters"] == 6023 + 5825
    assert [c["classical_parameters"] for c in counts["compression"]] == [6023]
    qt_actor, _ = make_agent("qt", seed=0)  # the same generated actor as the QT agent's
    x = torch.rand(2, 147, dtype=torch.float64)
    torch.testing.assert_close(
        actor.call_with(actor.weights(), x), qt_actor.call_with(qt_actor.weights(), x)
    )


def test_n_step_targets_by_hand():
    rewards = [torch.tensor([0.0, 1.0]), torch.tensor([0.5, 0.0])]
    terminated = [torch.tensor([0.0, 1.0]), torch.tensor([0.0, 0.0])]
    bootstrap = torch.tensor([2.0, 3.0])
    g = n_step_targets(rewards, terminated, bootstrap, gamma=0.9).tolist()
    # env 0: G1 = 0.5 + 0.9 * 2 = 2.3, G0 = 0 + 0.9 * 2.3; env 1: G1 = 0 + 0.9 * 3, G0 = 1 (ends)
    assert g == pytest.approx([0.9 * 2.3, 1.0, 2.3, 2.7])


def test_moving_average_matches_numpy():
    values = np.arange(10.0)
    mean, std = moving_average(values, 3)
    assert mean[0] == 0 and mean[1] == 0.5
    np.testing.assert_allclose(mean[2:], np.convolve(values, np.ones(3) / 3, "valid"))
    assert std[5] == pytest.approx(np.std([3, 4, 5]))


def test_short_run_records_episodes_and_report_plots_the_curve(tmp_path):
    pytest.importorskip("minigrid", reason="the rl extra (gymnasium, minigrid) is not installed")
    run = RLRun("classical", seed=0, episodes=6, envs=2, checkpoint_every=1)
    result = run_rl(run, tmp_path, progress=False)
    assert len(result["returns"]) >= 6 and len(result["lengths"]) == len(result["returns"])
    assert all(0.0 <= r <= 1.0 for r in result["returns"])
    assert all(1 <= n <= 100 for n in result["lengths"])
    assert result["trained_parameters"] == 6023 + 5825
    assert run_rl(run, tmp_path, progress=False) == result  # finished runs are kept
    longer = run_rl(RLRun("classical", 0, episodes=9, envs=2), tmp_path, progress=False)
    assert len(longer["returns"]) >= 9 and longer["returns"][:6] == result["returns"][:6]
    path = write_report(tmp_path)
    text = path.read_text()
    assert "| MiniGrid-Empty-5x5-v0 | classical | 2 | 0.0001 | 0.01 | 0 |" in text
    assert "| 11,848 |" in text
    assert (tmp_path / "rl-reward.png").is_file()
    # A run still going is reported from its checkpoint, marked as unfinished.
    (tmp_path / "runs" / run.name / "result.json").unlink()
    from qmoe_qiskit.experiments.qt_rl import in_progress

    (partial,) = in_progress(tmp_path)
    assert partial["in_progress"] and partial["returns"][:6] == result["returns"][:6]
    assert "(unfinished: from its checkpoint)" in write_report(tmp_path).read_text()


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="agent must be one of"):
        RLRun("quantum", 0).validate()
    with pytest.raises(ValueError, match="envs must be positive"):
        RLRun("qt", 0, envs=0).validate()


def test_kill_9_mid_run_resumes_and_the_episodes_and_moving_average_continue(tmp_path):
    """A study killed with SIGKILL loses at most the updates since its last checkpoint: run
    again, it goes on from the checkpoint's episodes (the same first episodes, in order) to
    the episodes asked for, and the moving average runs on over them."""
    pytest.importorskip("minigrid", reason="the rl extra (gymnasium, minigrid) is not installed")
    import signal
    import subprocess
    import sys
    import time

    from qmoe_qiskit.training.checkpoints import load_checkpoint

    argv = [
        sys.executable, "-c", "import sys; from qmoe_qiskit.cli import main; sys.exit(main())",
        "qt", "rl", "--out", str(tmp_path), "--agents", "classical", "--episodes", "400",
        "--envs", "4", "--checkpoint-every", "20",
    ]  # fmt: skip
    checkpoint = tmp_path / "runs" / "MiniGrid-Empty-5x5-v0-classical-s0-envs4" / "checkpoint.pt"
    victim = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    saved: list[float] = []
    while time.monotonic() < deadline and victim.poll() is None:
        if checkpoint.is_file():
            try:
                saved = load_checkpoint(checkpoint)["returns"]
            except Exception:  # caught between its write and rename: read again
                saved = []
            if len(saved) >= 20:
                break
        time.sleep(0.05)
    assert victim.poll() is None, "the run finished before it could be killed"
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    state = load_checkpoint(checkpoint)
    episodes, updates = len(state["returns"]), state["updates"]
    assert 20 <= episodes < 400 and updates % 20 == 0
    assert not (checkpoint.parent / "result.json").exists()
    finished = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr[-2000:]
    import json

    from qmoe_qiskit.experiments.qt_rl import moving_average

    result = json.loads((checkpoint.parent / "result.json").read_text())
    assert result["returns"][:episodes] == state["returns"]  # nothing before the kill is lost
    assert len(result["returns"]) >= 400 and result["updates"] > updates
    mean, _ = moving_average(np.asarray(result["returns"]), 100)
    before, _ = moving_average(np.asarray(state["returns"]), 100)
    np.testing.assert_allclose(mean[:episodes], before)  # the curve continues, not restarts
    assert result["final_mean_return_1000"] == pytest.approx(np.mean(result["returns"][-1000:]))


def test_async_environments_learn_exactly_as_sync_ones(tmp_path):
    pytest.importorskip("minigrid", reason="the rl extra (gymnasium, minigrid) is not installed")
    runs = {
        vector: run_rl(
            RLRun("classical", 0, episodes=12, envs=3, vector=vector),
            tmp_path / vector,
            progress=False,
        )  # fmt: skip
        for vector in ("sync", "async")
    }
    assert runs["sync"]["returns"] == runs["async"]["returns"]
    assert runs["sync"]["lengths"] == runs["async"]["lengths"]
    with pytest.raises(ValueError, match="vector must be one of"):
        RLRun("qt", 0, vector="threads").validate()


def test_learning_signals_are_recorded_at_every_checkpoint_and_reported(tmp_path):
    pytest.importorskip("minigrid", reason="the rl extra (gymnasium, minigrid) is not installed")
    run = RLRun("qt", 0, episodes=2, envs=2, steps=5, checkpoint_every=10)
    result = run_rl(run, tmp_path, progress=False)
    rows = result["diagnostics"]
    assert len(rows) == result["updates"] // 10 and rows
    assert [r["updates"] for r in rows] == [10 * (i + 1) for i in range(len(rows))]
    for row in rows:
        assert 0 < row["entropy"] <= np.log(7) + 1e-9  # a policy over 7 actions
        assert row["value_loss"] >= 0 and row["actor_grad_norm"] > 0
        assert row["critic_grad_norm"] > 0 and row["actor_weight_std"] > 0
    text = write_report(tmp_path).read_text()
    assert f"Learning signals of {run.name}" in text and "success (last 1,000)" in text


def test_a_learning_rate_other_than_the_papers_is_named_and_nonpositive_is_refused():
    assert RLRun("qt", 0).name == "MiniGrid-Empty-5x5-v0-qt-s0"
    assert RLRun("qt", 0, lr=16e-4).name == "MiniGrid-Empty-5x5-v0-qt-s0-lr0.0016"
    with pytest.raises(ValueError, match="lr must be positive"):
        RLRun("qt", 0, lr=0.0).validate()


def test_an_entropy_weight_other_than_001_is_named_and_negative_is_refused():
    assert RLRun("qt", 0, lr=16e-4, entropy=0.0).name == "MiniGrid-Empty-5x5-v0-qt-s0-lr0.0016-ent0"
    assert RLRun("qt", 0, entropy=0.01).name == "MiniGrid-Empty-5x5-v0-qt-s0"
    assert RLRun("qt", 0, envs=64).name == "MiniGrid-Empty-5x5-v0-qt-s0-envs64"
    with pytest.raises(ValueError, match="entropy must be at least 0"):
        RLRun("qt", 0, entropy=-0.1).validate()


def test_the_entropy_weight_reaches_the_loss(tmp_path):
    """With the bonus weighted up, the first update's gradient differs (the weight is used)."""
    pytest.importorskip("minigrid", reason="the rl extra (gymnasium, minigrid) is not installed")
    finals = []
    for entropy in (0.0, 10.0):
        run = RLRun("classical", seed=0, episodes=1, envs=2, checkpoint_every=1, entropy=entropy)
        run_rl(run, tmp_path, progress=False)
        state = load_checkpoint(tmp_path / "runs" / run.name / "checkpoint.pt")
        finals.append(state["actor"]["network.0.weight"])
    assert not torch.allclose(finals[0], finals[1])


def test_report_table_keeps_settings_apart_and_averages_seeds():
    from qmoe_qiskit.experiments.qt_rl_report import rl_section

    def result(agent, seed, envs, value, episodes=1000):
        run = {"agent": agent, "seed": seed, "env": "E", "envs": envs, "lr": 16e-4}
        return {
            "run": run, "name": f"{agent}-{seed}-{envs}", "returns": [value] * episodes,
            "trained_parameters": 314, "seconds": 1.0, "diagnostics": [],
        }  # fmt: skip

    rl = [
        result("classical", 0, 16, 0.9),
        result("qt", 0, 16, 0.5),
        result("qt", 0, 64, 0.9),
        result("qt", 1, 64, 0.7),
        result("qt", 2, 64, 1.0, episodes=999),  # no full window: not reached
    ]
    text = "\n".join(rl_section(rl))
    # the 64-environment QT runs are matched with no classical run (none has that setting)
    assert (
        "| E | qt | 16 | 0.0016 | 0.01 | 0 | 1,000 | 314 | 0.500 | 1.000 | not reached | "
        "not reached | 1 |" in text
    )
    # levels count from the first full window (not from one lucky first episode)
    row = "| E | qt | 64 | 0.0016 | 0.01 | 0 | 1,000 | 314 | 0.900 | 1.000 | 1,000 | - | 1 |"
    assert row in text
    assert "| E | qt | 64 | 0.0016 | 0.01 | 2 | 999 | 314 | 1.000 | 1.000 | not reached |" in text
    assert "| E | qt | 64 | 0.0016 | 0.01 | 3 | 0.867 ± 0.125 |" in text
    assert "| E | qt | 16 | 0.0016 | 0.01 | 1 | 0.500 ± 0.000 |" in text


def test_the_activation_is_a_setting_named_built_and_reported():
    from torch import nn

    from qmoe_qiskit.experiments.qt_rl_report import rl_section

    run = RLRun("qt", 2, lr=16e-4, envs=64, activation="leaky-relu")
    assert run.name == "MiniGrid-Empty-5x5-v0-qt-s2-lr0.0016-envs64-leaky-relu"
    assert RLRun("qt", 0, activation="relu").name == "MiniGrid-Empty-5x5-v0-qt-s0"
    with pytest.raises(ValueError, match="activation must be one of relu, leaky-relu, tanh"):
        RLRun("qt", 0, activation="gelu").validate()
    actor, critic = make_agent("qt", seed=0, activation="leaky-relu")
    assert sum(p.numel() for p in actor.parameters()) == 157  # the same generator
    assert [type(m) for m in actor.qt.network] == [nn.Linear, nn.LeakyReLU] * 2 + [nn.Linear]
    # A unit switched off everywhere still passes a gradient (slope 0.01), unlike ReLU's.
    x = torch.rand(4, 147, dtype=torch.float64)
    for activation, alive in (("relu", False), ("leaky-relu", True)):
        network, _ = make_agent("classical", seed=0, activation=activation)
        weights = {k: v.detach().clone().requires_grad_(True) for k, v in network.weights().items()}
        weights["2.bias"].data.fill_(-1e3)  # every second-layer unit off on every state
        network.call_with(weights, x).sum().backward()
        assert bool(weights["2.weight"].grad.abs().sum() > 0) is alive
    row = {"run": {"agent": "qt", "seed": 0, "env": "E", "envs": 64, "lr": 16e-4,
                   "activation": "tanh"}, "name": "n", "returns": [1.0] * 1000,
           "trained_parameters": 314, "seconds": 1.0, "diagnostics": []}  # fmt: skip
    assert "| E | qt (tanh) | 64 | 0.0016 | 0.01 | 0 | 1,000 |" in "\n".join(rl_section([row]))
