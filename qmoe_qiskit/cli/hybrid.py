"""``qmoe hybrid-study``: the hybrid-QMoE router ablation, noise study and Markdown report."""

from __future__ import annotations


def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(v) for v in text.split(",") if v.strip())


def _names(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip())


def register(sub) -> None:
    from .common import HelpFormatter, add_output_option

    parser = sub.add_parser(
        "hybrid-study",
        help="hybrid QMoE: linear/quantum/MLP routers + linear experts, noise study, report",
        formatter_class=HelpFormatter,
    )
    add_output_option(
        parser, dest="out", required=True, help="directory for results.json, PNGs, report"
    )
    parser.add_argument("--seeds", type=int, default=5, help="number of seeds 0..N-1 (5)")
    parser.add_argument("--epochs", type=int, default=100, help="maximum epochs (100)")
    parser.add_argument("--patience", type=int, default=15, help="early-stopping patience (15)")
    parser.add_argument(
        "--datasets", type=_names, default=("moons", "mnist01", "fashion01"),
        help="comma-separated subset of moons,mnist01,fashion01",
    )  # fmt: skip
    parser.add_argument(
        "--data-dir",
        help="directory with the MNIST/Fashion-MNIST IDX files (default: none; needed for "
        "mnist01, fashion01)",
    )
    parser.add_argument(
        "--noise-eps",
        type=_floats,
        default=None,
        help="depolarizing rates (default: 0,0.005,0.01,0.02,0.03,0.05)",
    )
    parser.add_argument(
        "--fake-backends", type=_names, default=None,
        help="fake IBM backends, '' for none (default: FakeManilaV2,FakeTorino)",
    )  # fmt: skip
    parser.add_argument("--shots", type=int, default=2048, help="shots per fake-backend sample")
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 2 seeds, 10 epochs, 512 shots"
    )
    parser.add_argument(
        "--restart", action="store_true",
        help="ignore finished runs in OUT/results.json (default: keep them and go on)",
    )  # fmt: skip
    parser.set_defaults(func=run)


def run(args) -> int:
    from ..experiments.hybrid_protocol import NOISE_EPS, STUDY_DATASETS
    from ..experiments.hybrid_study import run_study
    from .common import CommandError

    unknown = [d for d in args.datasets if d not in STUDY_DATASETS]
    if unknown:
        raise CommandError(f"unknown data set {unknown[0]!r}: use {', '.join(STUDY_DATASETS)}")
    if args.seeds < 1 or args.epochs < 1 or args.patience < 1 or args.shots < 1:
        raise CommandError("--seeds, --epochs, --patience and --shots must be positive")
    seeds, epochs, shots = args.seeds, args.epochs, args.shots
    if args.quick:
        seeds, epochs, shots = min(seeds, 2), min(epochs, 10), min(shots, 512)
    if any(d != "moons" for d in args.datasets) and not args.data_dir:
        raise CommandError("--data-dir is needed for mnist01 and fashion01")
    try:
        run_study(
            args.out,
            seeds=tuple(range(seeds)),
            epochs=epochs,
            patience=args.patience,
            datasets=args.datasets,
            data_dir=args.data_dir,
            noise_eps=NOISE_EPS if args.noise_eps is None else args.noise_eps,
            fake_backends=args.fake_backends,
            shots=shots,
            resume=not args.restart,
        )
    except ValueError as error:
        raise CommandError(str(error)) from None
    return 0
