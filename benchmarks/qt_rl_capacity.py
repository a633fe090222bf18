"""Can Quantum-Train networks express a MiniGrid solution? Distillation from classical ones.

The QT agent of ``qmoe qt rl`` plateaus (MiniGrid-Empty-5x5: moving-average reward 0.56,
success 0.85, policy entropy about 1.55 nats) where the classical agent reaches 0.955. This script
separates the two possible reasons, the generated policy family (157 trained parameters make
6,023 actor weights) and the learning signal (A2C's noisy policy gradient), by fitting the QT
actor to a trained classical actor with supervised learning, where the signal is exact:

1. states are collected by running the trained classical actor with a share of random actions
   (``--explore``), so the set covers states off the shortest path too;
2. a fresh QT actor (the RL study's construction: ``make_agent("qt", seed)``) is trained with Adam
   on the cross-entropy to the classical actor's action distribution on those states (equal to
   the KL divergence up to the classical policy's entropy);
3. the classical actor, the RL-trained QT actor (if its run directory is given) and the distilled
   QT actor each play ``--episodes`` episodes with sampled actions: success rate and mean reward.

If the distilled actor solves the environment, the family can express a solving policy and the
plateau is the reinforcement signal's; if it cannot, the family is the limit.

4. the same for the critic: a fresh QT critic fitted (mean squared error) to the classical
   critic's values on the states, beside the RL-trained QT critic's error on them.

    R=RUNS/MiniGrid-Empty-5x5-v0
    python benchmarks/qt_rl_capacity.py --classical $R-classical-s0-lr0.0016 \
        --qt $R-qt-s0-lr0.0016 --out capacity.json
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, write_json  # noqa: E402

from qmoe_qiskit.experiments.qt_rl import _minigrid, make_agent  # noqa: E402
from qmoe_qiskit.training.checkpoints import load_checkpoint  # noqa: E402


def load_agent(run_dir: Path, agent: str):
    """The actor and critic of a finished or checkpointed RL run (its checkpoint runs no code)."""
    state = load_checkpoint(run_dir / "checkpoint.pt")
    settings = state["run"]
    actor, critic = make_agent(
        agent, settings["seed"], settings["depth"], settings["mapping_init"],
        settings.get("activation", "relu"),
    )  # fmt: skip
    actor.load_state_dict(state["actor"])
    critic.load_state_dict(state["critic"])
    return actor, critic


def values(critic, x: torch.Tensor) -> torch.Tensor:
    """The critic's values on observations ``x`` ``(N, 147)``."""
    return critic.call_with(critic.weights(), x)[:, 0]


def policy(actor, x: torch.Tensor, weights=None) -> torch.Tensor:
    """Action log-probabilities of ``actor`` on observations ``x`` ``(N, 147)``."""
    weights = actor.weights() if weights is None else weights
    return torch.log_softmax(actor.call_with(weights, x), -1)


def collect_states(actor, env_id: str, count: int, explore: float, seed: int) -> torch.Tensor:
    """``count`` observations met by ``actor`` acting with a share ``explore`` of random actions."""
    env = _minigrid(env_id)
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        weights = {k: v.detach() for k, v in actor.weights().items()}
    states, episode = [], 0
    obs, _ = env.reset(seed=seed)
    while len(states) < count:
        x = torch.as_tensor(obs.reshape(1, -1), dtype=torch.float64)
        states.append(x[0])
        if rng.random() < explore:
            action = int(rng.integers(env.action_space.n))
        else:
            with torch.no_grad():
                probs = policy(actor, x, weights).exp()[0].numpy()
            action = int(rng.choice(len(probs), p=probs / probs.sum()))
        obs, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            episode += 1
            obs, _ = env.reset(seed=seed + episode)
    env.close()
    return torch.stack(states)


def play(actor, env_id: str, episodes: int, seed: int) -> dict[str, float]:
    """Success rate and mean reward of ``actor`` with sampled actions."""
    env = _minigrid(env_id)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        weights = {k: v.detach() for k, v in actor.weights().items()}
    rewards, lengths = [], []
    for episode in range(episodes):
        obs, _ = env.reset(seed=10_000 + seed + episode)
        total, steps, done = 0.0, 0, False
        while not done:
            x = torch.as_tensor(obs.reshape(1, -1), dtype=torch.float64)
            with torch.no_grad():
                probs = policy(actor, x, weights).exp()
            action = int(torch.multinomial(probs, 1, generator=generator)[0, 0])
            obs, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            steps += 1
            done = terminated or truncated
        rewards.append(total)
        lengths.append(steps)
    env.close()
    rewards_array = np.asarray(rewards)
    return {
        "episodes": episodes,
        "success": float((rewards_array > 0).mean()),
        "mean_reward": float(rewards_array.mean()),
        "mean_length": float(np.mean(lengths)),
    }


