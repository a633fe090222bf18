"""One epoch of MNIST-4 training with the torch statevector engine, timed.

Timed: every training step of one pass over the training set (forward, cross-entropy on
``logit_scale * outputs``, backward, Adam step) plus the per-epoch shuffling and batching.
Not timed: loading the data, compiling the model, and the test-set evaluation after the epoch.

Usage::

    python benchmarks/mnist_epoch.py --out benchmarks/results/mnist-epoch-cpu.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

from qmoe_qiskit import compile_model, load_spec
from qmoe_qiskit.data import load_dataset
from qmoe_qiskit.engines.statevector import TorchStatevectorNetwork

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_threads, apply_threads, machine  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DTYPES = {"complex128": torch.complex128, "complex64": torch.complex64}


def machine_info() -> dict:
    """Where the benchmark ran: the shared fields plus torch threads and load."""
    return machine() | {
        "torch_threads": torch.get_num_threads(),
        "load_average_1m": os.getloadavg()[0],
    }


def run(args: argparse.Namespace) -> dict:
    """Train one epoch and return the measurements."""
    spec = load_spec(args.spec)
    data = load_dataset("mnist", classes=tuple(spec.data.classes), data_dir=args.data_dir)
    model = compile_model(spec)
    seed = spec.training.seed
    net = TorchStatevectorNetwork(
        model, model.initial_weights(seed), device=args.device, dtype=DTYPES[args.dtype]
    )
    optimizer = torch.optim.Adam(net.parameters(), lr=spec.training.lr)
    x_train = torch.as_tensor(data.x_train, dtype=torch.float64)
    y_train = torch.as_tensor(data.y_train, dtype=torch.long)
    batch = args.batch_size or spec.training.batch_size
    scale = spec.training.logit_scale
    generator = torch.Generator().manual_seed(seed)
    load_start = os.getloadavg()[0]
    cpu_start, start = time.process_time(), time.perf_counter()
    order = torch.randperm(len(x_train), generator=generator)
    losses = []
    for first in range(0, len(order), batch):
        index = order[first : first + batch]
        optimizer.zero_grad()
        logits = scale * net(x_train[index]).to(torch.float64)
        loss = torch.nn.functional.cross_entropy(logits, y_train[index])
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu_start
    with torch.no_grad():
        x_test = torch.as_tensor(data.x_test, dtype=torch.float64)
        predictions = torch.cat(
            [net(x_test[i : i + 1024]).argmax(1) for i in range(0, len(x_test), 1024)]
        )
    accuracy = float((predictions.numpy() == data.y_test).mean())
    steps = len(losses)
    return {
        "benchmark": "mnist-epoch",
        "spec": spec.name,
        "engine": "torch",
        "dtype": args.dtype,
        "device": str(net.device),
        "num_qubits": model.num_qubits,
        "num_weights": model.num_weights,
        "images": len(x_train),
        "batch_size": batch,
        "steps": steps,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "seconds_per_step": seconds / steps,
        "images_per_second": len(x_train) / seconds,
        "under_2_minutes": seconds < 120,
        "first_loss": float(np.mean(losses[:20])),
        "last_loss": float(np.mean(losses[-20:])),
        "test_images": len(data.y_test),
        "test_accuracy_after_1_epoch": accuracy,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "timed": "shuffle + every training step (forward, cross-entropy, backward, Adam)",
        "machine": machine_info() | {"load_average_1m_at_start": load_start},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default="qmoe-mnist4-rxry")
    parser.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data" / "mnist"))
    parser.add_argument("--batch-size", type=int, default=0, help="default: the spec's")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="complex128")
    parser.add_argument("--device", default="cpu")
    add_threads(parser)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    apply_threads(args)
    result = run(args)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
