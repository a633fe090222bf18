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
    "routing",
    "derive",
    "run",
    "sweep",
    "hybrid",
    "qt",
    "noise",
    "transpile",
    "submit",
    "jobs",
    "export",
    "convert",
)


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line: what is wrong and where to read more."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command registered."""
    from .. import __version__

    parser = Parser(
        prog="qmoe", description="Compile, train, transpile and run Quantum Mixture-of-Experts."
    )
    parser.add_argument("--version", action="version", version=f"qmoe-qiskit {__version__}")
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=Parser
    )
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
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a one-line usage error (already printed)
        return exc.code if isinstance(exc.code, int) else 2
    try:
        return int(args.func(args) or 0)
    except QmoeError as exc:
        print(f"qmoe {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into head & co.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        hint = getattr(args, "interrupt_hint", None)
        message = f"qmoe {args.command}: interrupted"
        if callable(hint):
            message += f"; {hint(args)}"
        print(message, file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
