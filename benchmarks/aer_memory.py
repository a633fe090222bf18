"""Peak memory and time of one Aer training step, with and without the memory budget.

A step is forward + backward + Adam update of ``TorchConnector(EstimatorQNN)`` on Aer at batch
32 (4 classes, or 3 where only 3 data qubits are left; 64 inputs; RX+RY experts and router,
2 layers each; binary routing; 4 experts on 2 routing qubits or 5 experts on 3). Each case runs
in its own process, whose resident memory is sampled every 50 ms; a process above ``--cap-gb``
is killed and recorded as such, so the unbudgeted ("before") cases cannot take the machine
down. Budgets compared side by side in one run: 4 GB, 1 GB (this project's default,
``training.memory_gb``) and none (one Aer call for the whole batch, as before the budget
existed).

With ``--epoch`` it also trains the 7-qubit, 5-expert spec of issue 10 for one epoch on the
digits with the default budget (``qmoe train``), recording its peak memory.

    python benchmarks/aer_memory.py --out benchmarks/results/aer-memory.json --epoch
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, qmoe_spec, write_json  # noqa: E402

from qmoe_qiskit.spec import TrainingSpec  # noqa: E402

#: Budgets in GB; None = one call for everything (no budget).
BUDGETS = (4.0, 1.0, None)
UNBOUNDED_GB = 1e6

ISSUE_SPEC = """\
name = "five-experts"
[experts]
count = 5
data_qubits = 4
operators = "ry"
[routing]
encoding = "binary"
"""


def child(qubits: int, experts: int, memory_gb: float) -> None:
    """One training step in this process; prints a JSON line."""
    import resource

    import numpy as np
    import torch

    from qmoe_qiskit import compile_model
    from qmoe_qiskit.engines.aer import build_torch_network, rows_per_call

    torch.set_num_threads(1)
    routing_qubits = (experts - 1).bit_length()
    base = qmoe_spec(qubits, count=experts)
    data_qubits = qubits - routing_qubits
    classes = min(4, data_qubits)  # class c is read on data qubit c
    spec = dataclasses.replace(
        base,
        classes=classes,
        experts=dataclasses.replace(base.experts, data_qubits=data_qubits),
        data=dataclasses.replace(base.data, classes=tuple(range(classes))),
    )
    model = compile_model(spec)
    assert model.num_qubits == qubits, (model.num_qubits, qubits)
    weights = model.initial_weights(0)
    network = build_torch_network(model, weights, device="cpu", memory_gb=memory_gb)
    rng = np.random.default_rng(0)
    x = torch.as_tensor(rng.uniform(0, np.pi, (32, model.num_inputs)))
    y = torch.as_tensor(rng.integers(0, classes, 32))
    optimizer = torch.optim.Adam(network.parameters(), lr=2e-3)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    start = time.perf_counter()
    optimizer.zero_grad()
    loss = torch.nn.functional.cross_entropy(5.0 * network(x), y)
    loss.backward()
    optimizer.step()
    seconds = time.perf_counter() - start
    estimator = network.neural_network.estimator
    print(
        json.dumps(
            {
                "classes": classes,
                "weights": model.num_weights,
                "instructions": len(model.decomposed.data),
                "rows_per_call_limit": rows_per_call(model.decomposed, memory_gb),
                "aer_calls": estimator.calls,
                "step_seconds": seconds,
                "rss_before_step_bytes": before,
                "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            }
        )
    )


def watch(argv: list[str], cap_bytes: int) -> tuple[dict, int, bool, float]:
    """Run ``argv``; its output's last JSON line, sampled peak RSS, whether it was killed."""
    import psutil

    started = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    handle = psutil.Process(process.pid)
    peak, killed = 0, False
    while process.poll() is None:
        try:
            rss = handle.memory_info().rss + sum(
                c.memory_info().rss for c in handle.children(recursive=True)
            )
        except psutil.Error:
            rss = 0
        peak = max(peak, rss)
        if rss > cap_bytes:
            process.kill()
            killed = True
            break
        time.sleep(0.05)
    stdout, stderr = process.communicate()
    seconds = time.perf_counter() - started
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    if not killed and process.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{stderr[-2000:]}")
    return (json.loads(lines[-1]) if lines else {}), peak, killed, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qubits", type=int, nargs="+", default=[6, 8, 10, 12])
    parser.add_argument("--experts", type=int, nargs="+", default=[4, 5])
    parser.add_argument("--cap-gb", type=float, default=14.0, help="kill a case above this")
    parser.add_argument("--epoch", action="store_true", help="also one epoch of issue 10's spec")
    parser.add_argument("--out", required=True)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(int(args.child[0]), int(args.child[1]), float(args.child[2]))
        return
    cap = int(args.cap_gb * 1e9)
    rows = []
    for qubits in args.qubits:
        for experts in args.experts:
            for budget in BUDGETS:
                gb = UNBOUNDED_GB if budget is None else budget
                argv = [sys.executable, __file__, "--out", "-", "--child", str(qubits)]
                argv += [str(experts), str(gb)]
                result, peak, killed, seconds = watch(argv, cap)
                row = {
                    "qubits": qubits,
                    "experts": experts,
                    "memory_gb": budget,
                    "killed_above_cap": killed,
                    "sampled_peak_rss_bytes": peak,
                    "process_seconds": seconds,
                    **result,
                }
                rows.append(row)
                label = "none" if budget is None else f"{budget:g} GB"
                status = (
                    f"killed above {args.cap_gb:g} GB"
                    if killed
                    else f"peak {peak / 1e9:5.2f} GB, step {result['step_seconds']:7.1f} s, "
                    f"{result['aer_calls']} Aer calls"
                )
                print(f"{qubits:2d} qubits, {experts} experts, budget {label:6s}: {status}")
    epoch = None
    if args.epoch:
        with tempfile.TemporaryDirectory() as tmp:
            spec = Path(tmp) / "five.toml"
            spec.write_text(ISSUE_SPEC)
            qmoe = Path(sys.executable).with_name("qmoe")
            argv = [str(qmoe), "train", str(spec), "--out"]
            argv += [str(Path(tmp) / "run"), "--data", "digits", "--epochs", "1", "--quiet"]
            argv += ["--engine", "aer", "--device", "cpu"]
            _, peak, killed, seconds = watch(argv, cap)
            metrics = {}
            if not killed:
                metrics = json.loads((Path(tmp) / "run" / "metrics.json").read_text())
        epoch = {
            "spec": ISSUE_SPEC,
            "command": "qmoe train five.toml --data digits --epochs 1 --engine aer --device cpu",
            "memory_gb": TrainingSpec.memory_gb,
            "killed_above_cap": killed,
            "sampled_peak_rss_bytes": peak,
            "seconds": seconds,
            "test_accuracy": metrics.get("test_accuracy"),
        }
        print(f"issue 10 spec, one epoch: peak {peak / 1e9:.2f} GB in {seconds:.0f} s")
    write_json(
        args.out,
        {
            "what": "one Aer training step (batch 32) per qubit count, expert count and memory "
            "budget; each case in its own process, resident memory sampled every 50 ms",
            "command": "python benchmarks/aer_memory.py --out "
            + args.out
            + (" --epoch" if args.epoch else ""),
            "cap_gb": args.cap_gb,
            "machine": machine(),
            "rows": rows,
            "issue_spec_epoch": epoch,
        },
    )


if __name__ == "__main__":
    main()
