"""``qmoe qt``: Quantum-Train studies (DiffQAS-QT): time series, classification, report."""

from __future__ import annotations


def _names(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip())


def _configs(text: str) -> tuple[str | int, ...]:
    out: list[str | int] = []
    for value in _names(text):
        out.append(value if value == "diffqas" else int(value))
    return tuple(out)


SERIES_TASKS = ("bessel", "damped-shm", "delayed-qc", "narma5", "narma10")


def _common(parser, seeds: int, epochs: int) -> None:
    """Arguments every training study takes."""
    from .common import add_output_option, shard_spec

    add_output_option(parser, dest="out", required=True, help="study directory (runs/, resumable)")
    parser.add_argument("--seeds", type=int, default=seeds, help="seeds 0..N-1")
    parser.add_argument("--epochs", type=int, default=epochs, help="epochs per run")
    parser.add_argument("--shard", type=shard_spec, default=(0, 1), metavar="I/K",
                        help="this process's share of the runs (default: all)")  # fmt: skip
    parser.add_argument("--engine", default="torch", help="torch or aer")


def register(sub) -> None:
    from .common import HelpFormatter, add_output_option

    parser = sub.add_parser(
        "qt",
        help="Quantum-Train (DiffQAS-QT): time-series table, classification, RL, report",
        formatter_class=HelpFormatter,
    )
    commands = parser.add_subparsers(dest="qt_command", required=True, metavar="STUDY")
    series = commands.add_parser(
        "series", help="paper Table II: QT-LSTM on five time series, DiffQAS and configs 1-12",
        formatter_class=HelpFormatter,
    )  # fmt: skip
    _common(series, seeds=3, epochs=100)
    series.add_argument(
        "--tasks", type=_names, default=SERIES_TASKS, metavar="NAMES",
        help="comma-separated time series (default: the paper's five; also narma5-input, "
        "narma10-input: windows of the NARMA input u predict y, as the authors' loader)",
    )  # fmt: skip
    series.add_argument(
        "--configs", type=_configs, default=("diffqas", *range(1, 13)), metavar="LIST",
        help="comma-separated: diffqas and/or candidate indices 1..12 (default: all 13)",
    )  # fmt: skip
    series.add_argument(
        "--select", default="last", choices=("last", "val"),
        help="score the last epoch (the paper) or the best epoch on a held-out validation split",
    )  # fmt: skip
    series.add_argument(
        "--order", default="time", choices=("shuffled", "time"),
        help="mini-batches in time order every epoch (the authors' code), or in a fresh order "
        "every epoch",
    )  # fmt: skip
    series.add_argument(
        "--init", dest="angle_init", default="normal", choices=("uniform", "normal"),
        help="generator angles 0.01 * N(0, 1) (the authors' code) or uniform in [0, 2 pi)",
    )  # fmt: skip
    series.add_argument(
        "--dtype", default="float32", choices=("float64", "float32"),
        help="precision of generator, mapping and LSTM (float32: the authors' code)",
    )  # fmt: skip
    series.add_argument(
        "--points", type=int, default=0, metavar="N",
        help="length of each generated series (default 0: the paper's; the authors' newer "
        "scripts use 1000 for bessel)",
    )  # fmt: skip
    series.add_argument(
        "--train-equivalent", action="store_true",
        help="also train configs 3, 4, 6 and 12, whose generators give the same constant "
        "distribution as configs 1 and 9 (the same model; by default not trained again)",
    )  # fmt: skip
    series.set_defaults(func=run_series)
    classify = commands.add_parser(
        "classify", help="QT-generated 784-128-64-2 classifier on MNIST/Fashion pairs",
        formatter_class=HelpFormatter,
    )  # fmt: skip
    _common(classify, seeds=1, epochs=10)
    classify.add_argument(
        "--tasks", type=_names, default=("fashion-1v5",), metavar="NAMES",
        help="comma-separated: mnist-1v5, fashion-1v5, fashion-5v7 (default: fashion-1v5)",
    )  # fmt: skip
    classify.add_argument("--data-dir", required=True, help="directory with the IDX .gz files")
    classify.add_argument(
        "--select", default="last", choices=("last", "val"),
        help="score the last epoch or the best epoch on a validation split (the last 10 %% of "
        "the training images, held out)",
    )  # fmt: skip
    classify.set_defaults(func=run_classify)
    rl = commands.add_parser(
        "rl", help="A2C on MiniGrid: QT-generated actor and critic vs ordinary weights",
        formatter_class=HelpFormatter,
    )  # fmt: skip
    add_output_option(rl, dest="out", required=True, help="study directory (runs/, resumable)")
    rl.add_argument("--agents", type=_names, default=("qt", "classical"), metavar="NAMES",
                    help="comma-separated: qt, classical, qt-actor (the QT actor with the "
                    "classical critic, a diagnostic) (default: qt,classical)")  # fmt: skip
    rl.add_argument("--env", default="MiniGrid-Empty-5x5-v0", help="MiniGrid environment id")
    rl.add_argument("--episodes", type=int, default=50_000, help="episodes per agent (50000)")
    rl.add_argument("--seeds", type=int, default=1, help="seeds 0..N-1 (1)")
    rl.add_argument(
        "--envs", type=int, default=16,
        help="environments stepped together per update (16, the paper's worker count; the QT "
        "agent needed 64 to leave its near-uniform policy on MiniGrid)",
    )  # fmt: skip
    rl.add_argument(
        "--lr", type=float, default=1e-4,
        help="Adam learning rate (the paper's 1e-4 per A3C worker; 16 workers x 1e-4 = 16e-4 "
        "gives this synchronous agent about the same parameter movement per step)",
    )  # fmt: skip
    rl.add_argument(
        "--entropy", type=float, default=0.01, metavar="WEIGHT",
        help="weight of the entropy bonus in the actor-critic loss (0.01)",
    )  # fmt: skip
    rl.add_argument(
        "--activation", default="relu", choices=("relu", "leaky-relu", "tanh"),
        help="hidden-layer activation of actor and critic (relu; leaky-relu keeps a gradient "
        "through units a generated layer switched off)",
    )  # fmt: skip
    rl.add_argument(
        "--vector", default="sync", choices=("sync", "async"),
        help="step the environments in this process or one subprocess each",
    )  # fmt: skip
    rl.add_argument(
        "--checkpoint-every", type=int, default=500, metavar="UPDATES",
        help="updates between checkpoints (500; a killed run resumes from the last)",
    )  # fmt: skip
    rl.set_defaults(func=run_rl)
    report = commands.add_parser(
        "report", help="Markdown report and plots of a QT study directory",
        formatter_class=HelpFormatter,
    )  # fmt: skip
    report.add_argument("study", help="study directory")
    add_output_option(report, dest="output", help="report directory (default: STUDY)")
    report.set_defaults(func=run_report)
    restore = commands.add_parser(
        "restore", help="seed a study directory with a report's results.json (continue a "
        "study on a new machine: restored runs are not trained again)",
        formatter_class=HelpFormatter,
    )  # fmt: skip
    restore.add_argument("results", help="results.json written by qmoe qt report")
    add_output_option(restore, dest="out", required=True, help="study directory")
    restore.set_defaults(func=run_restore)


