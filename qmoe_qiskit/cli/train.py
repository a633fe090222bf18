"""``qmoe train SPEC --out RUN``: train a model and write a run directory."""

from __future__ import annotations


def register(sub) -> None:
    from ..data import DATASETS
    from ..engines import ENGINES
    from .common import (
        HelpFormatter,
        add_output_option,
        add_threads_option,
        classes_list,
        non_negative_int,
        positive_float,
        positive_int,
    )

    parser = sub.add_parser(
        "train",
        help="train a model; writes checkpoints, metrics and a plot",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("spec", metavar="SPEC", help="spec file or preset name")
    add_output_option(
        parser, dest="out", required=True, metavar="RUN", help="run directory to write"
    )
    parser.add_argument("--data", choices=DATASETS, help="data set (default: the spec's)")
    parser.add_argument(
        "--data-dir", help="directory with the IDX .gz files (mnist, fashion-mnist; default: none)"
    )
    parser.add_argument(
        "--classes", type=classes_list, help="labels to keep, e.g. 0,1,2,3 (default: the spec's)"
    )
    parser.add_argument(
        "--train-limit",
        type=non_negative_int,
        help="class-balanced cap on training samples, 0 = all (default: the spec's)",
    )
    parser.add_argument(
        "--test-limit",
        type=non_negative_int,
        help="class-balanced cap on test samples, 0 = all (default: the spec's)",
    )
    parser.add_argument("--epochs", type=positive_int, help="total epochs (default: the spec's)")
    parser.add_argument(
        "--batch-size", type=positive_int, help="mini-batch size (default: the spec's)"
    )
    parser.add_argument(
        "--lr", type=positive_float, help="Adam learning rate (default: the spec's)"
    )
    parser.add_argument(
        "--seed",
        type=non_negative_int,
        help="seed of weights, split, shuffles (default: the spec's)",
    )
    parser.add_argument(
        "--val-fraction",
        type=float,
        help="held-out validation fraction of the training split (default: the spec's)",
    )
    parser.add_argument(
        "--patience",
        type=non_negative_int,
        help="early stopping after N epochs without a lower validation loss, 0 = off "
        "(default: the spec's)",
    )
    parser.add_argument(
        "--balance",
        type=float,
        help="weight of the load-balancing routing loss, 0 = off (default: the spec's)",
    )
    parser.add_argument(
        "--specialise",
        type=float,
        help="weight of the per-input routing entropy loss, 0 = off (default: the spec's)",
    )
    parser.add_argument(
        "--class-routing",
        type=float,
        help="weight of the loss -I(class; expert) on each batch, 0 = off (default: the spec's)",
    )
    parser.add_argument("--engine", choices=ENGINES, help="execution engine (default: aer)")
    parser.add_argument(
        "--memory-gb",
        type=positive_float,
        help="working-memory budget of one pass in GB: Aer splits larger batches of circuits "
        "into calls, the torch engine recomputes states in slices; results unchanged "
        "(default: the spec's, 1)",
    )
    parser.add_argument(
        "--device", help="auto, cpu, gpu or cuda:N (default: auto = a GPU when there is one)"
    )
    parser.add_argument(
        "--noise",
        metavar="fake_NAME",
        help="noise-aware training: transpile for this fake backend and train on Aer with its "
        "noise model (exact noisy expectations and parameter-shift gradients; Aer only) "
        "(default: ideal)",
    )
    parser.add_argument("--noise-profile", help="transpile profile for --noise (default: default)")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue RUN from its checkpoint; only --epochs, --engine, --device, "
        "--patience and --memory-gb may differ from the saved settings (default: off)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_threads_option(parser, "the cores available to this process")
    parser.set_defaults(func=run, interrupt_hint=_resume_hint)


def _resume_hint(args) -> str:
    return f"resume with: qmoe train {args.spec} --out {args.out} --resume"


#: Command-line options that map to :class:`~qmoe_qiskit.training.RunConfig` fields.
SETTINGS = (
    "data",
    "data_dir",
    "classes",
    "train_limit",
    "test_limit",
    "epochs",
    "batch_size",
    "lr",
    "seed",
    "val_fraction",
    "patience",
    "balance",
    "specialise",
    "class_routing",
    "memory_gb",
    "engine",
    "device",
    "noise",
    "noise_profile",
)


def run(args) -> int:
    from pathlib import Path

    from ..spec import load_saved_spec, load_spec
    from ..training import RunConfig, train
    from ..training.runs import RUN_CONFIG, read_config
    from .common import set_threads

    set_threads(args.threads)
    given = {name: getattr(args, name) for name in SETTINGS}
    out = Path(args.out).expanduser()
    if args.resume and (out / RUN_CONFIG).is_file():
        base = read_config(out)
        if given["engine"] is None and given["device"] is None:
            given.update(engine=base.engine, device=base.device)
        config = base.replace(**given)
        own = Path(args.spec).expanduser()
        if own.is_file() and own.resolve() == (out / "spec.toml").resolve():
            spec = load_saved_spec(own)  # the run's own spec.toml, with its version's defaults
        else:
            spec = load_spec(args.spec)
    else:
        spec = load_spec(args.spec)
        given.setdefault("engine", None)
        config = RunConfig.from_spec(spec, **given)
    train(spec, args.out, config, resume=args.resume, progress=not args.quiet)
    return 0
