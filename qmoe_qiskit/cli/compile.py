"""``qmoe compile SPEC|RUN``: compile a model and summarise it."""

from __future__ import annotations

import json
from pathlib import Path


def register(sub) -> None:
    from .common import HelpFormatter

    parser = sub.add_parser(
        "compile",
        help="compile a model and print a resource summary",
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "source",
        metavar="SPEC|RUN",
        help="spec file, preset name or run directory; or a Quantum-Train network "
        "(qt-classifier, qt-lstm, qt-actor, qt-critic): its compression",
    )
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument(
        "--draw",
        metavar="FILE",
        help="draw the circuit with its stages labelled to FILE (.png, .pdf, .svg or .txt; "
        "default: no drawing)",
    )
    parser.set_defaults(func=run)


def _quantum_train(args) -> int:
    from ..engines import probability_factory
    from ..models.classical import NETWORKS, count_parameters
    from ..models.diffqas import DiffQASSpace
    from ..models.quantum_train import QuantumTrain, qubits_for

    build, depth = NETWORKS[args.source]
    network = build()
    space = DiffQASSpace(qubits_for(count_parameters(network)), depth)
    summary = QuantumTrain(network, space, probability_factory("torch", "cpu")).compression()
    if args.json:
        print(json.dumps({"name": args.source, "family": "quantum-train", **summary}))
        return 0
    print(f"{args.source} (Quantum-Train, DiffQAS generator of depth {depth})")
    for key, value in summary.items():
        print(f"  {key:20s} {value:.1f}" if key == "ratio" else f"  {key:20s} {value:,}")
    return 0


def run(args) -> int:
    from ..errors import NoCircuitError
    from ..models.classical import NETWORKS
    from .common import CommandError, load_model_or_run

    if args.source in NETWORKS:
        return _quantum_train(args)

    model, _ = load_model_or_run(args.source)
    summary = model.summary()
    if args.json:
        print(json.dumps({"name": model.spec.name, **summary, "parts": model.describe()}))
    else:
        print(f"{model.spec.name} ({model.spec.kind})")
        for key, value in summary.items():
            if key != "family":
                print(f"  {key:16s} {value}")
        for line in model.describe():
            print(f"  - {line}")
    if args.draw:
        if model.circuit_model is None:
            reason = getattr(model, "no_circuit_reason", None) or (
                f"model {model.spec.name!r} has a classical router: there is no circuit to draw"
            )
            raise NoCircuitError(f"--draw: {reason}")
        path = Path(args.draw).expanduser()
        if not path.parent.is_dir():
            raise CommandError(f"--draw: directory {path.parent} does not exist")
        _draw(model.circuit_model, path)
        print(f"wrote {path}")
    return 0


def _draw(program, path: Path) -> None:
    from ..circuits import staged_circuit

    circuit = staged_circuit(program.stages, program.circuit.name)
    if path.suffix == ".txt":
        text = str(circuit.draw("text", fold=-1))
        path.write_text(text + "\n", encoding="utf-8")
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure = circuit.draw("mpl", fold=60)
    figure.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(figure)
