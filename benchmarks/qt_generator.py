"""Time of one DiffQAS-QT generator step (forward + backward of the 12-candidate mixture).

Three ways to compute the same probabilities, timed side by side in one run:

* ``layered``: all candidates as one batch of states, layer by layer
  (``engines.statevector.layered``; what ``probability_factory("torch")`` uses);
* ``fused``: one fused-block statevector network per candidate
  (``engines.statevector.probabilities.TorchProbabilities``, the QMoE engine's machinery);
* ``aer``: Aer with exact probabilities and parameter-shift gradients (the reference; only at
  the smallest width, as its backward pass runs ``2 x angles`` circuits per candidate).

Constant candidates are evaluated once when the mixture is built, so every row times the six
candidates that depend on the angles. One torch thread.

    python benchmarks/qt_generator.py --out benchmarks/results/qt-generator.json
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from qiskit.circuit import ParameterVector

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_threads, apply_threads, machine, write_json  # noqa: E402

from qmoe_qiskit.engines import probability_factory  # noqa: E402
from qmoe_qiskit.engines.statevector.probabilities import TorchProbabilities  # noqa: E402
from qmoe_qiskit.models.diffqas import DiffQASMixture, DiffQASSpace  # noqa: E402

#: (qubits, depth): the paper's LSTM, actor/critic and classifier generators.
CASES = ((11, 10), (13, 10), (17, 15))


def fused_factory(space: DiffQASSpace, architectures):
    """One TorchProbabilities per architecture, stacked (same contract as the engines')."""
    params = ParameterVector("theta", space.num_theta)
    modules = [TorchProbabilities(space.circuit(a, params), list(params)) for a in architectures]

    class Stacked(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.parts = torch.nn.ModuleList(modules)

        def forward(self, theta: torch.Tensor) -> torch.Tensor:
            return torch.stack([m(theta) for m in self.parts])

    return Stacked()


def time_step(mixture: DiffQASMixture, repeats: int) -> float:
    weights = torch.linspace(0, 1, 2**mixture.space.num_qubits, dtype=torch.float64)
    (mixture() * weights).sum().backward()  # warm-up
    started = time.perf_counter()
    for _ in range(repeats):
        mixture.zero_grad()
        (mixture() * weights).sum().backward()
    return (time.perf_counter() - started) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="JSON file to write")
    parser.add_argument("--max-qubits", type=int, default=17, help="skip wider cases")
    add_threads(parser)
    args = parser.parse_args()
    apply_threads(args)
    rows = []
    for qubits, depth in CASES:
        if qubits > args.max_qubits:
            continue
        space = DiffQASSpace(qubits, depth)
        row = {"qubits": qubits, "depth": depth}
        factories = {"layered": probability_factory("torch", "cpu"), "fused": fused_factory}
        if qubits == CASES[0][0]:
            factories["aer"] = probability_factory("aer", "cpu")
        for name, factory in factories.items():
            mixture = DiffQASMixture(space, factory)
            repeats = 1 if name == "aer" or qubits > 13 else 5
            row[f"{name}_seconds"] = time_step(mixture, repeats)
            print(f"{qubits} qubits, {name}: {row[f'{name}_seconds']:.3f} s per step", flush=True)
        row["fused_over_layered"] = row["fused_seconds"] / row["layered_seconds"]
        if "aer_seconds" in row:
            row["aer_over_layered"] = row["aer_seconds"] / row["layered_seconds"]
        rows.append(row)
    write_json(args.out, {"machine": machine(), "threads": 1, "rows": rows})


if __name__ == "__main__":
    main()
