"""Step time and peak memory of one training step from 6 to 22 qubits, engine by engine.

Every case (qubits, engine) runs in a fresh process: the benchmark QMoE of
``benchmarks/engines.py`` (``model_for``: 2 routing qubits, 4 experts, rx+ry, 64 inputs) at
batch ``--batch``; one untimed warm-up step, then the median of ``--repeats`` timed steps
(forward, cross-entropy, backward); the process's peak resident memory (``ru_maxrss``) over all
of it. Engines: ``torch-c128`` / ``torch-c64`` (unbounded), ``torch-c128-budget`` /
``torch-c64-budget`` (``memory_gb = --memory-gb``: slices recompute their states), and the
peers of ``benchmarks/engines.py`` (``pennylane-lightning``: ``lightning.qubit`` adjoint,
``aer-batched``). An engine stops at the first size whose estimate (the last step time, x4 per
two qubits) exceeds ``--budget`` seconds, or whose step failed (out of memory); the reason is
recorded. The report fits ``log2(seconds) = a + b n`` over each engine's sizes >= 14 (``b = 1``:
time proportional to ``2**n``).

Usage::

    python benchmarks/scaling.py --threads 2 --memory-gb 2.5 \\
        --out benchmarks/results/scaling.json --plot benchmarks/results/scaling.png
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_threads, apply_threads  # noqa: E402

ENGINES = (
    "torch-c128", "torch-c64", "torch-c128-budget", "torch-c64-budget",
    "pennylane-lightning", "aer-batched",
)  # fmt: skip


def measure(num_qubits: int, engine: str, batch: int, repeats: int, memory_gb: float) -> dict:
    """One case, in this process: seconds per step and peak RSS (MiB)."""
    from engines import LOGIT_SCALE, build, inputs_for, model_for

    from qmoe_qiskit.engines.statevector import TorchStatevectorNetwork

    model = model_for(num_qubits)
    weights = model.initial_weights(0)
    if engine.endswith("-budget"):
        dtype = torch.complex128 if "c128" in engine else torch.complex64
        net = TorchStatevectorNetwork(model, weights, dtype=dtype, memory_gb=memory_gb)
    else:
        net = build(engine, model, weights)
    x, y = inputs_for(model, batch)
    times = []
    for i in range(repeats + 1):
        start = time.perf_counter()
        out = LOGIT_SCALE * net(x).to(torch.float64)
        torch.nn.functional.cross_entropy(out, y).backward()
        if i:
            times.append(time.perf_counter() - start)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rows = getattr(net, "rows_per_pass", lambda: None)()
    return {
        "num_qubits": num_qubits, "engine": engine, "batch": batch,
        "seconds": statistics.median(times), "peak_rss_mib": peak_kib / 1024,
        "rows_per_pass": rows,
    }  # fmt: skip


def run_case(args, num_qubits: int, engine: str) -> dict:
    """One case in a fresh process (its own peak memory), or the reason it did not finish."""
    argv = [
        sys.executable, __file__, "--case", str(num_qubits), engine, "--batch", str(args.batch),
        "--repeats", str(args.repeats), "--memory-gb", str(args.memory_gb),
        "--threads", str(args.threads),
    ]  # fmt: skip
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=args.budget * 4)
    except subprocess.TimeoutExpired:
        return {"num_qubits": num_qubits, "engine": engine, "error": "ran past 4x --budget"}
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        return {"num_qubits": num_qubits, "engine": engine, "error": tail}
    return json.loads(done.stdout.strip().splitlines()[-1])


def sequential(args) -> list[dict]:
    """Engine after engine, sizes ascending; an engine stops at the first size whose estimate
    (the last step time, x2 per qubit) exceeds ``--budget`` or whose step failed."""
    records: list[dict] = []
    for engine in args.engines:
        last: dict | None = None
        for n in sorted(args.qubits):
            if last is not None and "seconds" in last:
                estimate = last["seconds"] * 2 ** (n - last["num_qubits"]) * (args.repeats + 1)
                if estimate > args.budget:
                    why = f"estimated {estimate:.0f} s > {args.budget:.0f} s"
                    records.append({"num_qubits": n, "engine": engine, "skipped": why})
                    break
            last = run_case(args, n, engine)
            records.append(last)
            print(json.dumps(last), flush=True)
            if "error" in last:
                break
    return records


def interleaved(args) -> list[dict]:
    """Every (size, engine) ``--rounds`` times, engines alternating within a round (each run
    printed); per case, the median over rounds with every round's time (``rounds``)."""
    runs = []
    for n in sorted(args.qubits):
        for r in range(args.rounds):
            for engine in args.engines:
                record = run_case(args, n, engine) | {"round": r}
                runs.append(record)
                print(json.dumps(record), flush=True)
    medians = []
    for n in sorted(args.qubits):
        for engine in args.engines:
            done = [x for x in runs if (x["num_qubits"], x["engine"]) == (n, engine)]
            timed = [x for x in done if "seconds" in x]
            if not timed:
                medians.append({k: v for k, v in done[-1].items() if k != "round"})
                continue
            medians.append({
                **{k: v for k, v in timed[0].items() if k != "round"},
                "seconds": statistics.median(x["seconds"] for x in timed),
                "peak_rss_mib": max(x["peak_rss_mib"] for x in timed),
                "rounds": [x["seconds"] for x in timed],
            })  # fmt: skip
    return medians


