"""Time one training step of the same QMoE with qiskit-machine-learning's default gradient
and with ours, side by side in one run.

A step is forward + backward + Adam update of ``TorchConnector(EstimatorQNN)`` on Aer at batch 32
(4 classes, 4 experts, 2 routing qubits + N-2 data qubits, RX+RY, 2 layers). Both engines use the
same exact Aer estimator; only the gradient differs:

- ``qml-default``: ``ParamShiftEstimatorGradient`` (one PUB per shifted parameter set);
- ``qmoe-batched``: :class:`qmoe_qiskit.engines.aer.BatchedParamShiftEstimatorGradient`.

Usage::

    python benchmarks/train_step.py --qubits 6 10 --repeats 3 --out results.json
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_threads, apply_threads, machine, qmoe_spec, write_json  # noqa: E402

from qmoe_qiskit import compile_model  # noqa: E402
from qmoe_qiskit.engines.aer import build_torch_network  # noqa: E402

ENGINES = {"qml-default": "param-shift", "qmoe-batched": "batched"}


def step_time(network, x, y, repeats: int) -> tuple[float, np.ndarray]:
    """Median seconds of a training step, and the first step's weight gradient."""
    optimizer = torch.optim.Adam(network.parameters(), lr=2e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    times, grad = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        optimizer.zero_grad()
        loss = loss_fn(5.0 * network(x), y)
        loss.backward()
        if grad is None:
            grad = network.weight.grad.detach().double().numpy().copy()
        optimizer.step()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), grad


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qubits", type=int, nargs="+", default=[6])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--out", required=True)
    add_threads(parser)
    args = parser.parse_args(argv)
    apply_threads(args)
    records, comparisons = [], []
    rng = np.random.default_rng(0)
    for qubits in args.qubits:
        model = compile_model(qmoe_spec(qubits))
        x = torch.as_tensor(rng.uniform(0, np.pi, (args.batch, model.num_inputs)))
        y = torch.as_tensor(rng.integers(0, 4, args.batch))
        weights = model.initial_weights(0)
        grads, seconds = {}, {}
        for engine, gradient in ENGINES.items():
            network = build_torch_network(model, weights, device="cpu", gradient=gradient)
            seconds[engine], grads[engine] = step_time(network, x, y, args.repeats)
            records.append(
                {
                    "engine": engine,
                    "qubits": qubits,
                    "weights": model.num_weights,
                    "batch": args.batch,
                    "seconds": seconds[engine],
                    "repeats": args.repeats,
                }
            )
            print(f"{qubits:3d} qubits  {engine:13s} {seconds[engine]:9.3f} s/step", flush=True)
        diff = float(np.max(np.abs(grads["qml-default"] - grads["qmoe-batched"])))
        speedup = seconds["qml-default"] / seconds["qmoe-batched"]
        comparisons.append({"qubits": qubits, "speedup": speedup, "max_gradient_difference": diff})
        print(f"{qubits:3d} qubits  speed-up {speedup:.1f}x, max |grad diff| {diff:.2e}")
    write_json(
        args.out,
        {
            "benchmark": "train_step",
            "step": "forward + backward of TorchConnector(EstimatorQNN) on Aer, exact",
            "machine": machine(),
            "records": records,
            "comparisons": comparisons,
            "max_gradient_difference": max(c["max_gradient_difference"] for c in comparisons),
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
