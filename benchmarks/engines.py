"""Training-step time of every engine on the identical QMoE circuit, in one run.

Model at ``N`` qubits: 2 routing qubits (binary, 4 experts) + ``N - 2`` data qubits, rx+ry
experts, 2 layers, 4 classes, 64 encoder features (``qmoe-mnist4-rxry`` resized). Every engine
runs ``model.decomposed`` with the same inputs and weights; its outputs are checked against the
torch engine (``max_abs_diff``).

Each engine and case runs in a fresh process (no thread settings or heap carried over).
Timed (wall clock, median of ``--repeats`` after two untimed warm-up steps): one training
step = forward, cross-entropy on ``5 * outputs``, backward, Adam step. Engines:

* ``qml-default``: ``TorchConnector(EstimatorQNN)`` on Aer with qiskit-machine-learning's default
  ``ParamShiftEstimatorGradient`` (6 and 10 qubits only);
* ``aer-batched``: our Aer path (:func:`qmoe_qiskit.engines.aer.build_torch_network`);
* ``torch-c128`` / ``torch-c64``: :class:`qmoe_qiskit.engines.statevector.TorchStatevectorNetwork`;
* ``pennylane-default``: ``default.qubit``, torch interface, backprop, broadcasting;
* ``pennylane-lightning``: ``lightning.qubit``, adjoint differentiation;
* ``torchquantum``: measured when it imports, otherwise the reason is recorded.

Every torch-engine record also gets the memory-traffic bound of its step
(:func:`state_traffic` bytes over the machine's measured copy bandwidth at the same size,
``times_bound``) and the time its block products alone take as plain matrix products
(:func:`product_seconds`, ``times_block_products``).

Usage::

    python benchmarks/engines.py --out benchmarks/results/engines-cpu.json --plot engines.png
    python benchmarks/engines.py --engines torch-c128 torch-c64 --threads 2 --out bound.json
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from qmoe_qiskit import compile_model, load_spec
from qmoe_qiskit.engines.statevector import ExecutionPlan, TorchStatevectorNetwork, lower_circuit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_threads, apply_threads  # noqa: E402
from peers.timing import time_steps  # noqa: E402  (the timer TorchQuantum's side uses too)

LOGIT_SCALE = 5.0


def model_for(num_qubits: int):
    """The benchmark model on ``num_qubits`` qubits."""
    base = load_spec("qmoe-mnist4-rxry")
    experts = dataclasses.replace(base.experts, data_qubits=num_qubits - 2)
    readout = dataclasses.replace(base.readout, head="none")  # the circuit alone: no classical head
    spec = dataclasses.replace(base, name=f"bench-{num_qubits}q", experts=experts, readout=readout)
    return compile_model(spec)


class PennyLaneNetwork(nn.Module):
    """The decomposed circuit as a PennyLane gate list with the engine's affine angle maps."""

    def __init__(self, model, weights: np.ndarray, device_name: str, diff_method: str):
        super().__init__()
        import pennylane as qml

        self.program = lower_circuit(model.decomposed, model.input_params, model.weight_params)
        self.weight = nn.Parameter(torch.tensor(weights, dtype=torch.float64))
        self.input_map = torch.as_tensor(self.program.input_map)
        self.weight_map = torch.as_tensor(self.program.weight_map)
        self.offset = torch.as_tensor(self.program.offset)
        observables = []
        for op in model.observables:
            terms = []
            for label, coeff in op.to_list():
                factors = [
                    {"X": qml.PauliX, "Y": qml.PauliY, "Z": qml.PauliZ}[p](q)
                    for q, p in enumerate(reversed(label))
                    if p != "I"
                ]
                term = qml.prod(*factors) if len(factors) > 1 else factors[0]
                terms.append((float(coeff.real), term))
            observables.append(qml.dot([c for c, _ in terms], [t for _, t in terms]))
        gates = self.program.gates
        rotation = {"rx": qml.RX, "ry": qml.RY, "rz": qml.RZ}
        fixed = {"h": qml.Hadamard, "x": qml.PauliX, "cx": qml.CNOT, "cz": qml.CZ}
        device = qml.device(device_name, wires=model.num_qubits)

        @qml.qnode(device, interface="torch", diff_method=diff_method)
        def circuit(angles):
            for gate in gates:
                wires = list(gate.qubits)
                if gate.angle >= 0:
                    rotation[gate.name](angles[..., gate.angle], wires=wires)
                else:
                    fixed[gate.name](wires=wires)
            return [qml.expval(o) for o in observables]

        self.circuit = circuit

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        angles = x @ self.input_map.T + (self.weight_map @ self.weight + self.offset)
        return torch.stack(list(self.circuit(angles)), dim=-1)


