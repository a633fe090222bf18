"""``qmoe presets``: the shipped presets with a one-line description each."""

from __future__ import annotations

import json


def register(sub) -> None:
    from .common import HelpFormatter

    parser = sub.add_parser(
        "presets", help="list the shipped model presets", formatter_class=HelpFormatter
    )
    parser.add_argument("name", nargs="?", help="show this preset's TOML (default: list all)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(func=run)


def run(args) -> int:
    from ..spec import available_presets, load_spec, preset_description, preset_text

    if args.name:
        text = preset_text(args.name)  # raises SpecError with "did you mean"
        load_spec(args.name)
        print(text, end="")
        return 0
    rows = [(name, preset_description(name)) for name in available_presets()]
    if args.json:
        print(json.dumps([{"name": n, "description": d} for n, d in rows]))
        return 0
    width = max(len(n) for n, _ in rows)
    for name, description in rows:
        print(f"{name:{width}s}  {description}")
    return 0
