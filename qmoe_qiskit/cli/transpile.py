"""``qmoe transpile SPEC|RUN --backend NAME``: ISA circuit, resource and QPU-time report."""

from __future__ import annotations

import json
from pathlib import Path


def register(sub) -> None:
    from .common import HelpFormatter, add_output_option, positive_int

    parser = sub.add_parser(
        "transpile",
        help="transpile for an IBM backend and report its cost (QPY saved)",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("source", metavar="SPEC|RUN", help="spec, preset or run directory")
    parser.add_argument(
        "--backend", required=True, help="fake_NAME, a real backend name, or all-fake"
    )
    parser.add_argument("--profile", default="default", help="transpile profile (default)")
    parser.add_argument(
        "--circuits",
        type=positive_int,
        default=None,
        help="circuits to price (default: the run's test-set size, else 1)",
    )
    parser.add_argument(
        "--shots", type=positive_int, default=4096, help="shots per circuit to price"
    )
    add_output_option(
        parser,
        dest="output",
        help="QPY file for the ISA circuit (default: RUN/isa/BACKEND-PROFILE.qpy for a RUN; "
        "none for a SPEC)",
    )
    parser.add_argument(
        "--no-save", action="store_true", help="RUN: do not write the QPY file into the run"
    )
    parser.add_argument(
        "--min-qubits",
        type=positive_int,
        default=None,
        help="all-fake: skip smaller backends (default: the model width)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(func=run)


def run(args) -> int:
    from ..hardware import (
        fake_backend_names,
        format_table,
        get_fake_backend,
        load_profile,
        open_backend,
        resource_report,
        save_isa,
        transpile_model,
    )
    from ..models import circuit_of
    from .common import CommandError, load_model_or_run

    model, loaded = load_model_or_run(args.source)
    program = circuit_of(model)
    profile = load_profile(args.profile)
    circuits = args.circuits
    if circuits is None:
        circuits = len(loaded.config.load_data().y_test) if loaded is not None else 1

    if args.backend == "all-fake":
        rows = []
        for name in fake_backend_names(args.min_qubits or program.num_qubits):
            backend = get_fake_backend(name)
            try:
                transpiled = transpile_model(model, backend, profile)
                report = resource_report(transpiled, backend, circuits=circuits, shots=args.shots)
                rows.append(report.to_dict())
            except Exception as exc:  # one odd backend must not spoil the table
                rows.append({"backend": name, "error": f"{type(exc).__name__}: {exc}"})
        if args.json:
            print(
                json.dumps(
                    {
                        "model": model.spec.name,
                        "profile": profile.name,
                        "circuits": circuits,
                        "shots": args.shots,
                        "backends": rows,
                    }
                )
            )
        else:
            print(
                f"{model.spec.name}: profile {profile.name}, QPU time for {circuits} circuits "
                f"x {args.shots} shots (estimate)"
            )
            print(format_table(rows))
        return 0

    handle = open_backend(args.backend)
    transpiled = transpile_model(model, handle.backend, profile)
    report = resource_report(transpiled, handle.backend, circuits=circuits, shots=args.shots)
    out = None
    if args.output:
        out = Path(args.output).expanduser()
        if not out.parent.is_dir():
            raise CommandError(f"-o: directory {out.parent} does not exist")
    elif loaded is not None and not args.no_save:
        out = loaded.path / "isa" / f"{handle.name}-{profile.name}.qpy"
    if out is not None:
        save_isa(transpiled, out, {"source": str(args.source), "report": report.to_dict()})
    data = report.to_dict()
    data["qpy"] = None if out is None else str(out)
    if args.json:
        print(json.dumps(data))
    else:
        print(f"{model.spec.name} on {report.backend} (profile {report.profile})")
        print(f"  physical qubits   {len(report.physical_qubits)} (layout {list(report.layout)})")
        print(f"  depth             {report.depth}")
        print(
            f"  two-qubit gates   {report.two_qubit_gates} "
            f"(logical {report.logical_two_qubit_gates}, x{report.two_qubit_overhead:.2f})"
        )
        print(f"  gate counts       {report.gate_counts}")
        if report.branches > 1:
            print(
                f"  feed-forward      {report.branches} branches, one per shot: depth, "
                "two-qubit gates and duration are the costliest branch's "
                f"({report.two_qubit_gates_all_branches} two-qubit gates in all branches)"
            )
        print(
            f"  circuit duration  {report.circuit_duration_s * 1e6:.2f} us "
            f"+ rep delay {report.rep_delay_s * 1e6:.0f} us per shot"
        )
        print(
            f"  QPU time (est.)   {report.qpu_time_s:.2f} s for {circuits} circuits x "
            f"{args.shots} shots"
        )
        if report.missing_durations:
            print(f"  no duration for   {', '.join(report.missing_durations)} (counted 0 s)")
        if out is not None:
            print(f"  ISA circuit       {out}")
        elif loaded is None:
            print("  ISA circuit       not saved (pass -o FILE.qpy to keep it)")
    return 0
