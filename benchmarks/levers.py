"""Per-lever step times of the torch engine: each optimisation switched off in turn, one run.

Reproduces every per-lever figure of ``docs/explanations/engine.md`` ("Levers"). For each case
(qubits, batch, dtype) the engine benchmark's QMoE (:func:`engines.model_for`) is timed as
one training step (:func:`peers.timing.time_steps`) under these configurations, built one
after the other in this process and timed in ``--rounds`` interleaved rounds (``A B C A B C``)
so that drift of a shared machine falls on all of them:

* ``before``: the engine as it was before these levers (a layout copy permutes one axis per
  qubit; consecutive blocks are not merged);
* ``coalesced``: layout copies permute merged axes
  (:func:`~qmoe_qiskit.engines.statevector.fusion.coalesce_permutation`);
* ``coalesced+merged`` (the engine as it is): consecutive blocks merged where one pass is
  cheaper (``TorchStatevectorNetwork(merge_blocks=True)``, the default);
* ``width-W`` (with ``--widths W ...``): the engine as it is with block width ``W`` forced
  instead of the one :func:`~qmoe_qiskit.engines.statevector.choose_block_qubits` picks.

Each record carries its plan's block count, layout copies, memory-traffic bound
(:func:`engines.state_traffic` over the measured copy bandwidth) and the time its block products
take as plain matrix products (:func:`engines.product_seconds`, also as a multiple of the
bound: what no layout or bookkeeping work can go below), so both the step time and its ratio
to the bound are reported; note that merging blocks lowers the bound too (fewer
passes over the state), so the ratio can grow while the step gets faster.

Usage::

    python benchmarks/levers.py --threads 1 --cases 14:256 18:32 --out levers-t1.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

import numpy as np
import torch

from qmoe_qiskit.engines.statevector import TorchStatevectorNetwork

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_threads, apply_threads  # noqa: E402
from engines import (  # noqa: E402
    LOGIT_SCALE,
    copy_bandwidth,
    inputs_for,
    model_for,
    product_seconds,
    state_traffic,
)
from peers.timing import time_steps  # noqa: E402

CONFIGS = ("before", "coalesced", "coalesced+merged")
DTYPES = {"complex128": torch.complex128, "complex64": torch.complex64}


def build(config: str, model, dtype: torch.dtype) -> TorchStatevectorNetwork:
    """The network of one configuration."""
    if config.startswith("width-"):
        return TorchStatevectorNetwork(model, dtype=dtype, block_qubits=int(config[6:]))
    net = TorchStatevectorNetwork(model, dtype=dtype, merge_blocks=config.endswith("merged"))
    if config == "before":  # one axis per qubit, as before coalescing
        net._layout_copies = {
            s: ((1,) * len(step.permute), step.permute)
            for s, step in enumerate(net.plan.steps)
            if step.permute is not None
        }
    return net


def measure(
    num_qubits: int, batch: int, dtype_name: str, rounds: int, repeats: int, configs: list[str]
) -> list:
    """Records of every configuration on one case."""
    dtype = DTYPES[dtype_name]
    model = model_for(num_qubits)
    x, y = inputs_for(model, batch)
    times: dict[str, list[float]] = {c: [] for c in configs}
    plans = {}
    for _ in range(rounds):
        for config in configs:
            net = build(config, model, dtype)
            plans[config] = net.plan
            wall, _, _ = time_steps(net, x, y, repeats, 600.0, LOGIT_SCALE)
            times[config].append(wall)
            del net
    records = []
    for config in configs:
        plan = plans[config]
        traffic = state_traffic(plan, batch, dtype)
        bound = traffic["bytes"] / copy_bandwidth(traffic["largest_state_bytes"])
        seconds = float(np.median(times[config]))
        products = product_seconds(plan, batch, dtype)
        records.append({
            "num_qubits": num_qubits,
            "batch": batch,
            "dtype": dtype_name,
            "config": config,
            "seconds": seconds,
            "seconds_per_round": times[config],
            "blocks": sum(1 for s in plan.steps if not s.starts),
            "layout_copies": sum(1 for s in plan.steps if s.permute is not None),
            "bound_seconds": bound,
            "times_bound": seconds / bound,
            "block_product_seconds": products,
            "products_times_bound": products / bound,
        })  # fmt: skip
    base = records[0]["seconds"]
    for r in records:
        r["speedup_vs_before"] = base / r["seconds"]
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--cases", nargs="+", default=["14:256", "18:32"], help="N:B cases")
    parser.add_argument("--dtypes", nargs="+", default=list(DTYPES), choices=list(DTYPES))
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds")
    parser.add_argument("--repeats", type=int, default=3, help="timed steps per round")
    parser.add_argument("--widths", type=int, nargs="*", default=[], help="forced widths too")
    add_threads(parser)
    args = parser.parse_args()
    threads = apply_threads(args)
    configs = list(CONFIGS) + [f"width-{w}" for w in args.widths]
    records = []
    for case in args.cases:
        n, b = (int(v) for v in case.split(":"))
        for dtype_name in args.dtypes:
            for r in measure(n, b, dtype_name, args.rounds, args.repeats, configs):
                records.append(r)
                print(
                    f"{n:2d}q B={b:<4d} {dtype_name:10s} {r['config']:17s} "
                    f"{r['seconds']:7.3f} s  x{r['speedup_vs_before']:.2f}  "
                    f"blocks {r['blocks']:2d} copies {r['layout_copies']:2d}  "
                    f"x bound {r['times_bound']:.1f} "
                    f"(products alone x{r['products_times_bound']:.1f})",
                    flush=True,
                )
    data = {
        "benchmark": "levers",
        "timed": "one training step (forward, cross-entropy, backward, Adam), median over "
        "interleaved rounds of the median of --repeats steps",
        "records": records,
        "machine": {
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "torch_threads": threads,
            "torch": torch.__version__,
            "load_average_1m_at_end": os.getloadavg()[0],
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