def build(engine: str, model, weights: np.ndarray) -> nn.Module:
    """The engine's torch module for ``model``."""
    if engine == "qml-default":
        from qiskit_machine_learning.connectors import TorchConnector

        from qmoe_qiskit.engines.aer import build_qnn

        qnn = build_qnn(model, device="cpu", gradient="param-shift")
        return TorchConnector(qnn, initial_weights=torch.tensor(weights))
    if engine == "aer-batched":
        from qmoe_qiskit.engines.aer import build_torch_network

        return build_torch_network(model, weights, device="cpu")
    if engine == "torch-c128":
        return TorchStatevectorNetwork(model, weights, dtype=torch.complex128)
    if engine == "torch-c64":
        return TorchStatevectorNetwork(model, weights, dtype=torch.complex64)
    if engine == "pennylane-default":
        return PennyLaneNetwork(model, weights, "default.qubit", "backprop")
    if engine == "pennylane-lightning":
        return PennyLaneNetwork(model, weights, "lightning.qubit", "adjoint")
    if engine == "torchquantum":
        try:
            import torchquantum  # noqa: F401
        except ImportError as exc:
            raise RuntimeError(
                f"{exc}: not installable beside this project (pip --dry-run, 2026-11: "
                "torchquantum 0.1.8 downgrades qiskit to 0.46 and pulls tensorflow; "
                "torchquantum-ng 0.2.0 replaces torch 2.13 by torch 2.15 + torchvision + CUDA)"
            ) from exc
        raise RuntimeError("torchquantum imported but qiskit2tq is not wired in this benchmark")
    raise ValueError(f"unknown engine {engine!r}")


def measure_memory(num_qubits: int, batch: int, dtype: str) -> dict:
    """Peak RSS of one training step in a fresh process."""
    code = (
        "import resource, sys, torch, time; sys.path.insert(0, 'benchmarks');"
        f"torch.set_num_threads({torch.get_num_threads()});"
        "from engines import model_for, LOGIT_SCALE;"
        "from qmoe_qiskit.engines.statevector import TorchStatevectorNetwork;"
        f"m = model_for({num_qubits});"
        f"net = TorchStatevectorNetwork(m, dtype=torch.{dtype});"
        "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss;"
        f"x = torch.rand({batch}, 64, dtype=torch.float64);"
        f"y = torch.zeros({batch}, dtype=torch.long);"
        "t = time.perf_counter();"
        "out = LOGIT_SCALE * net(x).double();"
        "torch.nn.functional.cross_entropy(out, y).backward();"
        "t = time.perf_counter() - t;"
        "print(base, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, t, len(net.plan.steps))"
    )
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=900
    )
    record = {"num_qubits": num_qubits, "batch": batch, "dtype": dtype}
    if done.returncode != 0:
        return record | {"error": done.stderr.strip().splitlines()[-1:]}
    base, peak, seconds, blocks = done.stdout.split()
    state_mib = batch * 2**num_qubits * (16 if dtype == "complex128" else 8) / 2**20
    return record | {
        "peak_rss_mib": int(peak) / 1024,
        "rss_before_step_mib": int(base) / 1024,
        "state_mib": state_mib,
        "blocks": int(blocks),
        "step_seconds": float(seconds),
    }


