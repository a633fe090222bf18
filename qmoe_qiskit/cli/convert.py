"""``qmoe convert-checkpoint PATH...``: rewrite earlier versions' checkpoints as data only."""

from __future__ import annotations

from pathlib import Path


def register(sub) -> None:
    from .common import HelpFormatter

    parser = sub.add_parser(
        "convert-checkpoint",
        help="convert checkpoints written by an earlier version (once, explicitly)",
        description=(
            "Rewrite checkpoints written by qmoe-qiskit 0.1 (numpy objects pickled inside) in "
            "the data-only format that every command reads with torch.load(weights_only=True). "
            "The old file is read with only numpy's array and scalar reconstruction and the "
            "project's FitState allowed; a file naming anything else is refused and nothing in "
            "it runs. A directory is searched for checkpoint.pt files."
        ),
        formatter_class=HelpFormatter,
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="a checkpoint or a directory")
    parser.set_defaults(func=run)


def _checkpoints(path: Path) -> list[Path]:
    from ..training.runs import CHECKPOINT
    from .common import CommandError

    if path.is_file():
        return [path]
    if path.is_dir():
        return sorted(p for p in path.rglob(CHECKPOINT) if p.is_file() and not p.is_symlink())
    raise CommandError(f"{path}: no such file or directory")


def run(args) -> int:
    from ..training.checkpoints import LEGACY_GLOBALS, convert_legacy_checkpoint

    files = [f for p in args.paths for f in _checkpoints(Path(p).expanduser())]
    print(f"trusting only: {', '.join(sorted(LEGACY_GLOBALS))}")
    converted = 0
    for path in files:
        done = convert_legacy_checkpoint(path)
        converted += done
        print(f"{path}: {'converted' if done else 'already data-only'}")
    print(f"{converted} of {len(files)} checkpoint(s) converted")
    return 0
