"""``qmoe sweep SWEEP --out DIR`` and ``qmoe report DIR -o REPORT_DIR``."""

from __future__ import annotations


def register(sub) -> None:
    from .common import HelpFormatter, add_output_option, add_threads_option, positive_int

    parser = sub.add_parser(
        "sweep",
        help="run a grid of training runs (Ray tasks when Ray is installed), resumable",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("sweep", metavar="SWEEP", help="sweep file (TOML), e.g. jobs/*.toml")
    add_output_option(
        parser, dest="out", required=True, help="output directory (runs/, results.json)"
    )
    parser.add_argument(
        "--var", action="append", default=[], metavar="NAME=VALUE", help="set a {NAME} value"
    )
    parser.add_argument("--address", help="join this Ray cluster (default: start a local one)")
    parser.add_argument(
        "--workers",
        type=positive_int,
        help="local Ray cluster: CPUs to use, one run per CPU (default: all)",
    )
    parser.add_argument(
        "--sequential", action="store_true", help="run in this process, one run after another"
    )
    add_threads_option(
        parser, "per run: the cores available with --sequential, 1 per Ray worker (CPU)"
    )
    parser.set_defaults(func=run)

    report = sub.add_parser(
        "report", help="Markdown tables and plots of a sweep", formatter_class=HelpFormatter
    )
    report.add_argument("results", metavar="DIR", help="directory written by qmoe sweep")
    add_output_option(report, dest="output", required=True, help="directory for report.md, PNGs")
    report.set_defaults(func=run_report)


def run(args) -> int:
    import importlib.util

    from ..experiments.sweep import load_sweep, run_sweep
    from .common import CommandError, available_cores, parse_vars

    sweep = load_sweep(args.sweep, parse_vars(args.var))
    has_ray = importlib.util.find_spec("ray") is not None
    if (args.address or args.workers) and not has_ray:
        raise CommandError("--address and --workers need Ray: pip install 'qmoe-qiskit[ray]'")
    executor = "ray" if has_ray and not args.sequential else "sequential"
    threads = args.threads or (1 if executor == "ray" else available_cores())
    print(f"sweep {sweep.path}: {len(sweep.runs)} runs, {executor}, {threads} torch thread(s) each")
    run_sweep(
        sweep,
        args.out,
        executor=executor,
        address=args.address,
        workers=args.workers,
        threads=threads,
    )
    return 0


def run_report(args) -> int:
    from ..experiments.sweep_report import write_sweep_report

    path = write_sweep_report(args.results, args.output)
    print(f"wrote {path}")
    return 0
