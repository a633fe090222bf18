"""The ``qmoe`` command line. Each sub-command lives in its own module with a ``register``."""

from __future__ import annotations

import argparse
import importlib
import sys

__all__ = ["main"]

#: Sub-command modules of this package, in help order.
COMMANDS = (
    "presets",
    "compile",
    "train",
    "evaluate",
    "run",
    "hybrid",
    "transpile",
    "submit",
    "jobs",
    "export",
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command registered."""
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="qmoe", description="Compile, train, transpile and run Quantum Mixture-of-Experts."
    )
    parser.add_argument("--version", action="version", version=f"qmoe-qiskit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f".{name}", __name__).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``qmoe`` console script.

    Every error the package raises for a user's mistake derives from
    :class:`~qmoe_qiskit.errors.QmoeError`: it is printed as one line on stderr, exit status 2.
    """
    from ..errors import QmoeError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except QmoeError as exc:
        print(f"qmoe {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        hint = getattr(args, "interrupt_hint", None)
        message = f"qmoe {args.command}: interrupted"
        if callable(hint):
            message += f"; {hint(args)}"
        print(message, file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
