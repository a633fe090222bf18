"""Declarative job files: a list of ``qmoe`` commands that reproduce an experiment.

A job file is TOML::

    description = "Train the digits QMoE and evaluate it"

    [[step]]
    command = "train"
    args = ["qmoe-digits4", "--out", "{out}/digits4"]

    [[step]]
    command = "evaluate"
    args = ["{out}/digits4", "--json"]

Placeholders ``{out}`` (the output directory) and any ``{name}`` given with ``--var name=value``
(or a ``[vars]`` table of defaults in the file) are substituted in ``args``.

Every file a step writes stays inside ``{out}``: the value of each output option
(:data:`OUTPUT_FLAGS`) must resolve there (:func:`check_confined`), and a step cannot run a job
file itself (it would recurse).
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import JobFileError as JobError

__all__ = [
    "OUTPUT_FLAGS",
    "Job",
    "JobError",
    "JobStep",
    "check_confined",
    "load_job",
    "step_outputs",
]

#: Options whose value is a path a step writes.
OUTPUT_FLAGS = ("-o", "--out", "--output", "--ledger")


@dataclass(frozen=True)
class JobStep:
    """One ``qmoe`` sub-command invocation."""

    command: str
    args: tuple[str, ...]

    def argv(self, variables: dict[str, str]) -> list[str]:
        """The command line with placeholders substituted."""

        def fill(text: str) -> str:
            def sub(match: re.Match) -> str:
                name = match.group(1)
                if name not in variables:
                    raise JobError(f"step {self.command!r}: no value for placeholder {{{name}}}")
                return variables[name]

            return re.sub(r"\{([A-Za-z_][A-Za-z0-9_]*)\}", sub, text)

        return [self.command] + [fill(a) for a in self.args]


@dataclass(frozen=True)
class Job:
    """A parsed job file."""

    path: Path
    description: str
    steps: tuple[JobStep, ...]
    variables: dict[str, str]


def load_job(path: str | Path) -> Job:
    """Read and validate a job file.

    Raises:
        JobError: Naming the file and the bad entry.
    """
    path = Path(path)
    if not path.is_file():
        raise JobError(f"job file not found: {path}")
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise JobError(f"{path}: not valid TOML: {exc}") from None
    steps = data.get("step")
    if not isinstance(steps, list) or not steps:
        raise JobError(f"{path}: needs at least one [[step]] table")
    parsed = []
    for i, step in enumerate(steps):
        command, args = step.get("command"), step.get("args", [])
        if not isinstance(command, str) or not command:
            raise JobError(f'{path}: step {i + 1} needs command = "<qmoe sub-command>"')
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            raise JobError(f"{path}: step {i + 1} args must be a list of strings")
        if command == "run":
            raise JobError(f"{path}: step {i + 1} runs a job file itself; a job cannot nest jobs")
        parsed.append(JobStep(command, tuple(args)))
    variables = {str(k): str(v) for k, v in data.get("vars", {}).items()}
    return Job(path, str(data.get("description", "")), tuple(parsed), variables)


def step_outputs(argv: list[str]) -> list[str]:
    """The values of a step's output options (:data:`OUTPUT_FLAGS`), in order."""
    found = []
    for i, flag in enumerate(argv):
        name, equals, inline = flag.partition("=")
        if name in OUTPUT_FLAGS:
            if equals:
                found.append(inline)
            elif i + 1 < len(argv):
                found.append(argv[i + 1])
    return found


def check_confined(argv: list[str], out: Path) -> None:
    """Refuse a step whose output options name a path outside ``out``.

    Raises:
        JobError: Naming the step's command and the path.
    """
    root = Path(out).expanduser().resolve()
    for value in step_outputs(argv):
        target = Path(value).expanduser()
        target = (target if target.is_absolute() else Path.cwd() / target).resolve()
        if target != root and root not in target.parents:
            raise JobError(
                f"step {argv[0]!r} would write {target}, outside the job's --out {root}; "
                "every output of a job stays in --out"
            )


def step_key(argv: list[str]) -> str:
    """A stable identity of a step, used to skip finished steps on ``--resume``."""
    return json.dumps(argv)
