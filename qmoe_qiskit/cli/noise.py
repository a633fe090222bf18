"""``qmoe noise``: noise-aware vs ideal training, scored on the same noisy simulators."""

from __future__ import annotations


def register(sub) -> None:
    from .common import HelpFormatter, add_output_option, non_negative_int, positive_int, shard_spec

    parser = sub.add_parser(
        "noise",
        help="study: train ideal and on each fake backend's noise, score all on each noise",
        formatter_class=HelpFormatter,
    )
    commands = parser.add_subparsers(dest="noise_command", required=True, metavar="STEP")
    study = commands.add_parser(
        "study", help="train and score the runs (resumable), then write the report",
        formatter_class=HelpFormatter,
    )  # fmt: skip
    add_output_option(study, dest="out", required=True, help="study directory (runs/, resumable)")
    study.add_argument("--spec", default="qmoe-digits4-pca8-e2", help="spec file or preset")
    study.add_argument(
        "--backends", default="fake_manila,fake_torino",
        help="comma-separated fake backends: training noises and scoring simulators",
    )  # fmt: skip
    study.add_argument("--seeds", type=positive_int, default=3, help="seeds 0..N-1")
    study.add_argument("--epochs", type=non_negative_int, default=0,
                       help="epochs per run (0: the spec's)")  # fmt: skip
    study.add_argument("--train-limit", type=non_negative_int, default=0,
                       help="class-balanced training samples per run (0: all)")  # fmt: skip
    study.add_argument("--test-limit", type=non_negative_int, default=0,
                       help="class-balanced test samples (0: all)")  # fmt: skip
    study.add_argument("--profile", default="default", help="transpile profile")
    study.add_argument("--shard", type=shard_spec, default=(0, 1), metavar="I/K",
                       help="this process's share of the runs")  # fmt: skip
    study.add_argument("--quiet", action="store_true", help="no progress bars")
    study.set_defaults(func=run_study)
    report = commands.add_parser(
        "report", help="Markdown report and plot of a study directory",
        formatter_class=HelpFormatter,
    )  # fmt: skip
    report.add_argument("study", help="study directory")
    add_output_option(report, dest="output", help="report directory (default: STUDY)")
    report.set_defaults(func=run_report)


def run_study(args) -> int:
    from ..experiments.noise_study import NoiseStudy, run_noise_study, write_report
    from .common import CommandError

    backends = tuple(b.strip() for b in args.backends.split(",") if b.strip())
    if not backends or any(not b.startswith("fake_") for b in backends):
        raise CommandError(f"--backends: fake backend names, got {args.backends!r}")
    study = NoiseStudy(
        spec=args.spec, backends=backends, seeds=args.seeds, epochs=args.epochs,
        train_limit=args.train_limit, test_limit=args.test_limit, profile=args.profile,
    )  # fmt: skip
    try:
        run_noise_study(study, args.out, shard=args.shard, progress=not args.quiet)
    except ValueError as error:
        raise CommandError(str(error)) from None
    print(f"wrote {write_report(args.out)}")
    return 0


def run_report(args) -> int:
    from ..experiments.noise_study import write_report

    print(f"wrote {write_report(args.study, args.output)}")
    return 0
