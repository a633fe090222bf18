"""The engine benchmark circuit in TorchQuantum (torchquantum-ng): correctness check and step time.

Runs in the PEERS venv (~/.cache/qmoe-peers/venv, see build_venv.sh), on a circuit file
written by circuit_export.py (project venv)::

    python tq_step.py --circuit OUT/circuit-10.json --check
    python tq_step.py --circuit OUT/circuit-10.json --batch 256 --threads 2

The circuit is built with TorchQuantum's ordinary idioms: a ``tq.QuantumModule`` whose
``forward`` makes a ``tq.QuantumDevice(n_wires, bsz=B)``, applies every gate of the exported
program with ``torchquantum.functional`` (``tqf.rx/ry/rz(qdev, wires=q, params=angle)``,
``tqf.h``, ``tqf.x``, ``tqf.cnot``, ``tqf.cz``; TorchQuantum's default ``comp_method="bmm"``) and
reads ``tq.measurement.expval(qdev, wires, [tq.PauliZ()] * k)``. Angles are the exported affine
maps of the inputs (batched, ``(B,)`` params per gate) and of the trainable weights (one
``nn.Parameter``; weight-only angles are passed unbatched and broadcast by TorchQuantum).
Qiskit qubit ``q`` is TorchQuantum wire ``q`` (TorchQuantum orders the state big-endian, but
per-qubit expectations do not depend on that). TorchQuantum simulates in complex64 only
(``torchquantum.macro.C_DTYPE``).

Timed by ``timing.time_steps``, the function ``benchmarks/engines.py`` uses too: Adam(lr=0.01)
over the module's parameters; one step = zero_grad, forward,
``cross_entropy(5 * out.double(), y)``, backward, Adam step; 2 untimed warm-up steps, median
wall and CPU seconds of ``--repeats`` steps, cut short after ``--budget`` seconds. Prints one
JSON line.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import json
import sys
from pathlib import Path

sys.dont_write_bytecode = True
HERE = Path(__file__).resolve().parent
# FAKE torchvision (import-time only: torchquantum.dataset imports it); see tv_stub/.
sys.path.insert(0, str(HERE / "tv_stub"))
sys.path.insert(0, str(HERE))  # timing.py, shared with benchmarks/engines.py

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torchquantum as tq  # noqa: E402
import torchquantum.functional as tqf  # noqa: E402
import torchvision  # noqa: E402
from timing import time_steps  # noqa: E402  (benchmarks/peers/timing.py, shared)
from torch import nn  # noqa: E402

assert getattr(torchvision, "STUB", False), "expected the torchvision stub"

ROTATIONS = {"rx": tqf.rx, "ry": tqf.ry, "rz": tqf.rz}
FIXED = {"h": tqf.hadamard, "x": tqf.paulix, "cx": tqf.cnot, "cz": tqf.cz}


class TQNetwork(tq.QuantumModule):
    """The exported gate program as a TorchQuantum module: inputs (B, features) -> (B, classes)."""

    def __init__(self, circuit: dict, comp_method: str = "bmm"):
        super().__init__()
        self.n_wires = circuit["num_qubits"]
        self.comp_method = comp_method
        rows, n_in, n_w = len(circuit["angles"]), circuit["num_inputs"], circuit["num_weights"]
        in_map, w_map, offset = np.zeros((rows, n_in)), np.zeros((rows, n_w)), np.zeros(rows)
        for a, row in enumerate(circuit["angles"]):
            for i, c in row["inputs"]:
                in_map[a, i] = c
            for j, c in row["weights"]:
                w_map[a, j] = c
            offset[a] = row["offset"]
        products = np.array(circuit.get("products", []), dtype=float).reshape(-1, 4)
        depends = np.any(in_map != 0, axis=1)
        depends[products[:, 0].astype(int)] = True
        batched, shared = np.flatnonzero(depends), np.flatnonzero(~depends)
        f32 = torch.float32  # TorchQuantum's F_DTYPE
        self.weight = nn.Parameter(torch.tensor(circuit["weights"], dtype=f32))
        self.register_buffer("_in_map", torch.tensor(in_map[batched], dtype=f32))
        self.register_buffer("_in_wmap", torch.tensor(w_map[batched], dtype=f32))
        self.register_buffer("_in_off", torch.tensor(offset[batched], dtype=f32))
        self.register_buffer("_sh_wmap", torch.tensor(w_map[shared], dtype=f32))
        self.register_buffer("_sh_off", torch.tensor(offset[shared], dtype=f32))
        # Input x weight products (trainable re-uploading), by column of the batched angles.
        column = {int(a): i for i, a in enumerate(batched)}
        self.register_buffer(
            "_pr_col", torch.tensor([column[int(a)] for a in products[:, 0]], dtype=torch.long)
        )
        self.register_buffer("_pr_in", torch.tensor(products[:, 1].astype(int)))
        self.register_buffer("_pr_w", torch.tensor(products[:, 2].astype(int)))
        self.register_buffer("_pr_c", torch.tensor(products[:, 3], dtype=f32))
        slot = {int(a): (True, i) for i, a in enumerate(batched)}
        slot.update({int(a): (False, i) for i, a in enumerate(shared)})
        self.ops = []  # (function, wires, None | (is_batched, column))
        for g in circuit["gates"]:
            wires = g["qubits"][0] if len(g["qubits"]) == 1 else list(g["qubits"])
            if g["angle"] >= 0:
                self.ops.append((ROTATIONS[g["name"]], wires, slot[g["angle"]]))
            else:
                self.ops.append((FIXED[g["name"]], wires, None))
        # Observables: sums of single-qubit Z terms -> one expval call + a coefficient matrix;
        # anything else -> expval_joint_analytical per term.
        terms = [t for obs in circuit["observables"] for t in obs]
        self.single_z = all(len(t["paulis"]) == 1 and "Z" in t["paulis"].values() for t in terms)
        if self.single_z:
            self.obs_wires = sorted({int(q) for t in terms for q in t["paulis"]})
            coeff = np.zeros((len(self.obs_wires), len(circuit["observables"])))
            for k, obs in enumerate(circuit["observables"]):
                for t in obs:
                    (q,) = t["paulis"]
                    coeff[self.obs_wires.index(int(q)), k] += t["coeff"]
            self.register_buffer("_obs_coeff", torch.tensor(coeff, dtype=f32))
        else:
            self.obs_terms = [
                [
                    (
                        t["coeff"],
                        "".join(t["paulis"].get(str(w), "I") for w in range(self.n_wires)),
                    )
                    for t in obs
                ]
                for obs in circuit["observables"]
            ]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bsz = x.shape[0]
        qdev = tq.QuantumDevice(n_wires=self.n_wires, bsz=bsz, device=x.device)
        x = x.to(torch.float32)
        batched = x @ self._in_map.T + (self._in_wmap @ self.weight + self._in_off)  # (B, a)
        if len(self._pr_c):
            terms = x[:, self._pr_in] * (self._pr_c * self.weight[self._pr_w])
            batched = batched.index_add(1, self._pr_col, terms)
        shared = self._sh_wmap @ self.weight + self._sh_off  # (a',)
        for fn, wires, angle in self.ops:
            if angle is None:
                fn(qdev, wires=wires, comp_method=self.comp_method)
            else:
                is_batched, column = angle
                params = batched[:, column] if is_batched else shared[column]
                fn(qdev, wires=wires, params=params, comp_method=self.comp_method)
        if self.single_z:
            z = tq.measurement.expval(qdev, self.obs_wires, [tq.PauliZ()] * len(self.obs_wires))
            return z @ self._obs_coeff
        columns = []
        for terms in self.obs_terms:
            columns.append(
                sum(c * tq.measurement.expval_joint_analytical(qdev, s) for c, s in terms)
            )
        return torch.stack(columns, dim=-1)


def check(circuit: dict, comp_method: str, atol: float) -> dict:
    """Outputs and weight gradient vs the project's engine (complex64 and complex128)."""
    net = TQNetwork(circuit, comp_method)
    refs = circuit["reference"]
    any_ref = next(iter(refs.values()))
    case = circuit["cases"][str(any_ref["batch"])]
    x = torch.tensor(case["x"], dtype=torch.float64)[: any_ref["rows"]]
    y = torch.tensor(case["y"])[: any_ref["rows"]]
    out = net(x)
    loss = nn.functional.cross_entropy(circuit["logit_scale"] * out.to(torch.float64), y)
    loss.backward()
    got_out = out.detach().double().numpy()
    got_grad = net.weight.grad.double().numpy()
    record = {
        "check": "torchquantum vs project engine",
        "num_qubits": circuit["num_qubits"],
        "rows": int(x.shape[0]),
        "gates": len(circuit["gates"]),
        "atol": atol,
        "ok": True,
    }
    for dtype, ref in refs.items():
        d_out = float(np.abs(got_out - np.array(ref["outputs"])).max())
        d_grad = float(np.abs(got_grad - np.array(ref["grad_weight"])).max())
        d_loss = abs(float(loss.detach()) - ref["loss"])
        record[dtype] = {
            "max_abs_diff_outputs": d_out,
            "max_abs_diff_grad_weight": d_grad,
            "abs_diff_loss": d_loss,
            "max_abs_grad_ref": float(np.abs(ref["grad_weight"]).max()),
        }
        record["ok"] &= d_out <= atol and d_grad <= atol and d_loss <= atol
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--circuit", type=Path, required=True, help="circuit-N.json")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: torch default)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--budget", type=float, default=60.0, help="seconds per measurement")
    parser.add_argument("--comp-method", choices=["bmm", "einsum"], default="bmm")
    parser.add_argument("--check", action="store_true", help="correctness check only")
    parser.add_argument("--atol", type=float, default=1e-4)
    parser.add_argument(
        "--retain-freed-memory",
        action="store_true",
        help="glibc keeps freed memory for reuse (what the project's engine does by default)",
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.retain_freed_memory:  # as qmoe_qiskit.engines.statevector.retain_freed_memory
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        libc.mallopt(-4, 0)  # M_MMAP_MAX: large allocations from the heap
        libc.mallopt(-1, 2**31 - 1)  # M_TRIM_THRESHOLD: never return freed memory
    circuit = json.loads(args.circuit.read_text())
    if args.check:
        record = check(circuit, args.comp_method, args.atol)
        print(json.dumps(record), flush=True)
        sys.exit(0 if record["ok"] else 1)
    case = circuit["cases"].get(str(args.batch))
    if case is None:
        sys.exit(f"batch {args.batch} not exported in {args.circuit}; rerun circuit_export.py")
    x = torch.tensor(case["x"], dtype=torch.float64)
    y = torch.tensor(case["y"])
    net = TQNetwork(circuit, args.comp_method)
    with torch.no_grad():
        outputs = net(x[:4]).to(torch.float64).numpy()
    wall, cpu, count = time_steps(net, x, y, args.repeats, args.budget, circuit["logit_scale"])
    print(
        json.dumps(
            {
                "engine": "torchquantum",
                "num_qubits": circuit["num_qubits"],
                "batch": args.batch,
                "seconds": wall,
                "cpu_seconds": cpu,
                "repeats": count,
                "torch_threads": torch.get_num_threads(),
                "outputs": outputs.tolist(),
                "torchquantum": tq.__version__,
                "torch": torch.__version__,
                "comp_method": args.comp_method,
                "allocator": "retain" if args.retain_freed_memory else "glibc default",
                "torchvision": torchvision.__version__,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
