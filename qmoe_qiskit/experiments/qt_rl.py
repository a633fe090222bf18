"""Reinforcement learning with Quantum-Train actor and critic on MiniGrid (DiffQAS-QT Sec. VI-C).

The paper trains A3C with 16 asynchronous workers. On a 2-core machine 16 processes would mostly
wait for each other, so this module runs the synchronous variant, A2C: ``envs`` environments
stepped together (``gymnasium.vector.SyncVectorEnv``; 16 by default, the paper's worker count),
an update every 5 steps on the ``envs x 5`` transitions, with the paper's discount 0.9 and Adam
(lr 1e-4, betas 0.92 / 0.999). With 16 environments the QT agent's policy gradient is too noisy
to leave its near-uniform policy on MiniGrid; with 64 (and lr 16e-4) it learns as the classical
agent does, except where an update switches off a whole generated ReLU layer on every state
(``activation="leaky-relu"`` survives that; the measurements are in the DiffQAS-QT
reproduction page). The loss is the usual
advantage actor-critic loss, ``-log pi(a|s) A + 0.5 A^2 - 0.01 H(pi)`` with n-step returns (the
paper does not give the value and entropy weights; these are A3C's common ones; the entropy
weight is a setting).

Agents: ``"qt"``, a policy 147-32-32-7 (6,023 weights) and a value network 147-32-32-1 (5,825)
whose weights two DiffQAS-QT generators (13 qubits, depth 10, 157 trained parameters each)
produce; ``"classical"``, the same two networks with ordinary trained weights; ``"qt-actor"``,
a diagnostic: the QT actor with the classical critic (which of the two generated networks holds
learning back). Observations are MiniGrid's 7x7x3 egocentric view, flattened to 147 numbers.

Needs the ``rl`` extra (``pip install -e ".[rl]"``: gymnasium and minigrid). Runs checkpoint
every ``checkpoint_every`` updates and at the end; a resumed run (or one asked for more episodes
than it has) continues from its checkpoint with freshly reset environments (environment states
are not saved), so it is not bit-identical to an uninterrupted one.
"""

from __future__ import annotations

import functools
import json
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..engines import probability_factory
from ..errors import MissingExtraError
from ..files import write_json
from ..models.classical import ACTIVATIONS, count_parameters, mlp
from ..models.diffqas import DiffQASSpace
from ..models.quantum_train import QuantumTrain, qubits_for
from ..training.checkpoints import load_checkpoint, save_checkpoint

__all__ = [
    "AGENTS",
    "RLRun",
    "in_progress",
    "make_agent",
    "moving_average",
    "n_step_targets",
    "parameter_counts",
    "run_rl",
]

AGENTS = ("qt", "classical", "qt-actor")
#: How the environments are stepped: in this process, or one subprocess each.
VECTORS = ("sync", "async")
RESULT = "result.json"
CHECKPOINT = "checkpoint.pt"


