"""The reinforcement-learning part of a Quantum-Train report: the reward table beside the
classical agent, each run's learning signals, and the reward curves."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..figures import subplots

__all__ = ["WINDOW", "plot_rl", "rl_section"]

WINDOW = 1000


def _setting(run: dict) -> tuple[int, float, float, str]:
    """What a run was trained with besides agent, environment and seed: environments per
    update, learning rate, entropy weight, activation (runs recorded before these were
    settings: 0.01, ReLU)."""
    return run["envs"], run["lr"], run.get("entropy", 0.01), run.get("activation", "relu")


def _agent(run: dict) -> str:
    """The agent's name, with its activation where it is not ReLU."""
    activation = run.get("activation", "relu")
    return run["agent"] if activation == "relu" else f"{run['agent']} ({activation})"


def _first(mean: np.ndarray, level: float) -> str:
    """The first episode whose full trailing window averages at least ``level`` (the shorter
    windows of the first episodes would count one lucky episode)."""
    hit = np.flatnonzero(mean[WINDOW - 1 :] >= level)
    return f"{hit[0] + WINDOW:,}" if len(hit) else "not reached"


def rl_section(rl: list[dict]) -> list[str]:
    from .qt_rl import moving_average

    lines = [
        "## Reinforcement learning (A2C on MiniGrid, synchronous environments)",
        "",
        f"Episode reward, moving average over {WINDOW} episodes (MiniGrid pays "
        "1 - 0.9 steps / max steps on reaching the goal, 0 otherwise); success: the share of "
        f"the last {WINDOW} episodes that reached the goal; episodes to a level: the first "
        f"episode whose last {WINDOW} reach it on average; envs: environments stepped together "
        "(5 steps each per update); entropy: the entropy bonus's weight. The paper trains A3C "
        "with 16 asynchronous workers for 50,000 episodes and shows the curves only.",
        "",
        "| environment | agent | envs | lr | entropy | seed | episodes | trained parameters | "
        "final moving average | success (last 1,000) | episodes to moving average 0.9 | "
        "episodes to reach the classical agent's final average | seconds |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    classical = {
        (r["run"]["env"], r["run"]["seed"], _setting(r["run"])): moving_average(
            r["returns"], WINDOW
        )[0][-1]
        for r in rl
        if r["run"]["agent"] == "classical"
    }
    finals: dict[tuple, list[float]] = {}
    for r in rl:
        run = r["run"]
        mean = moving_average(r["returns"], WINDOW)[0]
        target = classical.get((run["env"], run["seed"], _setting(run)))
        reach = "-" if target is None or run["agent"] == "classical" else _first(mean, target)
        success = float(np.mean(np.asarray(r["returns"][-WINDOW:]) > 0))
        envs, lr, entropy, _ = _setting(run)
        lines.append(
            f"| {run['env']} | {_agent(run)} | {envs} | {lr:g} | {entropy:g} | {run['seed']} | "
            f"{len(r['returns']):,}"
            f"{' (unfinished: from its checkpoint)' if r.get('in_progress') else ''} | "
            f"{r['trained_parameters']:,} | {mean[-1]:.3f} | {success:.3f} | "
            f"{_first(mean, 0.9)} | {reach} | {r['seconds']:.0f} |"
        )
        if not r.get("in_progress"):
            finals.setdefault((run["env"], _agent(run), *_setting(run)), []).append(mean[-1])
    return lines + _rl_summary(finals) + _rl_diagnostics(rl)


def _rl_summary(finals: dict[tuple, list[float]]) -> list[str]:
    """Final moving average, mean and std over the finished seeds of each setting."""
    if not finals:
        return []
    lines = [
        "",
        "Finished runs by setting: final moving average, mean ± std over seeds.",
        "",
        "| environment | agent | envs | lr | entropy | seeds | final moving average |",
        "|---|---|---|---|---|---|---|",
    ]
    for (env, agent, envs, lr, entropy, _), values in sorted(finals.items()):
        lines.append(
            f"| {env} | {agent} | {envs} | {lr:g} | {entropy:g} | {len(values)} | "
            f"{np.mean(values):.3f} ± {np.std(values):.3f} |"
        )
    return lines


def _rl_diagnostics(rl: list[dict], rows: int = 8) -> list[str]:
    """The learning signals of each run at up to ``rows`` evenly spaced checkpoints."""
    lines = []
    for r in rl:
        kept = r.get("diagnostics") or []
        if not kept:
            continue
        picks = sorted({round(i) for i in np.linspace(0, len(kept) - 1, min(rows, len(kept)))})
        lines += [
            "",
            f"Learning signals of {r['name']} (means over each checkpoint interval; entropy "
            "ln 7 = 1.95 is a uniform policy):",
            "",
            "| episodes | mean reward (last 1,000) | policy entropy | critic squared error | "
            "advantage std | actor weight std | actor grad norm | critic grad norm |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for i in picks:
            d = kept[i]
            lines.append(
                f"| {d['episodes']:,} | {d['mean_return_1000']:.3f} | {d.get('entropy', 0):.3f} "
                f"| {d.get('value_loss', 0):.2e} | {d.get('advantage_std', 0):.2e} | "
                f"{d.get('actor_weight_std', 0):.3f} | {d.get('actor_grad_norm', 0):.2e} | "
                f"{d.get('critic_grad_norm', 0):.2e} |"
            )
    return lines


def plot_rl(rl: list[dict], out: Path) -> list[str]:
    if not rl:
        return []

    from .qt_rl import moving_average

    envs = sorted({r["run"]["env"] for r in rl})
    fig, axes = subplots(1, len(envs), figsize=(7 * len(envs), 3.5), squeeze=False)
    for ax, env in zip(axes[0], envs, strict=True):
        for r in (r for r in rl if r["run"]["env"] == env):
            mean, std = moving_average(r["returns"], WINDOW)
            x = np.arange(1, len(mean) + 1)
            count, lr, entropy, _ = _setting(r["run"])
            label = f"{_agent(r['run'])} (seed {r['run']['seed']}, "
            label += f"{r['trained_parameters']:,} params, {count} envs, lr {lr:g}"
            label += f", entropy {entropy:g})" if entropy != 0.01 else ")"
            label += ", unfinished" if r.get("in_progress") else ""
            line = ax.plot(x, mean, label=label)
            ax.fill_between(x, mean - std, mean + std, color=line[0].get_color(), alpha=0.15)
        ax.set_title(env)
        ax.set_xlabel("episode")
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel(f"reward (moving average, {WINDOW})")
    fig.tight_layout()
    fig.savefig(out / "rl-reward.png", dpi=120)
    return ["rl-reward.png"]