def fit_growth(records: list[dict], smallest: int = 14) -> dict[str, float]:
    """Per engine, the slope ``b`` of ``log2(seconds) = a + b n`` over sizes >= ``smallest``."""
    slopes = {}
    for engine in {r["engine"] for r in records}:
        rows = [r for r in records if r["engine"] == engine and "seconds" in r]
        rows = [r for r in rows if r["num_qubits"] >= smallest]
        if len(rows) >= 2:
            n = np.array([r["num_qubits"] for r in rows], dtype=float)
            b, _ = np.polyfit(n, np.log2([r["seconds"] for r in rows]), 1)
            slopes[engine] = float(b)
    return slopes


def plot(records: list[dict], path: Path) -> None:
    from qmoe_qiskit.figures import subplots

    fig, (left, right) = subplots(1, 2, figsize=(11, 4))
    for engine in ENGINES:
        rows = [r for r in records if r["engine"] == engine and "seconds" in r]
        if rows:
            n = [r["num_qubits"] for r in rows]
            left.semilogy(n, [r["seconds"] for r in rows], "o-", label=engine)
            right.semilogy(n, [r["peak_rss_mib"] / 1024 for r in rows], "o-", label=engine)
    left.set(xlabel="qubits", ylabel="seconds per training step", title="step time")
    right.set(xlabel="qubits", ylabel="peak RSS (GiB)", title="peak memory")
    left.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--plot", type=Path)
    parser.add_argument("--qubits", type=int, nargs="+", default=list(range(6, 23, 2)))
    parser.add_argument("--engines", nargs="+", default=list(ENGINES), choices=ENGINES)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--memory-gb", type=float, default=2.5, help="budget of *-budget runs")
    parser.add_argument("--budget", type=float, default=300.0, help="seconds per case")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="with more than one: sizes outer, then rounds, engines inner (interleaved, for "
        "ratios such as budget / unbounded); every run is printed, and each (size, engine) is "
        "recorded as the median over rounds with every round's time",
    )
    parser.add_argument(
        "--append",
        action="store_true",
        help="keep the records of --out for other (qubits, engine) cases (one file from runs "
        "with different --qubits per engine)",
    )
    parser.add_argument("--case", nargs=2, metavar=("N", "ENGINE"), help=argparse.SUPPRESS)
    add_threads(parser)
    args = parser.parse_args(argv)
    args.threads = apply_threads(args)
    if args.case:
        record = measure(int(args.case[0]), args.case[1], args.batch, args.repeats, args.memory_gb)
        print(json.dumps(record))
        return 0
    if args.out is None:
        parser.error("--out is required")
    records = interleaved(args) if args.rounds > 1 else sequential(args)
    if args.append and args.out.exists():
        measured = {(r["num_qubits"], r["engine"]) for r in records}
        kept = json.loads(args.out.read_text())["records"]
        records = [r for r in kept if (r["num_qubits"], r["engine"]) not in measured] + records
        records.sort(key=lambda r: (ENGINES.index(r["engine"]), r["num_qubits"]))
    meta = {"machine": platform.processor() or platform.machine(), "threads": args.threads}
    meta |= {"batch": args.batch, "memory_gb": args.memory_gb, "torch": torch.__version__}
    data = {"meta": meta, "records": records, "growth_log2_per_qubit": fit_growth(records)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, indent=1) + "\n")
    if args.plot:
        plot(records, args.plot)
    print(json.dumps(data["growth_log2_per_qubit"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
