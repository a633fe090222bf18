"""Quantum-Train: a QNN generates every weight of your own torch network.

A small MLP on Two Moons: ``QuantumTrain`` trains a DiffQAS circuit (``ceil(log2 p)`` qubits)
and a small mapping network that together generate the MLP's ``p`` weights; afterwards the
generated weights load into a plain MLP that runs without any quantum circuit::

    python examples/quantum_train.py --epochs 2
"""

from __future__ import annotations

import argparse
from typing import Any

import torch
from torch import nn

from qmoe_qiskit.data import load_dataset
from qmoe_qiskit.engines import probability_factory
from qmoe_qiskit.models.diffqas import DiffQASSpace
from qmoe_qiskit.models.quantum_train import QuantumTrain


def mlp() -> nn.Module:
    """The classical network whose weights are generated."""
    return nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 2)).double()


def main(epochs: int = 2, seed: int = 0) -> dict[str, Any]:
    """Train, then score the plain MLP holding the generated weights on the test split."""
    torch.manual_seed(seed)
    network = mlp()
    p = sum(t.numel() for t in network.parameters())
    space = DiffQASSpace(num_qubits=(p - 1).bit_length(), depth=2)
    model = QuantumTrain(network, space, probability_factory("torch"), mapping_init="fan-in")
    data = load_dataset("moons", (0, 1))
    x = torch.as_tensor(data.x_train, dtype=torch.float64)
    y = torch.as_tensor(data.y_train)
    optimiser = torch.optim.Adam(model.parameters(), lr=0.05)
    for epoch in range(epochs):
        for start in range(0, len(x), 50):
            loss = nn.functional.cross_entropy(model(x[start : start + 50]), y[start : start + 50])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        print(f"epoch {epoch + 1}: loss {loss.item():.3f}")
    plain = mlp()
    plain.load_state_dict(model.classical_state_dict())
    x_test = torch.as_tensor(data.x_test, dtype=torch.float64)
    with torch.no_grad():
        accuracy = float((plain(x_test).argmax(1) == torch.as_tensor(data.y_test)).double().mean())
        agree = bool(torch.allclose(plain(x_test), model(x_test)))
    print(f"{model.compression()}; plain MLP test accuracy {accuracy:.3f}")
    return {"accuracy": accuracy, "plain_equals_generated": agree, "classical_weights": p}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    main(args.epochs, args.seed)
