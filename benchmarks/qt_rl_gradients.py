"""Where does a plateaued Quantum-Train agent's policy gradient go? Gradients in weight space.

On MiniGrid-Empty-6x6 at 64 environments one QT seed in three stays on a plateau (moving-average
reward about 0.47, policy entropy 1.73 nats) while its recorded actor gradient norm falls to
0.007 (the seeds that learn: 0.1-0.6) and the advantage's spread stays at 0.08. This script asks
whether the *policy* has nothing left to learn there, or whether the *generator* cannot follow:

1. the run's checkpointed actor and critic act in ``--envs`` environments for ``--batches`` A2C
   batches of ``--steps`` steps (no update), and the A2C actor loss of each batch (the policy
   term with the critic's n-step advantages, minus the run's entropy weight times the entropy) is
   differentiated twice: with respect to the 6,023 generated weights of the actor network
   (``g_w``, what a classical actor would follow) and to the actor's 157 trained parameters
   (``g_theta``, what the QT actor follows);
2. the Jacobian ``J = d w / d theta`` (6,023 x 157) of the generator at the checkpoint, and the
   share of the mean ``g_w`` inside its column space: ``|P_J g_w| / |g_w|``, the part of the
   classical improvement direction that any small change of the 157 parameters can produce
   (the chain rule ``g_theta = J^T g_w`` is checked on the way);
3. signal against noise: the norm of the mean gradient over batches beside the mean norm of a
   batch's gradient (an A2C update sees one batch).

    R=RUNS/MiniGrid-Empty-6x6-v0-qt
    python benchmarks/qt_rl_gradients.py $R-s0-lr0.0016-envs64 $R-s1-lr0.0016-envs64 \
        $R-s2-lr0.0016-envs64 --out gradients.json
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, write_json  # noqa: E402
from qt_rl_capacity import load_agent  # noqa: E402

from qmoe_qiskit.experiments.qt_rl import RLRun, _minigrid, n_step_targets  # noqa: E402
from qmoe_qiskit.training.checkpoints import load_checkpoint  # noqa: E402


class _Generator(nn.Module):
    """The actor's generator as a module whose output is the flat generated weight vector."""

    def __init__(self, qt: nn.Module) -> None:
        super().__init__()
        self.qt = qt

    def forward(self) -> torch.Tensor:
        return self.qt.generated_weights()


def jacobian(actor) -> tuple[torch.Tensor, list[str]]:
    """``d w / d theta`` ``(weights, parameters)`` of a QT actor, and its parameters' names."""
    module = _Generator(actor.qt)
    trained = {n: p.detach() for n, p in module.named_parameters() if p.requires_grad}
    names = list(trained)

    def generate(*values: torch.Tensor) -> torch.Tensor:
        return torch.func.functional_call(module, dict(zip(names, values, strict=True)), ())

    primals = tuple(trained.values())
    columns = []  # forward mode, one parameter at a time: 157 products, not 6,023
    for index, value in enumerate(primals):
        for element in range(value.numel()):
            tangents = tuple(torch.zeros_like(v) for v in primals)
            tangents[index].view(-1)[element] = 1.0
            columns.append(torch.func.jvp(generate, primals, tangents)[1])
    return torch.stack(columns, dim=1), names


Tensors = dict[str, torch.Tensor]


def actor_loss(
    actor, weights: Tensors, x: torch.Tensor, actions: torch.Tensor, advantage: torch.Tensor,
    entropy_weight: float,
) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """A2C's actor loss (policy term minus the entropy bonus) with ``weights``, and the entropy."""
    log_probs = torch.log_softmax(actor.call_with(weights, x), -1)
    chosen = log_probs.gather(1, actions[:, None])[:, 0]
    entropy = -(log_probs.exp() * log_probs).sum(-1).mean()
    return -(chosen * advantage).mean() - entropy_weight * entropy, entropy


def rollout_gradients(
    actor, critic, env_id: str, envs: int, steps: int, batches: int, entropy_weight: float,
    gamma: float, seed: int,
) -> dict:  # fmt: skip
    """Per-batch A2C actor-loss gradients with respect to the generated weights and to the
    trained parameters, with the policy's entropy and the advantages' spread."""
    import gymnasium as gym

    vector = gym.vector.SyncVectorEnv(
        [lambda: _minigrid(env_id) for _ in range(envs)],
        autoreset_mode=gym.vector.AutoresetMode.SAME_STEP,
    )
    generator = torch.Generator().manual_seed(seed)
    obs, _ = vector.reset(seed=seed)
    trained = [p for p in actor.parameters() if p.requires_grad]
    g_w, g_theta, entropies, spreads, states = [], [], [], [], []
    for _ in range(batches):
        generated = actor.weights()
        acting = {k: v.detach() for k, v in generated.items()}
        xs, acts, rews, terms = [], [], [], []
        for _ in range(steps):
            x = torch.as_tensor(obs.reshape(envs, -1), dtype=torch.float64)
            with torch.no_grad():
                probs = torch.softmax(actor.call_with(acting, x), -1)
            action = torch.multinomial(probs, 1, generator=generator)[:, 0]
            obs, reward, terminated, _truncated, _ = vector.step(action.numpy())
            xs.append(x)
            acts.append(action)
            rews.append(torch.as_tensor(reward, dtype=torch.float64))
            terms.append(torch.as_tensor(terminated, dtype=torch.float64))
        with torch.no_grad():
            critic_w = critic.weights()
            last = torch.as_tensor(obs.reshape(envs, -1), dtype=torch.float64)
            bootstrap = critic.call_with(critic_w, last)[:, 0]
            x_all = torch.cat(xs)
            advantage = n_step_targets(rews, terms, bootstrap, gamma)
            advantage -= critic.call_with(critic_w, x_all)[:, 0]
        leaves = {k: v.detach().requires_grad_(True) for k, v in generated.items()}

        batch = (x_all, torch.cat(acts), advantage, entropy_weight)
        loss, entropy = actor_loss(actor, leaves, *batch)
        grads = torch.autograd.grad(loss, list(leaves.values()))
        g_w.append(torch.cat([g.reshape(-1) for g in grads]))
        loss, _ = actor_loss(actor, generated, *batch)
        g_theta.append(torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, trained)]))
        entropies.append(float(entropy.detach()))
        states.append(x_all)
        spreads.append(float(advantage.std()))
    vector.close()
    return {
        "g_w": torch.stack(g_w),
        "g_theta": torch.stack(g_theta),
        "entropy": float(np.mean(entropies)),
        "advantage_std": float(np.mean(spreads)),
        "states": torch.cat(states),
    }


