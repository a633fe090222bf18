"""Coherent vs measured routing on an IBM device: two-qubit gates and depth per shot.

The digits QMoE (64 inputs, 4 data qubits, 2 layers of rx+ry experts on a CNOT ring, binary
routing) with 2, 4 and 5 experts, in three forms: coherent with the multiplexed expert stage
(the default), coherent with every expert a controlled gate, and ``routing.execution =
"measured"`` (the routing register measured mid-circuit, one expert per shot by feed-forward).
Each is decomposed (logical, all-to-all) and transpiled for ``fake_fez`` with the ``default``
profile; a dynamic circuit's depth, two-qubit gates and duration are those of its costliest
branch (one shot), and the two-qubit gates of all its branches are listed too.

    python benchmarks/measured_routing.py --out benchmarks/results/measured-routing.json
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, write_json  # noqa: E402

from qmoe_qiskit import compile_model, load_spec  # noqa: E402
from qmoe_qiskit.hardware import get_fake_backend, resource_report, transpile_model  # noqa: E402

FORMS = {
    "coherent, multiplexed": {"construction": "auto", "execution": "coherent"},
    "coherent, controlled": {"construction": "controlled", "execution": "coherent"},
    "measured": {"construction": "auto", "execution": "measured"},
}


def _spec(count: int, form: dict):
    base = load_spec("qmoe-digits4")
    return dataclasses.replace(
        base,
        name=f"digits-{count}e",
        experts=dataclasses.replace(base.experts, count=count, construction=form["construction"]),
        routing=dataclasses.replace(base.routing, execution=form["execution"]),
    )


def _table(rows: list[dict]) -> str:
    lines = [
        "| experts | form | logical 2q | logical depth | fake_fez 2q (one shot) | "
        "fake_fez depth (one shot) | fake_fez 2q, all branches | duration (us) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['experts']} | {r['form']} | {r['logical_two_qubit_gates']} | "
            f"{r['logical_depth']} | {r['two_qubit_gates']} | {r['depth']} | "
            f"{r['two_qubit_gates_all_branches']} | {r['circuit_duration_s'] * 1e6:.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="fake_fez")
    parser.add_argument("--profile", default="default")
    parser.add_argument("--experts", default="2,4,5")
    parser.add_argument("--out", required=True, help="JSON path (a .md table is written beside)")
    args = parser.parse_args()
    backend = get_fake_backend(args.backend)
    rows = []
    for count in (int(v) for v in args.experts.split(",")):
        for label, form in FORMS.items():
            model = compile_model(_spec(count, form))
            summary = model.summary()
            measured = form["execution"] == "measured"
            started = time.perf_counter()
            report = resource_report(transpile_model(model, backend, args.profile), backend)
            rows.append(
                {
                    "experts": count,
                    "form": label,
                    "logical_two_qubit_gates": summary[
                        "measured_two_qubit_gates" if measured else "two_qubit_gates"
                    ],
                    "logical_depth": summary["measured_depth" if measured else "depth"],
                    "two_qubit_gates": report.two_qubit_gates,
                    "depth": report.depth,
                    "two_qubit_gates_all_branches": report.two_qubit_gates_all_branches,
                    "branches": report.branches,
                    "circuit_duration_s": report.circuit_duration_s,
                    "transpile_seconds": round(time.perf_counter() - started, 2),
                }
            )
            print(_table(rows[-1:]).splitlines()[-1], flush=True)
    out = Path(args.out)
    write_json(
        out,
        {
            "backend": args.backend,
            "profile": args.profile,
            "model": "qmoe-digits4 (64 inputs, 2-3 routing + 4 data qubits, 2 layers rx+ry)",
            "rows": rows,
            "machine": machine(),
        },
    )
    out.with_suffix(".md").write_text(
        f"# Coherent vs measured routing on {args.backend} (profile {args.profile})\n\n"
        + _table(rows)
        + "\n\nOne shot of the measured form runs the encoder, the routing ansatz and one expert; "
        "its depth, two-qubit gates and duration are those of its costliest branch.\n"
        "Reproduce: `python benchmarks/measured_routing.py --out "
        "benchmarks/results/measured-routing.json`\n"
    )


if __name__ == "__main__":
    main()
