"""How much can a QMoE's routing depend on the class? The Holevo bound of its routing register.

For the four tasks of the QMoE paper, on 1,000 held-out test images each (class-balanced), the
Holevo information ``chi`` of the class-mean states of the routing register right after the
encoder: no routing ansatz on that register, however trained, can reach an ``I(class; expert)``
above it (``qmoe_qiskit.training.routing.routing_information_bound``). Compared: the paper's
encoder (CNOT chains across both registers, angles in ``[0, pi]``) and registers encoded apart
at several angle scales (this project's default is 0.35).

    python benchmarks/routing_bound.py --data-dir ../shared/data \\
        --out benchmarks/results/routing-bound.json
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_threads, apply_threads, machine, write_json  # noqa: E402

from qmoe_qiskit import compile_model, load_dataset, load_spec  # noqa: E402
from qmoe_qiskit.training.routing import routing_information_bound  # noqa: E402

TASKS = {
    "mnist4": ("mnist", (0, 1, 2, 3)),
    "mnist2": ("mnist", (3, 6)),
    "fashion4": ("fashion-mnist", (0, 1, 2, 3)),
    "fashion2": ("fashion-mnist", (3, 6)),
}
ENCODERS = [("all", 1.0)] + [("within", s) for s in (0.1, 0.25, 0.35, 0.5, 1.0)] + [("none", 0.35)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--test-limit", type=int, default=1000)
    parser.add_argument("--out", required=True)
    add_threads(parser)
    args = parser.parse_args()
    apply_threads(args)
    rows = []
    for task, (name, classes) in TASKS.items():
        data = load_dataset(name, classes, args.data_dir, train_limit=1, test_limit=args.test_limit)
        base = load_spec(f"qmoe-{task}-rxry")
        for entangle, scale in ENCODERS:
            spec = dataclasses.replace(  # the paper's router design: a fixed encoding
                base,
                encoder=dataclasses.replace(base.encoder, entangle=entangle, scale=scale),
                routing=dataclasses.replace(base.routing, reupload=False, couplings=0, qubits=0),
            )
            started = time.perf_counter()
            chi = routing_information_bound(
                compile_model(spec), data.x_test, data.y_test, len(classes)
            ).holevo
            rows.append(
                {
                    "task": task,
                    "entangle": entangle,
                    "scale": scale,
                    "holevo_bound_bits": chi,
                    "test_images": len(data.y_test),
                    "seconds": time.perf_counter() - started,
                }
            )
            print(f"{task:9s} entangle={entangle:6s} scale={scale:<5} chi = {chi:.3f} bits")
    write_json(
        args.out,
        {
            "what": "Holevo bound on I(class; expert) of the 2-qubit routing register after the "
            "encoder (4 experts, binary routing), test split",
            "command": "python benchmarks/routing_bound.py --data-dir ../shared/data "
            f"--test-limit {args.test_limit} --out {args.out}",
            "machine": machine(),
            "rows": rows,
        },
    )


if __name__ == "__main__":
    main()
