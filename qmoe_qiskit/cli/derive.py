"""``qmoe derive RUN -o SPEC.toml``: the most weighted candidate of a DiffQAS search."""

from __future__ import annotations

import json


def register(sub) -> None:
    from .common import HelpFormatter, add_output_option

    parser = sub.add_parser(
        "derive",
        help="write the argmax architecture of a trained DiffQAS search as a plain spec",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("run", metavar="RUN", help="run directory of a DiffQAS search")
    add_output_option(parser, dest="output", required=True, help="spec file to write (.toml)")
    parser.add_argument("--json", action="store_true", help="print the structural weights as JSON")
    parser.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    from ..files import atomic_write
    from ..models.search import SearchModel, derive_spec
    from ..spec import spec_to_toml
    from .common import CommandError, is_run_dir, load_model_or_run

    if not is_run_dir(args.run):
        raise CommandError(f"{args.run} is not a run directory (no spec.toml)")
    model, loaded = load_model_or_run(args.run)
    assert loaded is not None  # a run directory (checked above) loads its run
    if not isinstance(model, SearchModel):
        raise CommandError(
            f"{args.run} is not a DiffQAS search (no block of its spec has operators = 'diffqas')"
        )
    output = Path(args.output).expanduser()
    if not output.parent.is_dir():
        raise CommandError(f"-o: directory {output.parent} does not exist")
    spec = derive_spec(model, loaded.weights)
    text = spec_to_toml(spec)
    atomic_write(output, lambda p: p.write_text(text))
    weights = model.structural_weights(loaded.weights)
    derived = model.derived(loaded.weights)
    if args.json:
        print(json.dumps({
            "spec": str(output),
            "derived": {block: c.index for block, c in derived.items()},
            "structural_weights": {
                block: {str(i + 1): float(w) for i, w in enumerate(row)}
                for block, row in zip(model.blocks, weights, strict=True)
            },
        }))  # fmt: skip
        return 0
    for block, row in zip(model.blocks, weights, strict=True):
        c = derived[block]
        print(f"{block}: candidate {c.index} ({c.name}), structural weight {row.max():.3f}")
        ranked = sorted(range(len(row)), key=lambda i: -row[i])
        print("  weights: " + ", ".join(f"{i + 1}: {row[i]:.3f}" for i in ranked))
    print(f"wrote {output}")
    return 0
