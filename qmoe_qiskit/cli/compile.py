"""``qmoe compile SPEC``: compile a spec and summarise the circuit."""

from __future__ import annotations

import json


def register(sub) -> None:
    parser = sub.add_parser("compile", help="compile a spec and print a resource summary")
    parser.add_argument("spec", help="spec file or preset name")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("--draw", metavar="FILE", help="draw the circuit to FILE (.png or .txt)")
    parser.set_defaults(func=run)


def run(args) -> int:
    from ..compiler import compile_model

    model = compile_model(args.spec)
    summary = model.summary()
    if args.json:
        print(json.dumps(summary))
    else:
        spec = model.spec
        print(f"{spec.name} ({spec.kind})")
        for key, value in summary.items():
            print(f"  {key:16s} {value}")
        construction = "multiplexed" if spec.multiplexed else "controlled"
        print(f"  {'experts':16s} {spec.experts.count} x {spec.experts.operators}, {construction}")
    if args.draw:
        _draw(model, args.draw)
    return 0


def _draw(model, path: str) -> None:
    if path.endswith(".txt"):
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(str(model.circuit.draw("text", fold=-1)) + "\n")
        return
    import matplotlib

    matplotlib.use("Agg")
    figure = model.circuit.draw("mpl", fold=60)
    figure.savefig(path, dpi=90, bbox_inches="tight")
