"""The one training loop: seeded shuffles, checkpointable state, optional early stopping.

Classifiers train with Adam on softmax cross-entropy (the default); regressors (Quantum-Train
forecasters) with ``loss="mse"``, and ``optimizer="rmsprop"`` where a paper asks for it.

Every family and every study trains through :func:`fit`. Shuffling is seeded per epoch
(``seed * 100_003 + epoch``) and the loop's whole state (:class:`FitState`: weights, Adam state,
history, best validation epoch) can be saved after any epoch and passed back in, so a resumed
run reaches the same weights as an uninterrupted one.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from ..errors import TrainingError

#: Losses :func:`fit` minimises.
LOSSES = ("cross-entropy", "mse")
#: Optimizers :func:`fit` can use.
OPTIMIZERS = ("adam", "rmsprop")

__all__ = [
    "LOSSES",
    "OPTIMIZERS",
    "balance_loss",
    "class_routing_information",
    "routing_entropy",
    "FitOptions",
    "FitResult",
    "FitState",
    "epoch_order",
    "fit",
    "flat_weights",
    "load_flat_weights",
    "predict",
]


@dataclass(frozen=True)
class FitOptions:
    """Settings of :func:`fit`.

    Attributes:
        epochs: Total epochs.
        batch_size: Mini-batch size.
        lr: Adam learning rate.
        seed: Seed of the per-epoch shuffles.
        logit_scale: Outputs are multiplied by this before the softmax cross-entropy.
        patience: With validation data, stop after this many epochs without a lower validation
            loss and keep the best validation epoch's weights (0: run every epoch, keep the
            last weights).
        balance: Weight of :func:`balance_loss` of the batch's routing probabilities (needs a
            network that keeps them in a ``last_routing`` attribute: ``build_network(...,
            routed=True)``).
        specialise: Weight of :func:`routing_entropy` of the batch's routing probabilities.
        class_routing: Weight of minus :func:`class_routing_information` of the batch.
        loss: ``"cross-entropy"`` (integer labels, outputs are class scores) or ``"mse"``
            (float targets shaped like the outputs; no accuracy is reported).
        optimizer: ``"adam"`` or ``"rmsprop"`` (``alpha=0.99, eps=1e-8``, torch's defaults).
        shuffle: Visit the rows in a fresh seeded order every epoch (:func:`epoch_order`);
            ``False`` walks them in their given order every epoch (for time series in time
            order, the DiffQAS-QT authors' protocol, every epoch then ends on the windows just
            before the test region).
    """

    epochs: int
    batch_size: int = 32
    lr: float = 2e-3
    seed: int = 0
    logit_scale: float = 5.0
    patience: int = 0
    balance: float = 0.0
    specialise: float = 0.0
    class_routing: float = 0.0
    loss: str = "cross-entropy"
    optimizer: str = "adam"
    shuffle: bool = True

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")

    @property
    def regression(self) -> bool:
        """Whether the loss is a regression loss (float targets, no accuracy)."""
        return self.loss == "mse"

    @property
    def routing_losses(self) -> bool:
        """Whether any routing loss is on (the network must keep ``last_routing``)."""
        return bool(self.balance or self.specialise or self.class_routing)


@dataclass
class FitState:
    """Everything needed to continue a fit after an epoch (what a checkpoint holds).

    Attributes:
        epoch: Epochs finished.
        weights: Flat weights after that epoch.
        optimizer: Adam's ``state_dict``.
        history: Per epoch: ``epoch, train_loss, train_accuracy, seconds`` (+ ``val_loss``,
            ``val_accuracy`` with validation data, + whatever ``on_epoch`` added).
        steps: Loss of every mini-batch.
        best_epoch: Epoch with the lowest validation loss (0: none yet).
        best_val_loss: That loss.
        best_weights: Its weights (``None`` without validation data).
        stopped: Early stopping ended the fit.
    """

    epoch: int = 0
    weights: np.ndarray | None = None
    optimizer: dict | None = None
    history: list[dict[str, float]] = field(default_factory=list)
    steps: list[float] = field(default_factory=list)
    best_epoch: int = 0
    best_val_loss: float = math.inf
    best_weights: np.ndarray | None = None
    stopped: bool = False


@dataclass(frozen=True)
class FitResult:
    """A finished fit.

    Attributes:
        weights: The kept weights: the best validation epoch's with early stopping, else the
            last epoch's.
        history: Per-epoch metrics.
        best_epoch: Epoch whose weights were kept.
        seconds: Wall time of this call.
        state: The final :class:`FitState`.
    """

    weights: np.ndarray
    history: list[dict[str, float]]
    best_epoch: int
    seconds: float
    state: FitState


def flat_weights(network: torch.nn.Module) -> np.ndarray:
    """All trainable parameters of a network as one float64 vector (the checkpoint format)."""
    vector = torch.nn.utils.parameters_to_vector(
        [p.detach().to(torch.float64) for p in network.parameters()]
    )
    return vector.cpu().numpy().copy()


def load_flat_weights(network: torch.nn.Module, weights: np.ndarray) -> None:
    """Copy a :func:`flat_weights` vector into ``network``'s parameters, in place, keeping
    each parameter's dtype and device (a float32 network stays float32).

    Raises:
        ValueError: If the vector's length is not the network's parameter count.
    """
    params = list(network.parameters())
    total = sum(p.numel() for p in params)
    values = torch.as_tensor(np.asarray(weights))
    if values.ndim != 1 or values.numel() != total:
        raise ValueError(f"expected {total} weights, got shape {tuple(values.shape)}")
    start = 0
    with torch.no_grad():
        for p in params:
            p.copy_(values[start : start + p.numel()].view_as(p))
            start += p.numel()


def predict(network: torch.nn.Module, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Network outputs ``(rows, classes)`` for ``x``, in batches, without gradients."""
    outputs = []
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            batch = torch.as_tensor(x[start : start + batch_size], dtype=torch.float64)
            outputs.append(network(batch).detach().cpu().double().numpy())
    if not outputs:
        return np.zeros((0, 0))
    return np.concatenate(outputs)


def _not_finite(
    what: str, epoch: int, start: int, options: FitOptions, state: FitState
) -> TrainingError:
    kept = (
        f"the checkpoint of epoch {state.epoch} is kept"
        if state.epoch
        else "no epoch finished, so no checkpoint was written"
    )
    return TrainingError(
        f"training stopped at epoch {epoch + 1}, step {start // options.batch_size + 1}: {what}; "
        f"{kept}; lower the learning rate (lr {options.lr:g}) or training.logit_scale "
        f"({options.logit_scale:g})"
    )


def balance_loss(routing: torch.Tensor) -> torch.Tensor:
    """Switch-Transformer style load balance: ``K sum_k (mean_x P(k|x))^2``.

    1 when the batch spreads evenly over the ``K`` experts, ``K`` when it uses one.
    """
    usage = routing.mean(dim=0)
    return routing.shape[1] * (usage * usage).sum()


def routing_entropy(routing: torch.Tensor) -> torch.Tensor:
    """Mean per-input entropy of the routing probabilities, in bits."""
    p = routing.clamp_min(1e-12)
    p = p / p.sum(dim=1, keepdim=True)
    return -(p * torch.log2(p)).sum(dim=1).mean()


def class_routing_information(routing: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The batch's mutual information ``I(class; expert)`` in bits.

    The joint distribution is ``p(c, k) = mean_x [y(x) = c] P(k|x)`` over the batch; the
    routing probabilities are renormalised per input first (unused routing states drop out).
    """
    p = routing.clamp_min(0)
    p = p / p.sum(dim=1, keepdim=True).clamp_min(1e-12)
    onehot = torch.nn.functional.one_hot(labels, int(labels.max()) + 1).to(p.dtype)
    joint = onehot.T @ p / len(labels)
    outer = joint.sum(dim=1, keepdim=True) * joint.sum(dim=0, keepdim=True)
    mask = joint > 0
    return (joint[mask] * torch.log2(joint[mask] / outer[mask])).sum()


def epoch_order(rows: int, seed: int, epoch: int) -> torch.Tensor:
    """The shuffled row order of ``epoch`` (0-based).

    The generator is seeded with ``seed * 100_003 + epoch``, two int64 values are drawn, then
    the permutation: exactly the order that version 0.1 got from a seeded ``DataLoader``
    iterated through a progress bar, so runs written by it resume on the same order (tested
    against a run it wrote).
    """
    generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
    torch.empty(2, dtype=torch.int64).random_(generator=generator)
    return torch.randperm(rows, generator=generator)


def _evaluate(
    network: torch.nn.Module, x: np.ndarray, y: np.ndarray, options: FitOptions
) -> tuple[float, float]:
    out = torch.as_tensor(predict(network, x))
    if options.regression:
        target = torch.as_tensor(np.asarray(y), dtype=out.dtype).reshape(out.shape)
        return torch.nn.functional.mse_loss(out, target).item(), math.nan
    scale = options.logit_scale
    labels = torch.as_tensor(y, dtype=torch.int64)
    loss = torch.nn.functional.cross_entropy(scale * out, labels).item()
    return loss, float((out.argmax(dim=1) == labels).double().mean())


def fit(
    network: torch.nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    options: FitOptions,
    *,
    validation: tuple[np.ndarray, np.ndarray] | None = None,
    state: FitState | None = None,
    on_epoch: Callable[[FitState, torch.nn.Module], None] | None = None,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
) -> FitResult:
    """Train ``network`` in place on ``(x, y)``.

    Args:
        network: A module ``(batch, features) -> (batch, classes)`` (see
            :func:`~qmoe_qiskit.engines.build_network`), already holding ``state.weights`` when
            resuming.
        x: Training inputs ``(rows, features)``.
        y: Integer labels ``(rows,)`` (float targets for ``loss="mse"``).
        options: Loop settings.
        validation: ``(x_val, y_val)`` scored after every epoch (and used for early stopping).
        state: A saved state to continue from (its ``epoch`` epochs are skipped).
        on_epoch: Called after every epoch with the state and the network (checkpoints,
            extra per-epoch metrics: entries it adds to ``state.history[-1]`` are kept).
        progress: Show a tqdm bar per epoch.
        log: Where to print one line per epoch.

    Returns:
        The :class:`FitResult`.
    """
    from tqdm.auto import tqdm

    started = time.perf_counter()
    state = state if state is not None else FitState()
    trained = [p for p in network.parameters() if p.requires_grad]
    optimizer: torch.optim.Optimizer
    if options.optimizer == "rmsprop":
        optimizer = torch.optim.RMSprop(trained, lr=options.lr, alpha=0.99, eps=1e-8)
    else:
        optimizer = torch.optim.Adam(trained, lr=options.lr)
    if state.optimizer is not None:
        optimizer.load_state_dict(state.optimizer)
    x_train = torch.as_tensor(np.asarray(x), dtype=torch.float64)
    label_dtype = torch.float64 if options.regression else torch.int64
    y_train = torch.as_tensor(np.asarray(y), dtype=label_dtype)
    early = options.patience > 0 and validation is not None
    for epoch in range(state.epoch, options.epochs):
        if state.stopped:
            break
        if options.shuffle:
            order = epoch_order(len(y_train), options.seed, epoch)
        else:
            order = torch.arange(len(y_train))
        epoch_started = time.perf_counter()
        total_loss = correct = seen = 0.0
        batches = range(0, len(order), options.batch_size)
        desc = f"epoch {epoch + 1}/{options.epochs}"
        bar = tqdm(batches, desc=desc, disable=not progress, leave=False)
        for start in bar:
            idx = order[start : start + options.batch_size]
            xb, yb = x_train[idx], y_train[idx]
            optimizer.zero_grad()
            outputs = network(xb)
            if options.regression:
                loss = torch.nn.functional.mse_loss(outputs, yb.reshape(outputs.shape))
            else:
                loss = torch.nn.functional.cross_entropy(options.logit_scale * outputs, yb)
            if options.routing_losses:
                routing = network.last_routing
                assert isinstance(routing, torch.Tensor)  # set by every forward pass
                loss = loss + options.balance * balance_loss(routing)
                loss = loss + options.specialise * routing_entropy(routing)
                if options.class_routing:
                    information = class_routing_information(routing, yb)
                    loss = loss - options.class_routing * information
            if not torch.isfinite(loss):
                raise _not_finite(f"the loss is {loss.item()}", epoch, start, options, state)
            loss.backward()
            optimizer.step()
            if not all(bool(torch.isfinite(p).all()) for p in trained):
                raise _not_finite("a weight became non-finite", epoch, start, options, state)
            state.steps.append(loss.item())
            total_loss += loss.item() * len(yb)
            if not options.regression:
                correct += float((outputs.argmax(dim=1) == yb).sum())
            seen += len(yb)
            shown = {"loss": f"{total_loss / seen:.4g}"}
            if not options.regression:
                shown["acc"] = f"{correct / seen:.3f}"
            bar.set_postfix(shown)
        bar.close()
        row = {"epoch": epoch + 1, "train_loss": total_loss / seen}
        if not options.regression:
            row["train_accuracy"] = correct / seen
        row["seconds"] = time.perf_counter() - epoch_started
        if validation is not None:
            val_loss, val_accuracy = _evaluate(network, validation[0], validation[1], options)
            row["val_loss"] = val_loss
            if not options.regression:
                row["val_accuracy"] = val_accuracy
        state.history.append(row)
        state.epoch = epoch + 1
        state.weights = flat_weights(network)
        state.optimizer = optimizer.state_dict()
        if validation is not None:
            if row["val_loss"] < state.best_val_loss - 1e-6:
                state.best_val_loss = row["val_loss"]
                state.best_epoch = epoch + 1
                state.best_weights = state.weights
            elif early and epoch + 1 - state.best_epoch >= options.patience:
                state.stopped = True
        if on_epoch is not None:
            on_epoch(state, network)
        if log is not None:
            line = f"epoch {epoch + 1}: loss {row['train_loss']:.4g}"
            if not options.regression:
                line += f" train accuracy {row['train_accuracy']:.3f}"
            if validation is not None:
                line += (
                    f" val loss {row['val_loss']:.4g}"
                    if options.regression
                    else f" val accuracy {row['val_accuracy']:.3f}"
                )
            log(line + (" (early stop)" if state.stopped else ""))
    if state.weights is None:
        state.weights = flat_weights(network)
    if early and state.best_weights is not None:
        weights, best = state.best_weights, state.best_epoch
    else:
        weights, best = state.weights, state.epoch
    return FitResult(weights, state.history, best, time.perf_counter() - started, state)
