"""What the sub-commands share: the user-error type, argument types, SPEC|RUN loading."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import QmoeError
from ..models import Model, circuit_of, compile_model
from ..training import LoadedRun, load_run

__all__ = [
    "CommandError",
    "add_threads_option",
    "available_cores",
    "HelpFormatter",
    "classes_list",
    "is_run_dir",
    "load_model_or_run",
    "non_negative_int",
    "parse_vars",
    "positive_float",
    "positive_int",
    "run_readout",
    "set_threads",
]


class CommandError(QmoeError):
    """A user-facing error of a command: printed without a traceback, exit status 2."""


class HelpFormatter(argparse.HelpFormatter):
    """Appends ``(default: X)`` to every option whose help does not state its default."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or action.default is argparse.SUPPRESS or not action.option_strings:
            return text
        if isinstance(action, argparse._StoreTrueAction):
            return text + " (default: off)"
        if action.default is None:
            return text
        return text + " (default: %(default)s)"


def _number(kind: type, low: float, strict: bool) -> Callable[[str], int | float]:
    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if value < low or (strict and value == low):
            bound = f"> {low:g}" if strict else f">= {low:g}"
            raise argparse.ArgumentTypeError(f"expected a number {bound}, got {text}")
        return value

    parse.__name__ = kind.__name__
    return parse


#: argparse types with a range check (argparse prints a one-line error, exit status 2).
positive_int = _number(int, 1, False)
non_negative_int = _number(int, 0, False)
positive_float = _number(float, 0.0, True)


def shard_spec(text: str) -> tuple[int, int]:
    """``I/K`` (this process's index among K processes) as ``(I, K)``; ``I`` alone is ``I/1``."""
    index, _, count = text.partition("/")
    try:
        return int(index), int(count or 1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected I/K, got {text!r}") from None


def classes_list(text: str) -> tuple[int, ...]:
    """argparse type of ``--classes 0,1,2``."""
    try:
        return tuple(int(c) for c in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None


def parse_vars(items: list[str]) -> dict[str, str]:
    """``--var NAME=VALUE`` options as a mapping.

    Raises:
        CommandError: For an item without ``=`` or without a name.
    """
    variables = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise CommandError(f"--var expects NAME=VALUE, got {item!r}")
        variables[name] = value
    return variables


def is_run_dir(source: str | Path) -> bool:
    """Whether ``source`` is a run directory (holds ``spec.toml``)."""
    path = Path(source).expanduser()
    return path.is_dir() and (path / "spec.toml").is_file()


def load_model_or_run(source: str | Path) -> tuple[Model, LoadedRun | None]:
    """A SPEC|RUN argument: a directory with ``spec.toml`` is a run, else a spec or preset.

    Returns:
        ``(model, run)``; ``run`` is None for a spec.
    """
    if is_run_dir(source):
        run = load_run(source)
        return run.model, run
    return compile_model(str(source)), None


def run_readout(run: LoadedRun, start: int, stop: int) -> Callable[[np.ndarray], np.ndarray] | None:
    """Class scores of test rows ``start:stop`` from circuit expectations (None: plain circuit)."""
    if circuit_of(run.model) is run.model:
        return None
    rows = run.config.load_data().x_test[start:stop]

    def readout(expectations: np.ndarray) -> np.ndarray:
        return run.model.readout(expectations, rows, run.weights)

    return readout


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def add_output_option(parser: argparse.ArgumentParser, **kwargs: Any) -> None:
    """``-o/--out/--output``: the one spelling of every command's output path (``kwargs``:
    ``dest``, ``help``, ``required``, ``metavar``...)."""
    parser.add_argument("-o", "--out", "--output", **kwargs)


def add_threads_option(parser: argparse.ArgumentParser, default_text: str) -> None:
    """``--threads N``: torch's intra-op threads (more threads than free cores can be 10-25x
    slower, so the count is always set explicitly)."""
    parser.add_argument(
        "--threads",
        type=positive_int,
        metavar="N",
        help=f"torch threads (default: {default_text})",
    )


def set_threads(threads: int | None) -> int:
    """Set torch's thread count to ``threads`` (default: :func:`available_cores`); returns it."""
    import torch

    count = threads or available_cores()
    torch.set_num_threads(count)
    return count