def activity(actor, states: torch.Tensor) -> dict:
    """How the actor network (147-32-32-7) responds to the states it met: hidden units with a
    positive input on at least one state (active, for ReLU), per layer, and how much the
    policy varies between states (mean KL divergence of each state's action distribution from
    their average)."""
    distinct = torch.unique(states, dim=0)
    network = actor.qt.network if hasattr(actor, "qt") else actor.network
    act_1, act_2 = network[1], network[3]  # the network's own activations (ReLU or another)
    with torch.no_grad():
        w = actor.weights()
        first = distinct @ w["0.weight"].T + w["0.bias"]  # inputs of the hidden units
        second = act_1(first) @ w["2.weight"].T + w["2.bias"]
        log_probs = torch.log_softmax(act_2(second) @ w["4.weight"].T + w["4.bias"], -1)
        reference = torch.log_softmax(actor.call_with(w, distinct), -1)
        mean = log_probs.exp().mean(0)
        kl = (log_probs.exp() * (log_probs - mean.log())).sum(-1).mean()
    return {
        "distinct_states": int(distinct.shape[0]),
        "layer_check_max_error": float((log_probs - reference).abs().max()),
        "alive_units": [int((first > 0).any(0).sum()), int((second > 0).any(0).sum())],
        "mean_active_units": [
            float((first > 0).sum(1).double().mean()),
            float((second > 0).sum(1).double().mean()),
        ],  # fmt: skip
        "policy_kl_from_state_average": float(kl),
        "state_average_policy": [round(float(v), 4) for v in mean],
    }


def analyse(run_dir: Path, batches: int, seed: int) -> dict:
    """The gradient shares of one QT run at its checkpoint (see the module docstring)."""
    # Through RLRun: checkpoints from before a setting existed get its default.
    settings = asdict(RLRun(**load_checkpoint(run_dir / "checkpoint.pt")["run"]))
    actor, critic = load_agent(run_dir, settings["agent"])
    started = time.perf_counter()
    grads = rollout_gradients(
        actor, critic, settings["env"], settings["envs"], settings["steps"], batches,
        settings["entropy"], settings["gamma"], seed,
    )  # fmt: skip
    rolled = time.perf_counter() - started
    jac, names = jacobian(actor)
    mean_w, mean_theta = grads["g_w"].mean(0), grads["g_theta"].mean(0)
    left, singular, _ = torch.linalg.svd(jac, full_matrices=False)
    span = left[:, singular > 1e-8 * singular[0]]  # J's column space (rank-revealing)
    projected = span @ (span.T @ mean_w)
    chain = jac.T @ mean_w  # the chain rule: equal to mean_theta
    return {
        "run": run_dir.name,
        "env": settings["env"],
        "seed": settings["seed"],
        "batches": batches,
        "transitions": batches * settings["envs"] * settings["steps"],
        "entropy": grads["entropy"],
        "advantage_std": grads["advantage_std"],
        "weights_grad_norm_of_mean": float(mean_w.norm()),
        "weights_grad_mean_norm": float(grads["g_w"].norm(dim=1).mean()),
        "params_grad_norm_of_mean": float(mean_theta.norm()),
        "params_grad_mean_norm": float(grads["g_theta"].norm(dim=1).mean()),
        "share_in_generator_span": float(projected.norm() / mean_w.norm()),
        "chain_rule_rel_error": float((chain - mean_theta).norm() / mean_theta.norm()),
        "jacobian_rank_1e-8": int((singular > 1e-8 * singular[0]).sum()),
        "jacobian_singular_max_min": [float(singular[0]), float(singular[-1])],
        "parameters": jac.shape[1],
        **activity(actor, grads["states"]),
        "parameter_groups": names,
        "rollout_seconds": round(rolled, 1),
        "seconds": round(time.perf_counter() - started, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", type=Path, nargs="+", help="QT RL run directories")
    parser.add_argument("--batches", type=int, default=40, help="A2C batches per run")
    parser.add_argument("--seed", type=int, default=12345, help="rollout seed")
    parser.add_argument("--out", type=Path, required=True, help="JSON file to write")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rows = []
    for run in args.runs:
        rows.append(analyse(run, args.batches, args.seed))
        print({k: v for k, v in rows[-1].items() if k != "parameter_groups"})
        write_json(args.out, {"machine": machine(), "runs": rows})  # after each run
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
