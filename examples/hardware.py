"""Hardware without an account: transpile with a resource report, price a submission, submit in
local testing mode on a fake backend with a job ledger, export OpenQASM 3.

Untrained weights keep it short (a trained run's ``run.weights`` go in their place). Files (the
ledger, the QASM) are written under ``--out`` (default: a new temporary directory)::

    python examples/hardware.py --backend fake_nairobi --samples 8
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import torch

import qmoe_qiskit as qm
from qmoe_qiskit.hardware.report import resource_report


def main(
    out: Path | None = None, backend_name: str = "fake_nairobi", samples: int = 8
) -> dict[str, Any]:
    """Transpile, price, submit locally and export; return what each step produced."""
    out = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="qmoe-hardware-"))
    model = qm.compile_model(qm.load_spec("qmoe-digits4-pca8"))
    weights = model.initial_weights(seed=0)
    data = qm.load_reduced_dataset("digits", (0, 1, 2, 3), pca=8)
    backend = qm.get_fake_backend(backend_name)
    isa = qm.transpile_model(model, backend)
    report = resource_report(isa, backend, circuits=samples, shots=1000).to_dict()
    gates = report["two_qubit_gates"]
    print(f"{report['backend']}: depth {report['depth']}, {gates} two-qubit gates")
    ledger = qm.Ledger(out / "jobs.sqlite")
    x, y = data.x_test[:samples], data.y_test[:samples]
    common: dict[str, Any] = {"x": x, "weights": weights, "ledger": ledger, "labels": y}
    price = qm.submit(backend, isa, model, **common, shots=1000, chunk=4, dry_run=True)
    print(f"estimated QPU time: {price.qpu_seconds:.2f} s for {len(price.prices)} jobs")
    result = qm.submit(backend, isa, model, **common, shots=1000, chunk=4)
    print(f"local accuracy of the untrained weights: {result.accuracy:.3f}")
    qm.export_model(model, out / "d4.qasm", "qasm3", weights=weights)
    return {
        "report": report,
        "price": price,
        "result": result,
        "ledger_rows": ledger.rows(),
        "qasm": out / "d4.qasm",
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, help="directory for the ledger and QASM file")
    parser.add_argument("--backend", default="fake_nairobi")
    parser.add_argument("--samples", type=int, default=8)
    args = parser.parse_args()
    torch.set_num_threads(1)
    main(args.out, args.backend, args.samples)
