"""Classical networks whose weights Quantum-Train generates (paper Sec. VI).

Each is an ordinary ``nn.Module`` with the paper's parameter count:

* :func:`mlp` ``(784, 128, 64, 2)``: the image classifier, 108,866 parameters;
* :class:`LSTMRegressor` (hidden 20): one-step-ahead forecasting, 1,781 parameters
  (four gates ``Linear(1 + 20 -> 20)`` and a head ``Linear(20 -> 1)``);
* :func:`mlp` ``(147, 32, 32, 7)`` and ``(147, 32, 32, 1)``: the MiniGrid actor (6,023) and
  critic (5,825).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from ..errors import SpecError

__all__ = ["ACTIVATIONS", "NETWORKS", "LSTMRegressor", "count_parameters", "mlp"]

#: Hidden-layer activations of :func:`mlp` by name (leaky ReLU: slope 0.01 below zero).
ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "leaky-relu": nn.LeakyReLU,
    "tanh": nn.Tanh,
}


def count_parameters(module: nn.Module) -> int:
    """Number of scalar parameters of ``module``."""
    return sum(p.numel() for p in module.parameters())


def mlp(sizes: Sequence[int], activation: str = "relu") -> nn.Sequential:
    """A perceptron ``sizes[0] -> ... -> sizes[-1]`` with a linear last layer.

    Args:
        sizes: Layer widths, at least two.
        activation: Hidden-layer activation, a key of :data:`ACTIVATIONS` (ReLU by default).
    """
    sizes = list(sizes)
    if len(sizes) < 2 or any(not isinstance(s, int) or s < 1 for s in sizes):
        raise SpecError(f"sizes must be at least two positive integers, got {sizes}")
    if activation not in ACTIVATIONS:
        raise SpecError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {activation!r}")
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


class LSTMRegressor(nn.Module):
    """An LSTM over a window of scalars that predicts the next value.

    The cell has one ``Linear(inputs + hidden -> hidden)`` per gate (input, forget, cell,
    output), as in the authors' QT-LSTM, and the last hidden state goes through
    ``Linear(hidden -> 1)``: ``4 (inputs + hidden + 1) hidden + hidden + 1`` parameters.

    Args:
        hidden: Hidden size.
        inputs: Features per time step.
    """

    def __init__(self, hidden: int = 20, inputs: int = 1) -> None:
        super().__init__()
        self.hidden = hidden
        self.inputs = inputs
        self.input_gate = nn.Linear(inputs + hidden, hidden)
        self.forget_gate = nn.Linear(inputs + hidden, hidden)
        self.cell_gate = nn.Linear(inputs + hidden, hidden)
        self.output_gate = nn.Linear(inputs + hidden, hidden)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, steps)`` or ``(batch, steps, inputs)`` -> ``(batch, 1)``."""
        if x.dim() == 2:
            x = x[..., None]
        batch = x.shape[0]
        h = x.new_zeros(batch, self.hidden)
        c = x.new_zeros(batch, self.hidden)
        for t in range(x.shape[1]):
            joined = torch.cat([x[:, t], h], dim=1)
            i = torch.sigmoid(self.input_gate(joined))
            f = torch.sigmoid(self.forget_gate(joined))
            g = torch.tanh(self.cell_gate(joined))
            o = torch.sigmoid(self.output_gate(joined))
            c = f * c + i * g
            h = o * torch.tanh(c)
        return self.head(h)


#: The paper's Quantum-Train targets by name: ``name -> (builder, paper generator depth)``.
NETWORKS: dict[str, tuple[Callable[[], nn.Module], int]] = {
    "qt-classifier": (lambda: mlp([784, 128, 64, 2]), 15),
    "qt-lstm": (LSTMRegressor, 10),
    "qt-actor": (lambda: mlp([147, 32, 32, 7]), 10),
    "qt-critic": (lambda: mlp([147, 32, 32, 1]), 10),
}
