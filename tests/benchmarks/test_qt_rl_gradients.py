"""``benchmarks/qt_rl_gradients.py``: where a QT agent's policy gradient goes."""

from __future__ import annotations

import json

import pytest
import torch

from tests.conftest import REPO, load_module


def load_script():
    return load_module(REPO / "benchmarks" / "qt_rl_gradients.py", "qt_rl_gradients")


def test_the_generator_jacobian_matches_finite_differences():
    from qmoe_qiskit.experiments.qt_rl import make_agent

    script = load_script()
    actor, _ = make_agent("qt", seed=3)
    jac, names = script.jacobian(actor)
    assert jac.shape == (6023, 157)
    params = dict(actor.named_parameters())
    offset = 0
    for name in names:  # one column of each parameter group by central differences
        value = params[name]
        with torch.no_grad():
            value.view(-1)[0] += 1e-6
            up = actor.qt.generated_weights().clone()
            value.view(-1)[0] -= 2e-6
            down = actor.qt.generated_weights().clone()
            value.view(-1)[0] += 1e-6
        torch.testing.assert_close(jac[:, offset], (up - down) / 2e-6, rtol=1e-6, atol=1e-9)
        offset += value.numel()
    assert offset == 157


def test_gradients_follow_the_chain_rule_and_dead_units_are_seen(tmp_path):
    pytest.importorskip("minigrid", reason="the rl extra (gymnasium, minigrid) is not installed")
    from qmoe_qiskit.experiments.qt_rl import RLRun, run_rl

    run = RLRun("qt", seed=0, episodes=1, envs=2, checkpoint_every=1)
    run_rl(run, tmp_path, progress=False)
    folder = tmp_path / "runs" / run.name
    out = tmp_path / "gradients.json"
    script = load_script()
    assert script.main([str(folder), "--batches", "2", "--out", str(out)]) == 0
    row = json.loads(out.read_text())["runs"][0]
    assert row["chain_rule_rel_error"] < 1e-10  # g_theta = J^T g_w
    assert 0.0 <= row["share_in_generator_span"] <= 1.0 + 1e-12
    assert row["transitions"] == 2 * 2 * 5 and row["layer_check_max_error"] < 1e-10
    assert row["alive_units"][1] > 0


def test_a_layer_switched_off_everywhere_is_counted_dead_and_the_policy_state_independent():
    from qmoe_qiskit.experiments.qt_rl import make_agent

    script = load_script()
    actor, _ = make_agent("classical", seed=0)
    states = torch.rand(30, 147, dtype=torch.float64)
    alive = script.activity(actor, states)
    assert alive["distinct_states"] == 30 and alive["layer_check_max_error"] < 1e-12
    assert alive["alive_units"][1] > 0 and alive["policy_kl_from_state_average"] > 1e-6
    with torch.no_grad():
        actor.network[2].bias.fill_(-1e3)  # every second-layer unit off on every state
    dead = script.activity(actor, torch.cat([states, states[:5]]))  # repeats counted once
    assert dead["distinct_states"] == 30
    assert dead["alive_units"] == [alive["alive_units"][0], 0]
    assert dead["policy_kl_from_state_average"] < 1e-12  # the same policy in every state
    bias = torch.softmax(actor.network[4].bias.double(), -1)
    assert dead["state_average_policy"] == [round(float(v), 4) for v in bias]
