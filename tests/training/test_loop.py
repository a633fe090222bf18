"""The training loop's regression mode (MSE, RMSprop): one step written out by hand, resume."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qmoe_qiskit.training.loop import FitOptions, FitState, epoch_order, fit


def _net() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Linear(3, 1, dtype=torch.float64)


def test_one_rmsprop_mse_step_by_hand():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(4, 3)), rng.normal(size=(4, 1))
    net = _net()
    w0, b0 = net.weight.detach().numpy().copy(), net.bias.detach().numpy().copy()
    options = FitOptions(epochs=1, batch_size=4, lr=0.01, loss="mse", optimizer="rmsprop")
    result = fit(net, x, y, options)
    order = epoch_order(4, 0, 0).numpy()
    xb, yb = x[order], y[order]
    residual = xb @ w0.T + b0 - yb  # (4, 1)
    grad_w = 2 * residual.T @ xb / 4
    grad_b = 2 * residual.sum(axis=0) / 4
    # RMSprop, first step: v = (1 - alpha) g^2, update = lr g / (sqrt(v) + eps).
    for value, start, grad in ((net.weight, w0, grad_w), (net.bias, b0, grad_b)):
        v = 0.01 * grad**2
        np.testing.assert_allclose(
            value.detach().numpy(), start - 0.01 * grad / (np.sqrt(v) + 1e-8), rtol=1e-10
        )
    row = result.history[0]
    assert "train_accuracy" not in row
    assert row["train_loss"] == pytest.approx(float(np.mean(residual**2)))


def test_regression_validation_and_resume_give_the_same_weights():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 3))
    y = x @ np.array([[1.0], [-2.0], [0.5]])
    options = FitOptions(epochs=4, batch_size=8, lr=0.05, loss="mse", optimizer="rmsprop")
    whole = fit(_net(), x, y, options, validation=(x, y))
    assert whole.history[-1]["val_loss"] < whole.history[0]["val_loss"]
    assert "val_accuracy" not in whole.history[-1]
    half = fit(_net(), x, y, FitOptions(**{**options.__dict__, "epochs": 2}))
    net = _net()
    torch.nn.utils.vector_to_parameters(torch.as_tensor(half.state.weights), net.parameters())
    state = FitState(**{**half.state.__dict__})
    resumed = fit(net, x, y, options, state=state)
    np.testing.assert_array_equal(resumed.weights, fit(_net(), x, y, options).weights)


def test_unknown_loss_or_optimizer_is_refused():
    with pytest.raises(ValueError, match="loss must be one of"):
        FitOptions(epochs=1, loss="l1")
    with pytest.raises(ValueError, match="optimizer must be one of"):
        FitOptions(epochs=1, optimizer="sgd")


def test_frozen_parameters_are_not_optimised():
    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 1)).double()
    net[0].weight.requires_grad_(False)
    frozen = net[0].weight.detach().clone()
    x = np.random.default_rng(2).normal(size=(10, 2))
    fit(net, x, x[:, :1], FitOptions(epochs=2, batch_size=5, loss="mse"))
    assert torch.equal(net[0].weight, frozen)


def test_unshuffled_epochs_walk_the_rows_in_order():
    """``shuffle=False``: every epoch the batches are rows 0-3, 4-7, 8-9, in that order (a plain
    torch RMSprop loop over those batches gives the same weights); the shuffled default does
    not."""
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(10, 3)), rng.normal(size=(10, 1))
    options = FitOptions(
        epochs=3, batch_size=4, lr=0.01, loss="mse", optimizer="rmsprop", shuffle=False
    )
    result = fit(_net(), x, y, options)
    net = _net()
    optimizer = torch.optim.RMSprop(net.parameters(), lr=0.01, alpha=0.99, eps=1e-8)
    xt, yt = torch.as_tensor(x), torch.as_tensor(y)
    for _ in range(3):
        for start in (0, 4, 8):
            optimizer.zero_grad()
            loss = ((net(xt[start : start + 4]) - yt[start : start + 4]) ** 2).mean()
            loss.backward()
            optimizer.step()
    by_hand = torch.nn.utils.parameters_to_vector(net.parameters()).detach().numpy()
    np.testing.assert_allclose(result.weights, by_hand, rtol=1e-12)
    shuffled = fit(_net(), x, y, FitOptions(**{**options.__dict__, "shuffle": True}))
    assert np.abs(shuffled.weights - by_hand).max() > 1e-6


class _Blows(torch.nn.Module):
    """A classifier whose outputs turn NaN from its ``after``-th forward call on."""

    def __init__(self, after: int) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.linear = torch.nn.Linear(3, 2, dtype=torch.float64)
        self.calls, self.after = 0, after

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        out = self.linear(x)
        return out * float("nan") if self.calls > self.after else out


def test_a_non_finite_loss_stops_training_and_keeps_the_last_good_checkpoint():
    from qmoe_qiskit.errors import TrainingError

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(8, 3)), rng.integers(0, 2, size=8)
    saved = []
    options = FitOptions(epochs=3, batch_size=4, lr=0.01)  # 2 steps an epoch
    net = _Blows(after=3)  # epoch 1 is clean, step 2 of epoch 2 is NaN
    with pytest.raises(TrainingError) as caught:
        fit(net, x, y, options, on_epoch=lambda s, n: saved.append((s.epoch, s.weights.copy())))
    message = str(caught.value)
    assert message.startswith("training stopped at epoch 2, step 2: the loss is nan")
    assert "the checkpoint of epoch 1 is kept" in message and "lr 0.01" in message
    assert [epoch for epoch, _ in saved] == [1]  # nothing after the good epoch was saved
    assert np.isfinite(saved[0][1]).all()
    assert all(bool(torch.isfinite(p).all()) for p in net.parameters())  # no NaN step taken
    with pytest.raises(TrainingError, match="no epoch finished, so no checkpoint"):
        fit(_Blows(after=0), x, y, options)