def inputs_for(model, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The inputs and labels of one case (the same in every process)."""
    rng = np.random.default_rng([model.num_qubits, batch])
    x = torch.as_tensor(rng.uniform(0, np.pi, (batch, model.num_inputs)))
    return x, torch.as_tensor(rng.integers(0, 4, batch))


def measure_case(num_qubits: int, batch: int, engine: str, repeats: int, budget: float) -> dict:
    """Time one engine on one case in this process; outputs on 4 samples for the cross-check."""
    model = model_for(num_qubits)
    x, y = inputs_for(model, batch)
    net = build(engine, model, model.initial_weights(0))
    with torch.no_grad():
        check = net(x[:4]).to(torch.float64).numpy()
    wall, cpu, count = time_steps(net, x, y, repeats, budget, LOGIT_SCALE)
    return {
        "engine": engine,
        "num_qubits": num_qubits,
        "batch": batch,
        "seconds": wall,
        "cpu_seconds": cpu,
        "repeats": count,
        "torch_threads": torch.get_num_threads(),
        "outputs": check.tolist(),
    }


@functools.cache
def engine_plan(num_qubits: int) -> ExecutionPlan:
    """The execution plan the torch engine uses for the benchmark model (dtype-independent)."""
    return TorchStatevectorNetwork(model_for(num_qubits)).plan


def state_traffic(plan: ExecutionPlan, batch: int, dtype: torch.dtype) -> dict:
    """Bytes of state the torch engine's block products read and write in one training step.

    Per block applied to a register state of ``S`` bytes: the forward product reads and writes
    it (``2 S``); the backward reads the output gradient and writes the input gradient
    (``2 S``) and, for the block's matrix gradient, reads the saved input state and the output
    gradient (``2 S``): ``6 S`` in all. A block that starts a register from ``|0>`` makes no
    product. Layout copies, tensor products of registers and the observables are not counted:
    this is what a step cannot do without.
    """
    itemsize = torch.empty((), dtype=dtype).element_size()
    sizes = [batch * 2 ** len(step.order) * itemsize for step in plan.steps if not step.starts]
    return {"bytes": 6 * sum(sizes), "largest_state_bytes": max(sizes, default=0)}


def median_seconds(run: Callable[[], object], repeats: int) -> float:
    """Median wall seconds of ``run()`` over ``repeats`` calls, after one untimed call."""
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def copy_bandwidth(nbytes: int, repeats: int = 7) -> float:
    """Bytes per second a torch copy of ``nbytes`` moves (read plus written), median."""
    count = max(nbytes // 8, 1)
    source, target = torch.rand(count, dtype=torch.float64), torch.empty(count, dtype=torch.float64)
    return 2 * count * 8 / median_seconds(lambda: target.copy_(source), repeats)


def product_seconds(plan: ExecutionPlan, batch: int, dtype: torch.dtype, repeats: int = 5) -> float:
    """Seconds the block products alone take at this machine's matrix-product speed.

    Each block applied to a register is timed as one plain ``(rows, 2**k) @ (2**k, 2**k)``
    product of the same size and dtype (median of ``repeats``); a training step makes three per
    block (forward, input gradient, matrix gradient). The engine's time divided by this says
    how much goes to everything else: layout copies, matrix builds, autograd bookkeeping.
    """
    cache: dict[tuple[int, int], float] = {}
    total = 0.0
    for step in plan.steps:
        if step.starts:
            continue
        m, k = len(step.order), len(step.local)
        key = (batch * 2 ** (m - k), 2**k)
        if key not in cache:
            a, b = torch.randn(*key, dtype=dtype), torch.randn(key[1], key[1], dtype=dtype)
            cache[key] = median_seconds(lambda a=a, b=b: a @ b, repeats)
        total += 3 * cache[key]
    return total


def add_bounds(results: list[dict]) -> None:
    """Add the memory-traffic bound to every torch-engine record (see :func:`state_traffic`)."""
    bandwidth: dict[int, float] = {}
    for r in results:
        if r.get("engine") not in ("torch-c128", "torch-c64") or "seconds" not in r:
            continue
        dtype = torch.complex128 if r["engine"] == "torch-c128" else torch.complex64
        plan = engine_plan(r["num_qubits"])
        traffic = state_traffic(plan, r["batch"], dtype)
        size = traffic["largest_state_bytes"]
        if size not in bandwidth:
            bandwidth[size] = copy_bandwidth(size)
        bound = traffic["bytes"] / bandwidth[size]
        products = product_seconds(plan, r["batch"], dtype)
        r.update(
            traffic_bytes=traffic["bytes"],
            copy_bandwidth_gb_s=bandwidth[size] / 1e9,
            bound_seconds=bound,
            times_bound=r["seconds"] / bound,
            block_product_seconds=products,
            times_block_products=r["seconds"] / products,
        )


def print_bounds(results: list[dict]) -> None:
    """Our step time against the memory-traffic bound and the plain block products, a table."""
    rows = [r for r in results if "times_bound" in r]
    if not rows:
        return
    print("\n| engine | N | B | s/step | bound s | x bound | products s | x products |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['engine']} | {r['num_qubits']} | {r['batch']} | {r['seconds']:.4f} "
            f"| {r['bound_seconds']:.4f} | {r['times_bound']:.1f} "
            f"| {r['block_product_seconds']:.4f} | {r['times_block_products']:.1f} |"
        )


def run_case(args: argparse.Namespace, num_qubits: int, batch: int, engine: str) -> dict:
    """:func:`measure_case` in a fresh process, so no engine inherits another's threads/heap."""
    command = [
        sys.executable, __file__, "--case", str(num_qubits), str(batch), engine,
        "--threads", str(args.threads), "--repeats", str(args.repeats),
        "--budget", str(args.budget), "--out", os.devnull,
    ]  # fmt: skip
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(command, cwd=root, capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        error = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"engine": engine, "num_qubits": num_qubits, "batch": batch, "error": error}
    return json.loads(lines[-1])


def run(args: argparse.Namespace) -> dict:
    results, unavailable = [], {}
    for n in args.qubits:
        for batch in args.batches:
            reference = None
            for engine in args.engines:
                if engine == "qml-default" and n > 10:
                    continue
                if engine in unavailable:
                    continue
                if engine in args.single_batch and batch != min(args.batches):
                    results.append(
                        {"engine": engine, "num_qubits": n, "batch": batch, "skipped": "budget"}
                    )
                    continue
                record = run_case(args, n, batch, engine)
                if "error" in record:  # record why a peer cannot run
                    unavailable[engine] = record["error"]
                    print(json.dumps(record), flush=True)
                    continue
                check = np.array(record.pop("outputs"))
                if reference is None and engine == "torch-c128":
                    reference = check
                record["max_abs_diff_vs_torch_c128"] = (
                    None if reference is None else float(np.abs(check - reference).max())
                )
                results.append(record)
                print(json.dumps(record), flush=True)
    add_ratios(results)
    add_bounds(results)
    memory = [measure_memory(n, b, d) for n, b, d in args.memory]
    return {
        "benchmark": "engines",
        "timed": "one training step: forward, cross-entropy(5 * outputs), backward, Adam step; "
        "wall-clock median after two untimed warm-up steps; each engine and case in a fresh "
        "process",
        "model": "2 routing qubits (binary, 4 experts) + N-2 data qubits, rx+ry, 2 layers, "
        "4 classes, 64 features",
        "results": results,
        "unavailable": unavailable,
        "memory": memory,
        "machine": {
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "load_average_1m_at_end": os.getloadavg()[0],
            "peak_rss_mib_this_process": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        },
    }


def add_ratios(results: list[dict]) -> None:
    """Speed-ups of each record vs qml-default and vs the fastest non-torch-engine peer."""
    timed = [r for r in results if "seconds" in r]
    for r in timed:
        same = [s for s in timed if (s["num_qubits"], s["batch"]) == (r["num_qubits"], r["batch"])]
        default = [s["seconds"] for s in same if s["engine"] == "qml-default"]
        peers = [s["seconds"] for s in same if not s["engine"].startswith("torch-")]
        r["speedup_vs_qml_default"] = default[0] / r["seconds"] if default else None
        r["speedup_vs_fastest_peer"] = min(peers) / r["seconds"] if peers else None
        r["fastest_of_all"] = r["seconds"] <= min(s["seconds"] for s in same)


def plot(data: dict, path: Path) -> None:
    """Bar chart of step times (log scale) per size and batch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    timed = [r for r in data["results"] if "seconds" in r]
    cases = sorted({(r["num_qubits"], r["batch"]) for r in timed})
    engines = list(dict.fromkeys(r["engine"] for r in timed))
    fig, ax = plt.subplots(figsize=(10, 4.5))
    width = 0.8 / max(len(engines), 1)
    for i, engine in enumerate(engines):
        values = [
            next(
                (
                    r["seconds"]
                    for r in timed
                    if (r["num_qubits"], r["batch"]) == c and r["engine"] == engine
                ),
                np.nan,
            )
            for c in cases
        ]
        ax.bar(np.arange(len(cases)) + i * width, values, width, label=engine)
    ax.set_xticks(np.arange(len(cases)) + 0.4 - width / 2, [f"{n}q, B={b}" for n, b in cases])
    ax.set_yscale("log")
    ax.set_ylabel("seconds per training step")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--plot", type=Path, default=None)
    parser.add_argument("--qubits", type=int, nargs="+", default=[6, 10, 14])
    parser.add_argument("--batches", type=int, nargs="+", default=[32, 256])
    parser.add_argument(
        "--engines",
        nargs="+",
        default=[
            "torch-c128",
            "torch-c64",
            "aer-batched",
            "pennylane-default",
            "pennylane-lightning",
            "torchquantum",
            "qml-default",
        ],
    )
    parser.add_argument("--repeats", type=int, default=5)
    add_threads(parser)
    parser.add_argument("--budget", type=float, default=60.0, help="seconds per measurement")
    parser.add_argument(
        "--single-batch",
        nargs="*",
        default=[],
        help="engines measured only at the smallest batch (to bound run time)",
    )
    parser.add_argument(
        "--memory",
        nargs="*",
        default=["14:256:complex128", "14:256:complex64", "16:64:complex128", "18:16:complex128"],
        help="N:B:dtype cases for the peak-RSS measurement",
    )
    parser.add_argument(
        "--case", nargs=3, metavar=("N", "B", "ENGINE"), help=argparse.SUPPRESS
    )  # internal: measure one case in this process and print it as JSON
    args = parser.parse_args()
    args.threads = apply_threads(args)  # the --case children get the same count
    if args.case:
        n, b, engine = args.case
        print(json.dumps(measure_case(int(n), int(b), engine, args.repeats, args.budget)))
        return
    args.memory = [(int(n), int(b), d) for n, b, d in (m.split(":") for m in args.memory)]
    data = run(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    print_bounds(data["results"])
    if args.plot is not None:
        plot(data, args.plot)


if __name__ == "__main__":
    main()
