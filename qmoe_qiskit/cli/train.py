"""``qmoe train SPEC``: train a model and write a run directory."""

from __future__ import annotations


def _classes(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(c) for c in text.split(","))
    except ValueError as exc:
        import argparse

        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from exc


def register(sub) -> None:
    from ..data import DATASETS
    from ..network import ENGINES

    parser = sub.add_parser("train", help="train a model; writes checkpoints, metrics and a plot")
    parser.add_argument("spec", help="spec file or preset name")
    parser.add_argument("--data", choices=DATASETS, help="data set (default: the spec's)")
    parser.add_argument("--data-dir", help="directory with the IDX .gz files (mnist, fashion)")
    parser.add_argument("--classes", type=_classes, help="labels to keep, e.g. 0,1,2,3")
    parser.add_argument("--train-limit", type=int, help="class-balanced cap on training samples")
    parser.add_argument("--test-limit", type=int, help="class-balanced cap on test samples")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--lr", type=float, help="Adam learning rate")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--engine", choices=ENGINES, help="execution engine (default: aer)")
    parser.add_argument("--device", help="auto (default), cpu or gpu")
    parser.add_argument("--out", required=True, help="run directory to write")
    parser.add_argument("--resume", action="store_true", help="continue from --out's checkpoint")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args) -> int:
    from ..spec import load_spec
    from ..training import RunConfig, train

    spec = load_spec(args.spec)
    for name in ("epochs", "batch_size", "train_limit", "test_limit"):
        value = getattr(args, name)
        if value is not None and value < (0 if "limit" in name else 1):
            from . import CommandError

            raise CommandError(f"--{name.replace('_', '-')} must be positive, got {value}")
    config = RunConfig.from_spec(
        spec,
        data=args.data,
        data_dir=args.data_dir,
        classes=args.classes,
        train_limit=args.train_limit,
        test_limit=args.test_limit,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        engine=args.engine,
        device=args.device,
    )
    train(spec, args.out, config, resume=args.resume, progress=not args.quiet)
    return 0