def _study(args, runs) -> int:
    from ..experiments.qt_study import run_study
    from .common import CommandError

    try:
        run_study(runs, args.out, shard=args.shard, data_dir=getattr(args, "data_dir", None),
                  engine=args.engine)  # fmt: skip
    except ValueError as error:
        raise CommandError(str(error)) from None
    return 0


def run_series(args) -> int:
    from ..experiments.qt_study import series_runs
    from .common import CommandError

    if args.seeds < 1 or args.epochs < 1:
        raise CommandError("--seeds and --epochs must be positive")
    try:
        runs = series_runs(
            args.tasks, args.configs, tuple(range(args.seeds)), args.epochs, args.select,
            args.order, args.train_equivalent, angle_init=args.angle_init, dtype=args.dtype,
            points=args.points,
        )  # fmt: skip
    except ValueError as error:
        raise CommandError(str(error)) from None
    if not args.train_equivalent:
        from ..experiments.qt_study import equivalent_configs

        same = {c: r for c, r in equivalent_configs().items() if c in args.configs}
        if same:
            pairs = ", ".join(f"{c} as {r}" for c, r in same.items())
            print(f"not trained: configs that are the same model as a lower one ({pairs}); "
                  "the report shows the representative's numbers (--train-equivalent trains "
                  "them)")  # fmt: skip
    return _study(args, runs)


def run_classify(args) -> int:
    from ..experiments.qt_study import classify_run
    from .common import CommandError

    if args.seeds < 1 or args.epochs < 1:
        raise CommandError("--seeds and --epochs must be positive")
    try:
        runs = [
            classify_run(task, seed, args.epochs, select=args.select)
            for seed in range(args.seeds)
            for task in args.tasks
        ]
    except ValueError as error:
        raise CommandError(str(error)) from None
    return _study(args, runs)


def run_rl(args) -> int:
    from ..experiments.qt_rl import RLRun, run_rl
    from .common import CommandError

    try:
        runs = [
            RLRun(
                agent,
                seed,
                episodes=args.episodes,
                env=args.env,
                envs=args.envs,
                checkpoint_every=args.checkpoint_every,
                vector=args.vector,
                lr=args.lr,
                entropy=args.entropy,
                activation=args.activation,
            ).validate()
            for seed in range(args.seeds)
            for agent in args.agents
        ]
    except ValueError as error:
        raise CommandError(str(error)) from None
    for run in runs:
        result = run_rl(run, args.out)
        print(
            f"{run.name}: mean return of the last 1000 episodes "
            f"{result['final_mean_return_1000']:.3f} ({result['seconds']:.0f} s)"
        )
    return 0


def run_report(args) -> int:
    from ..experiments.qt_report import write_report

    path = write_report(args.study, args.output)
    print(f"wrote {path}")
    return 0


def run_restore(args) -> int:
    from ..experiments.qt_study import restore
    from .common import CommandError

    try:
        count = restore(args.results, args.out)
    except ValueError as error:
        raise CommandError(str(error)) from None
    print(f"restored {count} runs into {args.out}")
    return 0
