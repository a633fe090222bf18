"""Sparse routing on noisy hardware: the measured-routing QMoE against its equal-budget baseline.

For each seed, a trained QMoE run and the trained run of its equal-budget baseline (same
qubits, trained weights, encoder, re-uploading and head) are scored on a fake backend's noisy
simulator from shots: the QMoE as hardware runs it with ``routing.execution = "measured"``
(routing register measured mid-circuit, one expert per shot by feed-forward; the same weights),
the baseline as its one circuit; both transpiled with the same profile
(:func:`qmoe_qiskit.hardware.sampled_accuracy`). Also listed: the coherent QMoE (every expert
controlled by the routing register). Two-qubit gates per shot are those of the ISA circuits.

    python benchmarks/noisy_routing.py --sweep DIR --qmoe NAME-{seed} --baseline NAME-{seed} \\
        --seeds 0 1 2 --backend fake_fez --test-limit 200 --shots 1000 --out FILE.json

Resumable: rows already in ``--out`` are kept.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_threads, apply_threads, machine, write_json  # noqa: E402

from qmoe_qiskit import compile_model, load_run  # noqa: E402
from qmoe_qiskit.hardware import sampled_accuracy  # noqa: E402


def _forms(run):
    spec = run.spec
    yield (
        "QMoE, measured routing",
        compile_model(
            dataclasses.replace(
                spec, routing=dataclasses.replace(spec.routing, execution="measured")
            )
        ),
    )
    yield (
        "QMoE, coherent",
        compile_model(
            dataclasses.replace(
                spec, routing=dataclasses.replace(spec.routing, execution="coherent")
            )
        ),
    )


def _table(rows: list[dict]) -> str:
    lines = [
        "| model | seeds | ideal accuracy from shots (%) | noisy accuracy (%) | "
        "2q gates per shot (mean / max) | depth (max) | weights |",
        "|---|---|---|---|---|---|---|",
    ]
    for model in dict.fromkeys(r["model"] for r in rows):
        mine = [r for r in rows if r["model"] == model]
        ideal = np.array([r["ideal_accuracy"] for r in mine]) * 100
        noisy = np.array([r["noisy_accuracy"] for r in mine]) * 100
        lines.append(
            f"| {model} | {len(mine)} | {ideal.mean():.1f} ± {ideal.std():.1f} | "
            f"{noisy.mean():.1f} ± {noisy.std():.1f} | "
            f"{np.mean([r['two_qubit_gates_mean'] for r in mine]):.0f} / "
            f"{max(r['two_qubit_gates_max'] for r in mine)} | "
            f"{max(r['depth_max'] for r in mine)} | {mine[0]['weights']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep", required=True, help="sweep output directory (runs/)")
    parser.add_argument("--qmoe", required=True, help="QMoE run name, {seed} for the seed")
    parser.add_argument("--baseline", required=True, help="baseline run name, {seed} too")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--backend", default="fake_fez")
    parser.add_argument("--profile", default="default")
    parser.add_argument("--test-limit", type=int, default=200)
    parser.add_argument("--shots", type=int, default=1000)
    parser.add_argument("--out", required=True)
    add_threads(parser)
    args = parser.parse_args()
    apply_threads(args)
    out = Path(args.out)
    rows = json.loads(out.read_text())["rows"] if out.is_file() else []
    done = {(r["seed"], r["model"], r["backend"]) for r in rows}
    runs = Path(args.sweep) / "runs"
    for seed in args.seeds:
        qmoe = load_run(runs / args.qmoe.format(seed=seed))
        baseline = load_run(runs / args.baseline.format(seed=seed))
        data = qmoe.config.load_data()
        x, y = data.x_test[: args.test_limit], data.y_test[: args.test_limit]
        forms = [*_forms(qmoe), ("equal-budget baseline", baseline.model)]
        for name, model in forms:
            if (seed, name, args.backend) in done:
                continue
            weights = baseline.weights if model is baseline.model else qmoe.weights
            started = time.perf_counter()
            result = sampled_accuracy(
                model, weights, x, y, args.backend, shots=args.shots, profile=args.profile,
                seed=seed,
            )  # fmt: skip
            rows.append({
                "seed": seed, "model": name, "run": str(
                    (baseline if model is baseline.model else qmoe).path),
                "weights": int(model.num_weights), **dataclasses.asdict(result),
                "seconds": time.perf_counter() - started,
            })  # fmt: skip
            print(
                f"seed {seed} {name:24s} ideal {result.ideal_accuracy:.3f} noisy "
                f"{result.noisy_accuracy:.3f} 2q/shot {result.two_qubit_gates_mean:.0f}",
                flush=True,
            )
            write_json(out, {"what": __doc__.splitlines()[0], "command": " ".join(sys.argv),
                             "machine": machine(), "rows": rows})  # fmt: skip
    table = _table([r for r in rows if r["backend"] == args.backend])
    out.with_suffix(".md").write_text(
        f"# Sparse routing on {args.backend} noise ({args.test_limit} test images, "
        f"{args.shots} shots each, profile {args.profile})\n\n{table}\n\n"
        f"Reproduce: `python benchmarks/noisy_routing.py {' '.join(sys.argv[1:])}`\n"
    )
    print(table)


if __name__ == "__main__":
    main()
