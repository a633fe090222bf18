"""``qmoe export SPEC|RUN --format qasm3|qasm2|qpy -o FILE``."""

from __future__ import annotations

import json


def register(sub) -> None:
    from .common import HelpFormatter, add_output_option, non_negative_int

    parser = sub.add_parser(
        "export",
        help="export the circuit as OpenQASM 3, OpenQASM 2 or QPY",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("source", metavar="SPEC|RUN", help="spec, preset or run directory")
    parser.add_argument(
        "--format", required=True, choices=("qasm3", "qasm2", "qpy"), help="output format"
    )
    add_output_option(
        parser, dest="output", required=True, help="output file (its directory must exist)"
    )
    parser.add_argument(
        "--input",
        type=non_negative_int,
        metavar="INDEX",
        help="bind test sample INDEX of a RUN, needed for qasm2 (default: inputs stay free)",
    )
    parser.add_argument(
        "--unbound-weights", action="store_true", help="keep a RUN's weights as free parameters"
    )
    parser.add_argument(
        "--isa",
        metavar="QPY",
        help="export this saved ISA circuit instead, from qmoe transpile, not re-flattened "
        "(default: the model's circuit)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(func=run)


def run(args) -> int:
    from ..export import export_model
    from ..hardware import load_isa
    from .common import CommandError, load_model_or_run

    model, loaded = load_model_or_run(args.source)
    weights = inputs = None
    if loaded is not None and not args.unbound_weights:
        weights = loaded.weights
    if args.input is not None:
        if loaded is None:
            raise CommandError("--input needs a RUN directory (a spec has no test set)")
        data = loaded.config.load_data()
        if not 0 <= args.input < len(data.x_test):
            raise CommandError(f"--input must be in [0, {len(data.x_test)})")
        inputs = data.x_test[args.input]
    circuit = load_isa(args.isa)[0].circuit if args.isa else None
    result = export_model(
        model, args.output, args.format, weights=weights, inputs=inputs, circuit=circuit
    )
    info = {
        "path": str(result.path),
        "format": result.format,
        "num_qubits": result.num_qubits,
        "free_parameters": result.free_parameters,
        "parameter_map": None if result.map_path is None else str(result.map_path),
    }
    if args.json:
        print(json.dumps(info))
    else:
        print(
            f"wrote {result.path} ({result.format}, {result.num_qubits} qubits, "
            f"{result.free_parameters} free parameters)"
        )
        if result.map_path is not None:
            print(f"wrote {result.map_path} (exported name -> qmoe parameter name)")
    return 0
