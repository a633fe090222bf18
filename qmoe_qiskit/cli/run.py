"""``qmoe run JOBFILE --out DIR``: run a declarative job file step by step."""

from __future__ import annotations

import json
import time
from pathlib import Path


def register(sub) -> None:
    from .common import HelpFormatter, add_output_option

    parser = sub.add_parser(
        "run",
        help="run a job file (a reproducible list of qmoe commands)",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("job", help="job file (TOML), e.g. jobs/digits4.toml")
    add_output_option(
        parser, dest="out", required=True, help="output directory, substituted for {out}"
    )
    parser.add_argument(
        "--var", action="append", default=[], metavar="NAME=VALUE", help="set a {NAME} placeholder"
    )
    parser.add_argument("--resume", action="store_true", help="skip steps that already finished")
    parser.add_argument("--dry-run", action="store_true", help="print the commands only")
    parser.set_defaults(func=run)


def run(args) -> int:
    from ..files import write_json
    from ..jobfile import check_confined, load_job, step_key, step_outputs
    from . import main
    from .common import CommandError, parse_vars

    job = load_job(args.job)
    out = Path(args.out).expanduser()
    variables = dict(job.variables)
    variables["out"] = str(out)
    variables.update(parse_vars(args.var))
    commands = [step.argv(variables) for step in job.steps]
    for argv in commands:
        check_confined(argv, out)
    if args.dry_run:
        for argv in commands:
            print("qmoe " + " ".join(argv))
        return 0
    if out.exists() and not out.is_dir():
        raise CommandError(f"--out {out} is a file, not a directory: choose a new --out")
    out.mkdir(parents=True, exist_ok=True)
    state_path = out / "job-state.json"
    try:
        done = set(json.loads(state_path.read_text())["done"]) if state_path.is_file() else set()
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CommandError(
            f"{state_path} cannot be read ({exc}); remove it to run every step again"
        ) from None
    if done and not args.resume:
        raise CommandError(f"{out} holds a started job: pass --resume, or choose a new --out")
    print(f"job {job.path}: {job.description}")
    for i, argv in enumerate(commands, 1):
        key = step_key(argv)
        if key in done:
            print(f"[{i}/{len(commands)}] done already: qmoe {' '.join(argv)}")
            continue
        run_argv = argv
        if args.resume and argv[0] == "train" and "--resume" not in argv:
            started_run = any((Path(o) / "run.json").is_file() for o in step_outputs(argv))
            if started_run:  # a training step the interruption cut short: continue it
                run_argv = [*argv, "--resume"]
        print(f"[{i}/{len(commands)}] qmoe {' '.join(run_argv)}", flush=True)
        started = time.perf_counter()
        status = main(run_argv)
        if status:
            raise CommandError(f"step {i} failed with exit status {status}; rerun with --resume")
        done.add(key)
        write_json(state_path, {"done": sorted(done)})
        print(f"[{i}/{len(commands)}] finished in {time.perf_counter() - started:.1f} s")
    return 0
