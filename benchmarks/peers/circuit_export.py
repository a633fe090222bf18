"""Export the project's engine benchmark circuit as plain JSON, plus reference outputs.

Runs in the PROJECT venv (qmoe_qiskit installed), e.g.::

    python circuit_export.py --project . \
        --qubits 6 10 14 --batches 32 256 --out-dir OUT

For each N it writes ``circuit-N.json`` holding exactly what ``benchmarks/engines.py`` feeds the
torch engine for that N (read-only import of the project's ``benchmarks/engines.py``):

* ``gates``: ``model.decomposed`` lowered by ``qmoe_qiskit.engines.statevector.lower_circuit``
  (the program ``TorchStatevectorNetwork`` runs): ``name`` in rx/ry/rz/h/x/cx/cz, ``qubits``
  (Qiskit indices, ``(control, target)`` for cx), ``angle`` = row of the affine maps (-1 for
  fixed gates);
* ``angles``: per row, the sparse affine map ``sum_i c_i x[i] + sum_j d_j w[j] + offset``;
* ``products``: rows ``[a, i, j, c]``, each adding ``c * x[i] * w[j]`` to angle ``a``;
* ``observables``: per class, Pauli terms ``{"coeff", "paulis": {qubit: "X"|"Y"|"Z"}}``;
* ``weights``: ``model.initial_weights(0)`` (what engines.py uses); ``param_names``;
* ``cases[B]``: ``x`` and ``y`` of ``engines.inputs_for(model, B)`` (same RNG recipe);
* ``reference``: the project engine's outputs on ``x[:check_batch]`` of the smallest batch and
  the gradient of the benchmark loss w.r.t. the weights, for complex128 and complex64.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.dont_write_bytecode = True  # never drop __pycache__ into the project checkout


def pauli_terms(op) -> list[dict]:
    """SparsePauliOp -> [{"coeff", "paulis": {qubit: letter}}] (Qiskit label: qubit 0 last)."""
    terms = []
    for label, coeff in op.to_list():
        if abs(complex(coeff).imag) > 1e-12:
            raise ValueError(f"complex coefficient {coeff} in {label}")
        paulis = {str(q): p for q, p in enumerate(reversed(label)) if p != "I"}
        terms.append({"coeff": float(complex(coeff).real), "paulis": paulis})
    return terms


def sparse_row(row) -> list[list]:
    import numpy as np

    nz = np.flatnonzero(row)
    return [[int(i), float(row[i])] for i in nz]


def export(n: int, batches: list[int], check_batch: int, out_dir: Path) -> Path:
    import numpy as np
    import torch
    from engines import (  # project's benchmarks/engines.py
        LOGIT_SCALE,
        inputs_for,
        model_for,
    )

    from qmoe_qiskit.engines.statevector import TorchStatevectorNetwork, lower_circuit

    model = model_for(n)
    program = lower_circuit(model.decomposed, model.input_params, model.weight_params)
    weights = np.asarray(model.initial_weights(0), dtype=np.float64)
    counts: dict[str, int] = {}
    for inst in model.decomposed.data:
        counts[inst.operation.name] = counts.get(inst.operation.name, 0) + 1
    data = {
        "num_qubits": n,
        "num_inputs": model.num_inputs,
        "num_weights": model.num_weights,
        "num_classes": len(model.observables),
        "logit_scale": LOGIT_SCALE,
        "decomposed_counts": counts,
        "gates": [
            {"name": g.name, "qubits": list(g.qubits), "angle": int(g.angle)} for g in program.gates
        ],
        "angles": [
            {
                "inputs": sparse_row(program.input_map[a]),
                "weights": sparse_row(program.weight_map[a]),
                "offset": float(program.offset[a]),
            }
            for a in range(program.num_angles)
        ],
        "products": [  # angle a += c * x[i] * w[j] (trainable re-uploading)
            [int(a), int(i), int(j), float(c)]
            for (a, i, j), c in zip(program.products, program.product_coeffs, strict=True)
        ],
        "observables": [pauli_terms(op) for op in model.observables],
        "weights": weights.tolist(),
        "param_names": {
            "inputs": [str(p) for p in model.input_params],
            "weights": [str(p) for p in model.weight_params],
        },
        "cases": {},
        "reference": {},
    }
    for b in sorted(set(batches)):
        x, y = inputs_for(model, b)
        data["cases"][str(b)] = {"x": x.numpy().tolist(), "y": y.numpy().tolist()}
    # Reference: the project's engine on the first check_batch samples of the smallest batch.
    x, y = inputs_for(model, min(batches))
    x, y = x[:check_batch], y[:check_batch]
    for dtype in (torch.complex128, torch.complex64):
        net = TorchStatevectorNetwork(model, weights, dtype=dtype)
        out = net(x)
        loss = torch.nn.functional.cross_entropy(LOGIT_SCALE * out.to(torch.float64), y)
        loss.backward()
        data["reference"][str(dtype).removeprefix("torch.")] = {
            "batch": min(batches),
            "rows": int(x.shape[0]),
            "outputs": out.detach().to(torch.float64).numpy().tolist(),
            "loss": float(loss.detach()),
            "grad_weight": net.weight.grad.numpy().tolist(),
            "blocks": len(net.plan.steps),
        }
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"circuit-{n}.json"
    path.write_text(json.dumps(data) + "\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, default=Path("."))
    parser.add_argument("--qubits", type=int, nargs="+", default=[6, 10, 14])
    parser.add_argument("--batches", type=int, nargs="+", default=[32, 256])
    parser.add_argument("--check-batch", type=int, default=8, help="rows in the reference check")
    parser.add_argument("--out-dir", type=Path, required=True)
    args = parser.parse_args()
    sys.path.insert(0, str(args.project / "benchmarks"))
    for n in args.qubits:
        t = time.perf_counter()
        path = export(n, args.batches, args.check_batch, args.out_dir)
        print(f"wrote {path} ({time.perf_counter() - t:.1f}s)", flush=True)


if __name__ == "__main__":
    main()
