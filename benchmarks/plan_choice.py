"""Which fused-block width is fastest, and does the engine choose it? (torch engine)

For each model, one training step (forward, cross-entropy on ``5 * outputs``, backward) is timed
at every block width of :data:`~qmoe_qiskit.engines.statevector.fusion.BLOCK_WIDTHS`, in one
process, side by side (median of ``--repeats`` after one warm-up step), and recorded with the
width the engine chooses now (:func:`~qmoe_qiskit.engines.statevector.choose_block_qubits`,
which counts the per-sample build of input-dependent blocks) and the width the state-work
estimate alone would choose (``plan_cost(plan)`` without the program, the choice before the
build was counted). Models: the QMoE paper's Table II presets (2, 3 and 4 experts, the project's
QMoE and its equal-budget baseline) and the engine benchmark's QMoE at 6, 10 and 14 qubits.

Usage::

    python benchmarks/plan_choice.py --threads 1 --out benchmarks/results/plan-choice.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

from qmoe_qiskit import compile_model, load_spec
from qmoe_qiskit.engines.statevector import TorchStatevectorNetwork, lower_circuit
from qmoe_qiskit.engines.statevector.fusion import (
    BLOCK_WIDTHS,
    choose_block_qubits,
    plan_cost,
    plan_execution,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_threads, apply_threads, qmoe_spec  # noqa: E402

PRESETS = (
    "qmoe-mnist4-rx-e2",
    "qmoe-mnist4-rx-e3",
    "qmoe-mnist4-rx",
    "fair-baseline-mnist4-rx-e2",
    "fair-baseline-mnist4-rx-e3",
    "fair-baseline-mnist4-rx",
    "qmoe-mnist4-rxryrz-e2",
    "fair-baseline-mnist4-rxryrz",
)


def step_seconds(network: TorchStatevectorNetwork, x: torch.Tensor, repeats: int) -> float:
    """Median seconds of one forward + backward step (after one untimed step)."""
    labels = torch.arange(x.shape[0]) % network.model.num_classes
    times = []
    for i in range(repeats + 1):
        network.weight.grad = None
        start = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(5 * network(x), labels)
        loss.backward()
        if i:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(name: str, circuit, batch: int, repeats: int) -> dict:
    program = lower_circuit(circuit.decomposed, circuit.input_params, circuit.weight_params)
    widths = [w for w in BLOCK_WIDTHS if w <= max(program.num_qubits, 2)]
    states_only = min(widths, key=lambda w: (plan_cost(plan_execution(program, w)), w))
    x = torch.rand(batch, circuit.num_inputs, dtype=torch.float64, generator=torch.Generator())
    seconds = {
        w: step_seconds(TorchStatevectorNetwork(circuit, block_qubits=w), x, repeats)
        for w in widths
    }
    chosen = choose_block_qubits(program)
    fastest = min(seconds, key=seconds.__getitem__)
    return {
        "model": name,
        "qubits": circuit.num_qubits,
        "seconds_by_width": seconds,
        "chosen": chosen,
        "chosen_before": states_only,
        "fastest": fastest,
        "chosen_over_fastest": seconds[chosen] / seconds[fastest],
        "before_over_chosen": seconds[states_only] / seconds[chosen],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="JSON results file")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--qubits", type=int, nargs="*", default=[6, 10, 14])
    add_threads(parser)
    args = parser.parse_args(argv)
    threads = apply_threads(args)
    torch.manual_seed(0)
    models = [(p, compile_model(load_spec(p))) for p in PRESETS]
    models += [(f"benchmark-qmoe-{n}q", compile_model(qmoe_spec(n))) for n in args.qubits]
    records = []
    for name, model in models:
        circuit = getattr(model, "circuit_model", model)
        record = measure(name, circuit, args.batch, args.repeats)
        records.append(record)
        times = ", ".join(f"{w}: {1e3 * s:.1f} ms" for w, s in record["seconds_by_width"].items())
        print(
            f"{name} ({record['qubits']} qubits): {times}; chosen {record['chosen']} "
            f"(before: {record['chosen_before']}, {record['before_over_chosen']:.2f}x its time)"
        )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"machine": platform.processor() or platform.machine(), "threads": threads}
    meta |= {"batch": args.batch, "repeats": args.repeats, "torch": torch.__version__}
    out.write_text(json.dumps({"meta": meta, "records": records}, indent=1) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
