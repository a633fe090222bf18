"""``qmoe submit RUN --backend NAME``: evaluate a trained run through IBM Runtime primitives."""

from __future__ import annotations

import json
import sys


def register(sub) -> None:
    from .common import HelpFormatter, non_negative_int, positive_float, positive_int

    parser = sub.add_parser(
        "submit",
        help="evaluate a trained run on an IBM backend (fake_*: local testing mode)",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("run", metavar="RUN", help="run directory written by qmoe train")
    parser.add_argument("--backend", required=True, help="fake_NAME (local) or a real backend")
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--shots", type=positive_int, help="shots per circuit (default: the primitive's)"
    )
    group.add_argument(
        "--precision",
        type=positive_float,
        help="target precision, estimator (default: the primitive's)",
    )
    parser.add_argument(
        "--limit", type=positive_int, help="evaluate only K test samples (default: all)"
    )
    parser.add_argument("--offset", type=non_negative_int, default=0, help="first test sample")
    parser.add_argument("--chunk", type=positive_int, default=64, help="samples per job")
    parser.add_argument(
        "--primitive",
        choices=("estimator", "sampler"),
        help="estimator (expectation values) or sampler (counts) (default: estimator; sampler "
        "for routing.execution = 'measured', whose dynamic circuit the estimator cannot run)",
    )
    parser.add_argument(
        "--mitigation",
        choices=("none", "trex", "zne", "trex+zne"),
        help="error mitigation of the estimator: trex = measurement twirling + readout error "
        "extinction, zne = zero-noise extrapolation by gate folding (default: trex for the "
        "estimator, none for the sampler)",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="build, validate and price the jobs (circuits, shots, estimated QPU time); "
        "send nothing, write no ledger row",
    )
    parser.add_argument("--profile", default="default", help="transpile profile")
    parser.add_argument(
        "--isa",
        metavar="QPY",
        help="reuse an ISA circuit saved by transpile (default: transpile now)",
    )
    parser.add_argument(
        "--ledger", help="job ledger (default: $QMOE_LEDGER or ~/.qmoe/jobs.sqlite)"
    )
    parser.add_argument(
        "--channel", help="IBM channel (default: $QISKIT_IBM_CHANNEL or the saved account)"
    )
    parser.add_argument("--instance", help="IBM instance (default: $QISKIT_IBM_INSTANCE)")
    parser.add_argument(
        "--no-wait",
        action="store_true",
        help="real backends: return after submission, fetch later",
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(func=run)


def run(args) -> int:
    import numpy as np

    from ..errors import QmoeError
    from ..hardware import (
        Ledger,
        load_isa,
        open_backend,
        sha256_hex,
        submit_evaluation,
        transpile_model,
    )
    from ..hardware.primitives import mitigation_settings
    from ..models import circuit_of
    from ..spec import spec_to_toml
    from ..training import load_run
    from .common import CommandError

    run_ = load_run(args.run)
    program = circuit_of(run_.model)  # a model without a circuit stops here, before any ledger
    dynamic = program.dynamic_circuit is not None
    if args.primitive is None:
        args.primitive = "sampler" if dynamic else "estimator"
    if dynamic and args.primitive == "estimator":
        raise CommandError(
            "routing.execution = 'measured' is a dynamic circuit, which the estimator cannot "
            "run: use --primitive sampler"
        )
    data = run_.config.load_data()
    start = args.offset
    stop = len(data.x_test) if not args.limit else min(len(data.x_test), start + args.limit)
    if not 0 <= start < stop:
        raise CommandError(f"empty input slice {start}:{stop} of {len(data.x_test)} test samples")
    try:  # before the ledger file is created
        mitigation_settings(args.primitive, args.mitigation)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    # the backend first: an unknown name (or missing credentials) creates no ledger file
    handle = open_backend(args.backend, channel=args.channel, instance=args.instance)
    ledger = Ledger(args.ledger)
    log = (lambda msg: print(msg, file=sys.stderr)) if args.json else print
    try:
        if args.isa:
            transpiled, info = load_isa(args.isa)
            if transpiled.backend_name != handle.name:
                raise CommandError(
                    f"{args.isa} was transpiled for {transpiled.backend_name}, not {handle.name}"
                )
        else:
            transpiled = transpile_model(run_.model, handle.backend, args.profile)
        run_info = {
            "run_path": str(run_.path.resolve()),
            "spec_name": run_.spec.name,
            "spec_hash": sha256_hex(spec_to_toml(run_.spec).encode()),
            "weights_hash": sha256_hex(np.asarray(run_.weights, dtype=np.float64).tobytes()),
            "profile": transpiled.profile.name,
        }
        submission = submit_evaluation(
            handle,
            transpiled,
            run_.model,
            x=data.x_test[start:stop],
            weights=run_.weights,
            ledger=ledger,
            labels=np.asarray(data.y_test[start:stop]),
            offset=start,
            chunk=args.chunk,
            primitive=args.primitive,
            shots=args.shots,
            precision=args.precision,
            mitigation=args.mitigation,
            dry_run=args.dry_run,
            run_info=run_info,
            wait=not args.no_wait,
            log=log,
        )
    except QmoeError as exc:
        raise CommandError(f"{exc} (ledger: {ledger.path})") from None
    if submission.dry_run:
        _print_dry_run(args, handle, submission, stop - start)
        return 0
    rows = [r.to_dict() for r in submission.records]
    if args.json:
        print(
            json.dumps(
                {
                    "backend": handle.name,
                    "mode": handle.mode,
                    "ledger": str(ledger.path),
                    "accuracy": submission.accuracy,
                    "mitigation": submission.mitigation,
                    "estimated_qpu_seconds": submission.qpu_seconds,
                    "jobs": rows,
                }
            )
        )
    else:
        for r in submission.records:
            acc = r.result_data.get("accuracy") if r.result_data else None
            print(
                f"  row {r.id}: job {r.job_id} {r.status} inputs {r.input_start}:{r.input_stop}"
                + (f" accuracy {acc:.4f}" if acc is not None else "")
            )
        if submission.accuracy is not None:
            print(
                f"{handle.mode} accuracy {submission.accuracy:.4f} on {stop - start} test "
                f"samples on {handle.name} (ledger {ledger.path})"
            )
        if handle.mode == "local":
            print(
                "note: local-mode jobs ran in this process; their results are in the ledger "
                "and cannot be fetched again from the service"
            )
    return 0


def _print_dry_run(args, handle, submission, samples: int) -> None:
    totals = {
        "jobs": len(submission.prices),
        "circuits": sum(p["circuits"] for p in submission.prices),
        "total_shots": sum(p["total_shots"] for p in submission.prices),
        "estimated_qpu_seconds": submission.qpu_seconds,
    }
    if args.json:
        print(
            json.dumps(
                {
                    "dry_run": True,
                    "backend": handle.name,
                    "mode": handle.mode,
                    "primitive": args.primitive,
                    "mitigation": submission.mitigation,
                    "samples": samples,
                    **totals,
                    "prices": submission.prices,
                }
            )
        )
        return
    print(f"dry run: nothing sent to {handle.name} ({handle.mode}); no ledger row written")
    print(f"{'inputs':>12s} {'circuits':>9s} {'shots':>7s} {'total shots':>12s} {'QPU s':>9s}")
    for p in submission.prices:
        span = f"{p['input_start']}:{p['input_stop']}"
        print(
            f"{span:>12s} {p['circuits']:9d} {p['shots']:7d} {p['total_shots']:12d} "
            f"{p['qpu_seconds']:9.2f}"
        )
    name = submission.mitigation["name"]
    seconds = totals["estimated_qpu_seconds"]
    print(
        f"{samples} test samples, {args.primitive}, mitigation {name}: {totals['jobs']} "
        f"job{'s' if totals['jobs'] != 1 else ''}, "
        f"{totals['circuits']} circuits, {totals['total_shots']} shots, estimated QPU time "
        f"{seconds:.1f} s (gate durations x shots + repetition delay; no queueing or "
        "compilation overhead)"
    )
