"""Quickstart: a preset compiled to one Qiskit circuit, trained, evaluated, its routing read.

The README's tour in Python: ``qmoe-digits4-pca8`` (2 routing + 4 data qubits, 4 experts, 8 PCA
features of the digits 0-3) trained on the torch engine, evaluated from its run directory, and
its class x expert routing matrix with ``I(class; expert)``. Everything is written under
``--out`` (default: a new temporary directory)::

    python examples/quickstart.py --epochs 1 --train-limit 240 --test-limit 96
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import torch

import qmoe_qiskit as qm
from qmoe_qiskit.training import RunConfig
from qmoe_qiskit.training.routing import routing_probabilities, routing_stats


def main(
    out: Path | None = None, epochs: int = 1, train_limit: int = 240, test_limit: int = 96
) -> dict[str, Any]:
    """Train the preset into ``out / "d4"`` and return its accuracy and routing statistics."""
    out = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="qmoe-quickstart-"))
    spec = qm.load_spec("qmoe-digits4-pca8")
    model = qm.compile_model(spec)
    print(f"{spec.num_qubits} qubits, {spec.encoder.features} inputs, {model.num_weights} weights")
    config = RunConfig.from_spec(
        spec, engine="torch", epochs=epochs, train_limit=train_limit, test_limit=test_limit
    )
    metrics = qm.train(spec, out / "d4", config, progress=False, log=lambda _: None)
    run = qm.load_run(out / "d4")
    evaluated = qm.evaluate_run(out / "d4", engine="torch")
    data = run.config.load_data()
    probs = routing_probabilities(run.model, run.weights, data.x_test)
    stats = routing_stats(probs, data.y_test, spec.classes)
    print(f"test accuracy {metrics['test_accuracy']:.3f} after {epochs} epoch(s)")
    print(f"I(class; expert) = {stats.mutual_information:.3f} bits")
    return {
        "test_accuracy": metrics["test_accuracy"],
        "evaluated": evaluated,
        "routing_matrix": stats.matrix,
        "mutual_information": stats.mutual_information,
        "run": out / "d4",
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, help="directory for the run (default: a temp dir)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--train-limit", type=int, default=240)
    parser.add_argument("--test-limit", type=int, default=96)
    args = parser.parse_args()
    torch.set_num_threads(1)
    main(args.out, args.epochs, args.train_limit, args.test_limit)
