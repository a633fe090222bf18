"""``qmoe routing RUN``: how the trained router uses its experts, class by class."""

from __future__ import annotations

import json
from pathlib import Path


def register(sub) -> None:
    from ..engines import ENGINES
    from .common import HelpFormatter

    parser = sub.add_parser(
        "routing",
        help="class x expert routing matrix, entropies and I(class; expert) of a run",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("run", metavar="RUN", help="run directory written by qmoe train")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument(
        "-o", "--output", metavar="FILE", help="draw the matrix as a heatmap (default: no plot)"
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
        help="also compute the Holevo bound on I(class; expert) of the routing register after "
        "the encoder (no routing ansatz can exceed it; about 7 ms per input)",
    )
    parser.add_argument("--engine", choices=ENGINES, help="engine (default: torch)")
    parser.set_defaults(func=run)


def run(args) -> int:
    from ..training import load_run
    from ..training.routing import (
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
    bound = None
    if args.bound:
        bound = routing_information_bound(loaded.model, x, y, loaded.model.num_classes)
    if args.json:
        extra = {"information_bound": bound} if args.bound else {}
        print(
            json.dumps({"run": str(loaded.path), "split": args.split, **stats.to_dict(), **extra})
        )
    else:
        experts = stats.matrix.shape[1]
        print(f"{loaded.spec.name}: routing on the {args.split} split ({len(y)} inputs)")
        header = "".join(f"  expert {k}" for k in range(experts))
        print(f"{'':22s}{header}  entropy")
        for name, row, entropy in zip(names, stats.matrix, stats.class_entropy, strict=True):
            cells = "".join(f"  {p:8.3f}" for p in row)
            print(f"{name:22s}{cells}  {entropy:6.3f} bits")
        print(f"I(class; expert)        {stats.mutual_information:.3f} bits")
        if args.bound:
            limit = "n/a (the router re-uploads the input)"
            if bound is not None:
                limit = f"{bound:.3f} bits"
            print(f"Holevo bound            {limit}: the most any routing ansatz can reach")
        print(f"mean input entropy      {stats.mean_input_entropy:.3f} bits")
        print(f"top expert P > 0.5      {stats.top_fraction:.3f} of inputs")
        if stats.unrouted > 1e-9:
            print(f"no expert switched on   {stats.unrouted:.3f} (mean probability)")
    if args.output:
        _plot(stats, names, loaded.spec.name, Path(args.output).expanduser())
        if not args.json:
            print(f"wrote {args.output}")
    return 0


def _plot(stats, names: list[str], title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    classes, experts = stats.matrix.shape
    fig, ax = plt.subplots(figsize=(1.2 * experts + 3, 0.6 * classes + 1.8))
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
    plt.close(fig)