def agreement(log_probs: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """How close a policy is to the target distribution on the states."""
    probs = log_probs.exp()
    return {
        "cross_entropy": float(-(target * log_probs).sum(-1).mean()),
        "kl": float((target * (torch.log(target.clamp_min(1e-300)) - log_probs)).sum(-1).mean()),
        "argmax_agreement": float((probs.argmax(-1) == target.argmax(-1)).double().mean()),
        "entropy": float(-(probs * log_probs).sum(-1).mean()),
    }


def fit(module, loss_and_scores, steps: int, lr: float, every: int) -> list[dict]:
    """Adam on ``loss_and_scores(module) -> (loss, scores)``; the scores every ``every`` steps."""
    optimizer = torch.optim.Adam(module.parameters(), lr=lr)
    curve, started = [], time.perf_counter()
    for step in range(steps + 1):
        loss, scores = loss_and_scores(module)
        if step % every == 0 or step == steps:
            curve.append({"step": step, "seconds": round(time.perf_counter() - started, 1),
                          **scores})  # fmt: skip
            print(f"step {step}: " + ", ".join(f"{k} {v:.4g}" for k, v in curve[-1].items()))
        if step == steps:
            break
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return curve


def distill(actor, states, target, steps: int, lr: float, every: int) -> list[dict]:
    """The actor fitted to the ``target`` action distribution (cross-entropy)."""

    def loss_and_scores(module):
        log_probs = policy(module, states)
        loss = -(target * log_probs).sum(-1).mean()
        return loss, agreement(log_probs.detach(), target)

    return fit(actor, loss_and_scores, steps, lr, every)


def fit_values(critic, states, target, steps: int, lr: float, every: int) -> list[dict]:
    """The critic fitted to the ``target`` values (mean squared error)."""

    def loss_and_scores(module):
        loss = (values(module, states) - target).pow(2).mean()
        return loss, {"mse": loss.item()}

    return fit(critic, loss_and_scores, steps, lr, every)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--classical", type=Path, required=True, help="classical RL run directory")
    parser.add_argument("--qt", type=Path, help="QT RL run directory (its actor is scored too)")
    parser.add_argument("--env", default="MiniGrid-Empty-5x5-v0")
    parser.add_argument("--states", type=int, default=4000)
    parser.add_argument("--explore", type=float, default=0.3)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--lr", type=float, nargs="+", default=[1e-2, 1e-3])
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--episodes", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True, help="JSON file to write")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    teacher, teacher_critic = load_agent(args.classical, "classical")
    states = collect_states(teacher, args.env, args.states, args.explore, args.seed)
    with torch.no_grad():
        target = policy(teacher, states).exp()
        target_values = values(teacher_critic, states)
    result: dict = {
        "env": args.env, "states": args.states, "explore": args.explore,
        "distinct_states": int(torch.unique(states, dim=0).shape[0]), "machine": machine(),
        "teacher": {"run": str(args.classical.name), **agreement(target.log(), target),
                    "play": play(teacher, args.env, args.episodes, args.seed),
                    "value_variance": float(target_values.var(unbiased=False))},
    }  # fmt: skip
    if args.qt is not None:
        trained, trained_critic = load_agent(args.qt, "qt")
        with torch.no_grad():
            scores = agreement(policy(trained, states), target)
            value_mse = float((values(trained_critic, states) - target_values).pow(2).mean())
        result["rl_trained_qt"] = {
            "run": str(args.qt.name),
            **scores,
            "play": play(trained, args.env, args.episodes, 1),
            "critic_mse": value_mse,
        }
    result["distilled_qt"] = []
    for lr in args.lr:
        student, _ = make_agent("qt", args.seed)
        curve = distill(student, states, target, args.steps, lr, args.every)
        result["distilled_qt"].append({
            "lr": lr, "steps": args.steps, "curve": curve,
            "play": play(student, args.env, args.episodes, 2),
        })  # fmt: skip
        print(f"lr {lr}: {result['distilled_qt'][-1]['play']}")
    result["distilled_qt_critic"] = []
    for lr in args.lr:
        _, student_critic = make_agent("qt", args.seed)
        curve = fit_values(student_critic, states, target_values, args.steps, lr, args.every)
        result["distilled_qt_critic"].append({"lr": lr, "steps": args.steps, "curve": curve})
    write_json(args.out, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