@dataclass(frozen=True)
class RLRun:
    """One actor-critic run.

    Attributes:
        agent: ``"qt"`` or ``"classical"``.
        seed: Seed of the networks, generators and environments.
        episodes: Episodes to train for (finished episodes over all environments).
        env: Gymnasium id of the MiniGrid environment.
        envs: Environments stepped together.
        steps: Steps per environment between updates.
        gamma: Discount.
        lr: Adam learning rate (the paper's 1e-4 is per A3C worker update: its 16 workers
            make 16 updates of 5 steps each where this synchronous agent makes one of 16 x 5,
            so ``16e-4`` gives the parameters about the same movement per environment step).
        depth: Generator depth (``qt``).
        entropy: Weight of the entropy bonus in the loss (0.01, A3C's common choice; the
            paper does not give it).
        checkpoint_every: Updates between checkpoints (a killed run loses at most these).
        vector: ``"sync"``: the environments step in the training process
            (``gymnasium.vector.SyncVectorEnv``); ``"async"``: one subprocess each
            (``AsyncVectorEnv``), so stepping overlaps nothing but runs beside the learner on
            another core. The learning is the same either way.
        activation: Hidden-layer activation of both networks (:data:`~qmoe_qiskit.models.
            classical.ACTIVATIONS`). ReLU by default; ``"leaky-relu"`` keeps a gradient
            through units a generated layer has switched off (a QT actor on 6x6 lost every
            unit of its second layer and stayed on a state-independent policy).
        mapping_init: Mapping-model initialisation of the ``qt`` generators
            (:class:`~qmoe_qiskit.models.quantum_train.QuantumTrain`). ``"fan-in"`` by default:
            with ``"torch"`` the first generated policy put probability 1.000 on one action
            (pick up) for the first observation, and in 1,200 episodes (1,500 updates) the agent
            never reached the goal (every episode timed out at 100 steps).
    """

    agent: str
    seed: int
    episodes: int = 50_000
    env: str = "MiniGrid-Empty-5x5-v0"
    envs: int = 16
    steps: int = 5
    gamma: float = 0.9
    lr: float = 1e-4
    entropy: float = 0.01
    depth: int = 10
    checkpoint_every: int = 500
    mapping_init: str = "fan-in"
    vector: str = "sync"
    activation: str = "relu"

    @property
    def name(self) -> str:
        """Directory name, e.g. ``MiniGrid-Empty-5x5-v0-qt-s0`` (``-lr0.0016`` appended for a
        learning rate other than the paper's 1e-4, ``-ent0`` for an entropy weight other than
        0.01, ``-envs64`` for other than 16 environments, ``-tanh`` for another activation)."""
        suffix = "" if self.lr == 1e-4 else f"-lr{self.lr:g}"
        suffix += "" if self.entropy == 0.01 else f"-ent{self.entropy:g}"
        suffix += "" if self.envs == 16 else f"-envs{self.envs}"
        suffix += "" if self.activation == "relu" else f"-{self.activation}"
        return f"{self.env}-{self.agent}-s{self.seed}{suffix}"

    def validate(self) -> RLRun:
        """Check the settings; returns ``self``."""
        if self.agent not in AGENTS:
            raise ValueError(f"agent must be one of {', '.join(AGENTS)}, got {self.agent!r}")
        if self.vector not in VECTORS:
            raise ValueError(f"vector must be one of {', '.join(VECTORS)}, got {self.vector!r}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {', '.join(ACTIVATIONS)}, got {self.activation!r}"
            )
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if not self.entropy >= 0:
            raise ValueError(f"entropy must be at least 0, got {self.entropy}")
        for name in ("episodes", "envs", "steps", "depth", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        return self


class _Agent(nn.Module):
    """An actor or a critic: ``weights()`` gives its network's parameters, ``call_with(params, x)``
    runs the network with them (so one set of generated weights serves a whole rollout)."""

    def weights(self) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def call_with(self, params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class _Generated(_Agent):
    """A network whose weights a Quantum-Train model generates once per call of ``weights``."""

    def __init__(self, network: nn.Module, seed: int, depth: int, mapping_init: str) -> None:
        super().__init__()
        space = DiffQASSpace(qubits_for(count_parameters(network)), depth)
        factory = probability_factory("torch", "cpu")
        self.qt = QuantumTrain(network, space, factory, seed=seed, mapping_init=mapping_init)

    def weights(self) -> dict[str, torch.Tensor]:
        return self.qt.generated_parameters()

    def call_with(self, params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        return torch.func.functional_call(self.qt.network, params, (x,))


class _Plain(_Agent):
    """An ordinary network with the same interface as :class:`_Generated`."""

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network.double()

    def weights(self) -> dict[str, torch.Tensor]:
        return dict(self.network.named_parameters())

    def call_with(self, params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        return torch.func.functional_call(self.network, params, (x,))


def make_agent(
    agent: str, seed: int, depth: int = 10, mapping_init: str = "fan-in", activation: str = "relu"
) -> tuple[_Agent, _Agent]:
    """The actor (147 -> 7 logits) and critic (147 -> 1) of an agent (one of :data:`AGENTS`)."""
    torch.manual_seed(seed)
    actor, critic = mlp([147, 32, 32, 7], activation), mlp([147, 32, 32, 1], activation)
    if agent == "qt":
        return (
            _Generated(actor, seed, depth, mapping_init),
            _Generated(critic, seed + 1, depth, mapping_init),
        )
    if agent == "qt-actor":
        return _Generated(actor, seed, depth, mapping_init), _Plain(critic)
    return _Plain(actor), _Plain(critic)


def n_step_targets(
    rewards: list[torch.Tensor],
    terminated: list[torch.Tensor],
    bootstrap: torch.Tensor,
    gamma: float,
) -> torch.Tensor:
    """Discounted n-step returns ``(steps * envs,)``, step major.

    ``G_t = r_t + gamma (1 - term_t) G_{t+1}`` with ``G_T = bootstrap`` (the critic's value of
    the state after the last step).
    """
    value, out = bootstrap, []
    for r, d in zip(reversed(rewards), reversed(terminated), strict=True):
        value = r + gamma * value * (1 - d)
        out.append(value)
    return torch.stack(out[::-1]).reshape(-1)


def parameter_counts(actor: _Agent, critic: _Agent) -> dict:
    """Trained and classical parameter counts of an agent, and (``qt``) each generator's
    :meth:`~qmoe_qiskit.models.quantum_train.QuantumTrain.compression`."""
    parts = (actor, critic)
    trained = sum(p.numel() for m in parts for p in m.parameters() if p.requires_grad)
    compression = [m.qt.compression() for m in parts if isinstance(m, _Generated)]
    classical = sum(
        m.qt.num_classical if isinstance(m, _Generated) else count_parameters(m) for m in parts
    )
    return {
        "trained_parameters": trained,
        "classical_parameters": classical,
        "compression": compression,
    }


def moving_average(values: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Trailing moving average and standard deviation (window shrinks at the start)."""
    values = np.asarray(values, dtype=np.float64)
    mean = np.empty_like(values)
    std = np.empty_like(values)
    for i in range(len(values)):
        part = values[max(0, i - window + 1) : i + 1]
        mean[i], std[i] = part.mean(), part.std()
    return mean, std


def _minigrid(env_id: str):
    """One MiniGrid environment with image observations (importable in a subprocess: it
    registers MiniGrid itself)."""
    import gymnasium as gym
    import minigrid  # noqa: F401  (registers the MiniGrid environments)
    from minigrid.wrappers import ImgObsWrapper

    return ImgObsWrapper(gym.make(env_id))


def _vector_env(run: RLRun):
    try:
        import gymnasium as gym
        import minigrid  # noqa: F401
    except ImportError:
        raise MissingExtraError(
            "reinforcement learning needs the rl extra: pip install -e '.[rl]' "
            "(gymnasium and minigrid)"
        ) from None
    makers = [functools.partial(_minigrid, run.env) for _ in range(run.envs)]
    kind = gym.vector.AsyncVectorEnv if run.vector == "async" else gym.vector.SyncVectorEnv
    return kind(makers, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)


def run_rl(run: RLRun, out: str | Path, *, progress: bool = True) -> dict:
    """Train one agent into ``out/runs/NAME``; returns the result (also ``result.json``)."""
    from tqdm.auto import tqdm

    run = run.validate()
    folder = Path(out) / "runs" / run.name
    if (folder / RESULT).is_file():
        done = json.loads((folder / RESULT).read_text())
        if len(done["returns"]) >= run.episodes:
            return done
        # Asked for more episodes than a finished run has: go on from its last checkpoint.
    folder.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    envs = _vector_env(run)
    actor, critic = make_agent(run.agent, run.seed, run.depth, run.mapping_init, run.activation)
    params = list(actor.parameters()) + list(critic.parameters())
    optimizer = torch.optim.Adam(params, lr=run.lr, betas=(0.92, 0.999))
    returns: list[float] = []
    lengths: list[int] = []
    diagnostics: list[dict] = []
    updates, seconds = 0, 0.0
    if (folder / CHECKPOINT).is_file():
        state = load_checkpoint(folder / CHECKPOINT)
        actor.load_state_dict(state["actor"])
        critic.load_state_dict(state["critic"])
        optimizer.load_state_dict(state["optimizer"])
        returns, lengths = state["returns"], state["lengths"]
        updates, seconds = state["updates"], state["seconds"]
        diagnostics = state.get("diagnostics", [])
    sums: dict[str, float] = defaultdict(float)
    obs, _ = envs.reset(seed=run.seed * 1000 + updates)
    running = np.zeros(run.envs)
    steps_in = np.zeros(run.envs, dtype=np.int64)
    generator = torch.Generator().manual_seed(run.seed * 7 + updates)
    bar = tqdm(total=run.episodes, initial=len(returns), desc=run.name, disable=not progress)

    def save() -> None:
        state = {
            "run": asdict(run), "actor": actor.state_dict(), "critic": critic.state_dict(),
            "optimizer": optimizer.state_dict(), "returns": returns, "lengths": lengths,
            "updates": updates, "seconds": seconds, "diagnostics": diagnostics,
        }  # fmt: skip
        save_checkpoint(folder / CHECKPOINT, state)

    while len(returns) < run.episodes:
        started = time.perf_counter()
        # One generation of the actor's weights per update: the rollout acts with them
        # (detached) and the loss differentiates them (the parameters do not change between).
        actor_w = actor.weights()
        acting = {k: v.detach() for k, v in actor_w.items()}
        batch_obs, batch_act, batch_rew, batch_done = [], [], [], []
        for _ in range(run.steps):
            x = torch.as_tensor(obs.reshape(run.envs, -1), dtype=torch.float64)
            with torch.no_grad():
                logits = actor.call_with(acting, x)
            action = torch.multinomial(torch.softmax(logits, -1), 1, generator=generator)[:, 0]
            next_obs, reward, terminated, truncated, _ = envs.step(action.numpy())
            done = np.logical_or(terminated, truncated)
            batch_obs.append(x)
            batch_act.append(action)
            batch_rew.append(torch.as_tensor(reward, dtype=torch.float64))
            batch_done.append(torch.as_tensor(terminated, dtype=torch.float64))
            running += reward
            steps_in += 1
            for i in np.flatnonzero(done):
                returns.append(float(running[i]))
                lengths.append(int(steps_in[i]))
                running[i], steps_in[i] = 0.0, 0
                bar.update(1)
            # On truncation the bootstrap below uses the reset observation, a small bias that
            # A2C implementations commonly accept; terminations are exact.
            obs = next_obs
        x_last = torch.as_tensor(obs.reshape(run.envs, -1), dtype=torch.float64)
        critic_w = critic.weights()
        with torch.no_grad():
            bootstrap = critic.call_with(critic_w, x_last)[:, 0]
        targets = n_step_targets(batch_rew, batch_done, bootstrap, run.gamma)
        x_all = torch.cat(batch_obs)
        actions = torch.cat(batch_act)
        values = critic.call_with(critic_w, x_all)[:, 0]
        log_probs = torch.log_softmax(actor.call_with(actor_w, x_all), -1)
        advantage = targets - values
        policy = -(log_probs.gather(1, actions[:, None])[:, 0] * advantage.detach()).mean()
        entropy = -(log_probs.exp() * log_probs).sum(-1).mean()
        loss = policy + 0.5 * advantage.pow(2).mean() - run.entropy * entropy
        optimizer.zero_grad()
        loss.backward()
        _accumulate(sums, actor, critic, actor_w, entropy, advantage)
        optimizer.step()
        updates += 1
        seconds += time.perf_counter() - started
        if updates % run.checkpoint_every == 0:
            diagnostics.append(_diagnostics_row(sums, returns, updates))
            sums.clear()
            save()
    bar.close()
    envs.close()
    result = {
        "run": asdict(run),
        "name": run.name,
        "returns": returns,
        "lengths": lengths,
        "updates": updates,
        "seconds": seconds,
        **parameter_counts(actor, critic),
        "final_mean_return_1000": float(np.mean(returns[-1000:])),
        "diagnostics": diagnostics,
    }
    save()  # kept, so that a later call with more episodes continues this run
    write_json(folder / RESULT, result)
    return result


def _accumulate(
    sums: dict[str, float],
    actor: _Agent,
    critic: _Agent,
    actor_w: dict[str, torch.Tensor],
    entropy: torch.Tensor,
    advantage: torch.Tensor,
) -> None:
    """Add one update's learning signals to ``sums`` (see :func:`_diagnostics_row`)."""
    with torch.no_grad():
        flat = torch.cat([v.reshape(-1) for v in actor_w.values()])
        sums["entropy"] += float(entropy)
        sums["value_loss"] += float(advantage.pow(2).mean())
        sums["advantage_std"] += float(advantage.std())
        sums["actor_weight_std"] += float(flat.std())
        for name, module in (("actor", actor), ("critic", critic)):
            grads = [p.grad.reshape(-1) for p in module.parameters() if p.grad is not None]
            sums[f"{name}_grad_norm"] += float(torch.cat(grads).norm()) if grads else 0.0
        sums["count"] += 1


def _diagnostics_row(sums: dict[str, float], returns: list[float], updates: int) -> dict:
    """Means of the learning signals since the last row: policy entropy (nats; ln 7 = 1.95 is
    uniform), the critic's squared error, the advantage's spread, the actor's (generated)
    weights' standard deviation, and the gradient norms of the trained parameters; with the
    episodes so far and the mean return of the last 1,000."""
    count = max(1.0, sums.get("count", 0.0))
    row = {k: round(v / count, 6) for k, v in sums.items() if k != "count"}
    recent = float(np.mean(returns[-1000:])) if returns else 0.0
    return {"updates": updates, "episodes": len(returns), "mean_return_1000": recent, **row}


def in_progress(out: str | Path) -> list[dict]:
    """Unfinished runs under ``out/runs`` as partial results (their checkpoint's episodes so
    far), marked ``"in_progress": True``, so a report can show a curve that is still growing."""
    partial = []
    for path in sorted((Path(out) / "runs").glob(f"*/{CHECKPOINT}")):
        if (path.parent / RESULT).is_file():
            continue
        state = load_checkpoint(path)
        if not isinstance(state, dict) or "returns" not in state:  # e.g. a series run
            continue
        name = path.parent.name
        if "run" in state:
            run = RLRun(**state["run"])
        else:  # checkpoints written before the settings were saved in them: the defaults
            env, agent, seed = name.rsplit("-", 2)
            run = RLRun(agent, int(seed.removeprefix("s")), env=env)
        networks = make_agent(run.agent, run.seed, run.depth, run.mapping_init, run.activation)
        counts = parameter_counts(*networks)
        partial.append({
            "run": asdict(run), "name": name, "returns": state["returns"],
            "lengths": state["lengths"], "updates": state["updates"],
            "seconds": state["seconds"], "in_progress": True,
            "diagnostics": state.get("diagnostics", []), **counts,
        })  # fmt: skip
    return partial
