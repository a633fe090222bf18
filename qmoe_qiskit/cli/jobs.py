"""``qmoe jobs list|status|fetch|cancel|recover``: work with the job ledger."""

from __future__ import annotations

import json


def register(sub) -> None:
    from .common import HelpFormatter, positive_int

    parser = sub.add_parser(
        "jobs",
        help="list, query, fetch, cancel or recover ledger jobs",
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "action", choices=("list", "status", "fetch", "cancel", "recover"), help="what to do"
    )
    parser.add_argument("job", nargs="*", help="ledger row id, job id or tag")
    parser.add_argument(
        "--ledger", help="job ledger (default: $QMOE_LEDGER or ~/.qmoe/jobs.sqlite)"
    )
    parser.add_argument("--limit", type=positive_int, default=50, help="list: newest N rows")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(func=run)


_RECOVER_NOTES = {
    "live": "its submitting process still runs; left alone",
    "elsewhere": "submitted from another host; left alone (recover there)",
    "lost": "its submitting process is gone, and the job with it: marked lost",
    "found": "the service has its job: job id filled in",
    "refreshed": "its submitting process is gone; status asked of the service "
    "('qmoe jobs fetch' collects the result)",
    "unsent": "no job carries its tag yet, and the process that wrote it is unknown; left alone",
}


def _line(r) -> str:
    acc = (r.result_data or {}).get("accuracy")
    mitigation = (r.mitigation_data or {}).get("name", "-")
    qpu = "" if r.estimated_qpu_seconds is None else f"~{r.estimated_qpu_seconds:.1f}s"
    return (
        f"{r.id:>4} {r.status:13s} {r.mode:5s} {r.backend:16s} {str(r.job_id):36s} "
        f"{r.input_start}:{r.input_stop} {r.spec_name or ''} mitigation={mitigation} {qpu} "
        f"{'' if acc is None else f'acc={acc:.4f}'} {r.created_at}"
    )


def run(args) -> int:
    from ..hardware import (
        LOCAL_JOB_MESSAGE,
        Ledger,
        cancel_job,
        recover_jobs,
        refresh_status,
    )
    from .common import CommandError

    ledger = Ledger(args.ledger)
    if args.action in ("status", "fetch", "cancel") and not args.job:
        raise CommandError(f"jobs {args.action} needs a job (ledger row id, job id or tag)")
    rows = []
    notes = []
    if args.action == "list":
        rows = ledger.rows(limit=args.limit)
    elif args.action == "recover":
        recovered = recover_jobs(ledger)
        rows = [r.record for r in recovered]
        notes = [f"row {r.record.id}: {_RECOVER_NOTES[r.action]}" for r in recovered]
        if not recovered:
            notes.append("no unfinished rows")
    else:
        for key in args.job:
            record = ledger.get(key)
            if record.mode == "local":
                if args.action == "cancel" or (args.action == "fetch" and not record.result):
                    raise CommandError(
                        LOCAL_JOB_MESSAGE.format(job=record.job_id, backend=record.backend)
                    )
                notes.append(
                    f"row {record.id}: local job; status and result as recorded "
                    "by the submitting process (it cannot be queried again)"
                )
                rows.append(record)
                continue
            action = {"status": refresh_status, "fetch": _fetch, "cancel": cancel_job}
            rows.append(action[args.action](ledger, key))
    if args.json:
        print(
            json.dumps(
                {"ledger": str(ledger.path), "jobs": [r.to_dict() for r in rows], "notes": notes}
            )
        )
        return 0
    print(f"ledger {ledger.path}")
    for r in rows:
        print(_line(r))
        if args.action == "fetch" and r.result_data:
            print(f"     predictions {r.result_data['predictions']}")
        if r.error:
            print(f"     error: {r.error}")
    for note in notes:
        print(note)
    return 0


def _fetch(ledger, key):
    """Fetch a real job; its run supplies the observables (sampler) and readout (hybrid)."""
    from ..hardware import fetch_job
    from ..models import circuit_of
    from ..training import load_run
    from .common import is_run_dir, run_readout

    record = ledger.get(key)
    if record.result is not None or not record.run_path or not is_run_dir(record.run_path):
        return fetch_job(ledger, key)
    run = load_run(record.run_path)
    observables = circuit_of(run.model).observables
    readout = run_readout(run, record.input_start, record.input_stop)
    return fetch_job(ledger, key, observables, readout=readout)
