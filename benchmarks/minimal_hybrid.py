"""A minimal hybrid spec (no ``[training]`` table) trained with its family's defaults.

Two Moons, quantum router with 24 weights (12 RY+CZ layers on 2 qubits) over 4 linear experts.
Compares the hybrid family's validated defaults (lr 0.01, logit scale 1, early stopping on a 20 %
validation split, up to 100 epochs) with the generic defaults a hybrid spec used to get (lr
0.002, logit scale 5, 60 epochs, no validation split), on held-out test data, 5 seeds.

    python benchmarks/minimal_hybrid.py --out benchmarks/results/minimal-hybrid.json
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_threads, apply_threads, machine, write_json  # noqa: E402

from qmoe_qiskit import train  # noqa: E402
from qmoe_qiskit.spec import spec_from_dict  # noqa: E402
from qmoe_qiskit.training import RunConfig  # noqa: E402

MINIMAL = {
    "name": "minimal-hybrid-moons",
    "kind": "hybrid",
    "classes": 2,
    "encoder": {"features": 2},
    "routing": {"kind": "quantum", "layers": 12},
    "experts": {"kind": "linear", "count": 4},
    "data": {"name": "moons"},
}
GENERIC = {"epochs": 60, "lr": 2e-3, "logit_scale": 5.0, "val_fraction": 0.0, "patience": 0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="JSON file to write")
    parser.add_argument("--seeds", type=int, default=5)
    add_threads(parser)
    args = parser.parse_args()
    apply_threads(args)
    spec = spec_from_dict(MINIMAL)
    rows = []
    for setting in ("family defaults", "generic defaults"):
        for seed in range(args.seeds):
            overrides = {} if setting == "family defaults" else GENERIC
            config = RunConfig.from_spec(spec, seed=seed, engine="torch", **overrides)
            started = time.perf_counter()
            with tempfile.TemporaryDirectory() as tmp:
                metrics = train(spec, Path(tmp) / "run", config, progress=False, log=lambda _: None)
            rows.append(
                {
                    "setting": setting,
                    "seed": seed,
                    "lr": config.lr,
                    "logit_scale": config.logit_scale,
                    "val_fraction": config.val_fraction,
                    "epochs_run": len(metrics["epochs"]),
                    "best_epoch": metrics["best_epoch"],
                    "test_accuracy": metrics["test_accuracy"],
                    "seconds": time.perf_counter() - started,
                }
            )
            print(setting, seed, f"{metrics['test_accuracy']:.4f}", flush=True)
    summary = {}
    for setting in ("family defaults", "generic defaults"):
        acc = [r["test_accuracy"] for r in rows if r["setting"] == setting]
        summary[setting] = {"mean": float(np.mean(acc)), "std": float(np.std(acc))}
        print(f"{setting}: {100 * np.mean(acc):.1f} +- {100 * np.std(acc):.1f} %")
    write_json(
        args.out,
        {
            "command": "python benchmarks/minimal_hybrid.py --out " + args.out,
            "spec": MINIMAL,
            "generic_overrides": GENERIC,
            "summary": summary,
            "runs": rows,
            "machine": machine(),
        },
    )


if __name__ == "__main__":
    main()
