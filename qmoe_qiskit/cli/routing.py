"""``qmoe routing RUN``: how the trained router uses its experts, class by class."""

from __future__ import annotations

import json
from pathlib import Path

from ..figures import subplots


def register(sub) -> None:
    from ..engines import ENGINES
    from .common import HelpFormatter, add_output_option

    parser = sub.add_parser(
        "routing",
        help="class x expert routing matrix, entropies and I(class; expert) of a run",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("run", metavar="RUN", help="run directory written by qmoe train")
    parser.add_argument("--json", action="store_true", help="print JSON")
    add_output_option(
        parser,
        dest="output",
        metavar="FILE",
        help="draw the matrix as a heatmap (default: no plot)",
    )
    parser.add_argument(
        "--split",
        choices=("test", "train"),
        default="test",
        help="which split of the run's data to route",
    )
    parser.add_argument(
        "--bound",
        action="store_true",
        help="also report the ceiling on I(class; expert) that applies to this router design and "
        "why (Holevo bound of the register the router reads after the encoder, or log2 experts "
        "for a router that re-uploads the input; about 7 ms per input)",
    )
    parser.add_argument("--engine", choices=ENGINES, help="engine (default: torch)")
    parser.set_defaults(func=run)


def run(args) -> int:
    from ..training import load_run, predict_classes
    from ..training.routing import (
        expert_specialisation,
        routing_information_bound,
        routing_probabilities,
        routing_stats,
    )
    from .common import CommandError

    loaded = load_run(args.run)
    if args.output and not Path(args.output).expanduser().parent.is_dir():
        raise CommandError(f"-o: directory {Path(args.output).parent} does not exist")
    data = loaded.config.load_data()
    x, y = (data.x_test, data.y_test) if args.split == "test" else (data.x_train, data.y_train)
    probs = routing_probabilities(loaded.model, loaded.weights, x, engine=args.engine or "torch")
    stats = routing_stats(probs, y, loaded.model.num_classes)
    names = [f"class {c} (label {label})" for c, label in enumerate(loaded.config.classes)]
    predictions = predict_classes(loaded, x, engine=args.engine or "torch")
    experts = expert_specialisation(probs, y, predictions, loaded.model.num_classes)
    bound = None
    if args.bound:
        bound = routing_information_bound(loaded.model, x, y, loaded.model.num_classes)
    if args.json:
        extra = {"information_bound": bound.to_dict() if bound else None} if args.bound else {}
        out = {"run": str(loaded.path), "split": args.split, **stats.to_dict(), **extra}
        print(json.dumps({**out, "experts": experts}))
    else:
        print(f"{loaded.spec.name}: routing on the {args.split} split ({len(y)} inputs)")
        header = "".join(f"  expert {k}" for k in range(stats.matrix.shape[1]))
        print(f"{'':22s}{header}  entropy")
        for name, row, entropy in zip(names, stats.matrix, stats.class_entropy, strict=True):
            cells = "".join(f"  {p:8.3f}" for p in row)
            print(f"{name:22s}{cells}  {entropy:6.3f} bits")
        print(f"I(class; expert)        {stats.mutual_information:.3f} bits")
        if args.bound and bound is not None:
            limited = "information-limited" if bound.information_limited else "not capped"
            print(f"ceiling                 {bound.bits:.3f} bits ({limited} by the encoding): "
                  f"{bound.reason}")  # fmt: skip
            if bound.holevo is not None:
                print(f"  Holevo ({bound.register})     {bound.holevo:.3f} bits; capacity "
                      f"min(log2 experts, H(class)) {bound.capacity:.3f} bits")  # fmt: skip
        print(f"mean input entropy      {stats.mean_input_entropy:.3f} bits")
        print(f"top expert P > 0.5      {stats.top_fraction:.3f} of inputs")
        if stats.unrouted > 1e-9:
            print(f"no expert switched on   {stats.unrouted:.3f} (mean probability)")
        print("per expert (inputs routed to their most likely expert):")
        for row in experts:
            if not row["inputs"]:
                print(f"  expert {row['expert']}: no input")
                continue
            shares = row["classes"]
            assert isinstance(shares, list)  # expert_specialisation: a share per class
            served = ", ".join(
                f"{names[c].split(' ')[1]}: {share:.0%}"
                for c, share in enumerate(shares)
                if share >= 0.05
            )
            print(f"  expert {row['expert']}: {row['share']:.0%} of inputs, classes {served}; "
                  f"accuracy {row['accuracy']:.1%}")  # fmt: skip
    if args.output:
        _plot(stats, names, loaded.spec.name, Path(args.output).expanduser())
        if not args.json:
            print(f"wrote {args.output}")
    return 0


def _plot(stats, names: list[str], title: str, path: Path) -> None:

    classes, experts = stats.matrix.shape
    fig, ax = subplots(figsize=(1.2 * experts + 3, 0.6 * classes + 1.8))
    image = ax.imshow(stats.matrix, vmin=0, vmax=1, cmap="viridis")
    for c in range(classes):
        for k in range(experts):
            value = stats.matrix[c, k]
            ax.text(k, c, f"{value:.2f}", ha="center", va="center",
                    color="black" if value > 0.6 else "white")  # fmt: skip
    ax.set_xticks(range(experts), [f"expert {k}" for k in range(experts)])
    ax.set_yticks(range(classes), names)
    ax.set_title(f"{title}: I(class; expert) = {stats.mutual_information:.2f} bits")
    fig.colorbar(image, ax=ax, label="mean P(expert | x)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
