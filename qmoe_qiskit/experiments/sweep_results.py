"""A sweep directory's ``results.json``: the finished runs of every sweep written into it.

Rewritten after every finished run. Several job files can share one directory (the runs they
share are trained once); a committed ``results.json`` resumes a sweep on another machine
without training its finished runs again; a damaged one is refused, never written over.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from ..errors import DamagedFileError
from ..files import read_json, write_json
from ..spec import ModelSpec, spec_to_toml


class SweepRun(Protocol):
    """What this module reads of a sweep's run
    (:class:`~qmoe_qiskit.experiments.sweep.SweepRun`)."""

    @property
    def name(self) -> str: ...
    @property
    def settings(self) -> Mapping[str, Any]: ...
    @property
    def changes(self) -> Mapping[str, Any]: ...
    @property
    def spec_sha256(self) -> str: ...


class Sweep(Protocol):
    """What this module reads of a sweep (:class:`~qmoe_qiskit.experiments.sweep.Sweep`)."""

    @property
    def path(self) -> Path: ...
    @property
    def description(self) -> str: ...
    @property
    def report(self) -> str: ...
    @property
    def runs(self) -> Sequence[SweepRun]: ...


__all__ = ["matches", "previous_runs", "recorded_runs", "spec_digest", "write_results"]


def spec_digest(spec: ModelSpec) -> str:
    """SHA-256 of the spec's TOML: a finished run is kept only for the very same spec."""
    return hashlib.sha256(spec_to_toml(spec).encode()).hexdigest()


def write_results(out: Path, sweep: Sweep, results: dict[str, dict[str, Any]]) -> None:
    """Write ``results.json``: this sweep's finished runs, in sweep order, after the rows other
    sweeps into the directory left there (job files share a directory and their shared runs)
    and this sweep's rows not reached yet that match their run (a killed sweep loses none)."""
    ours = {r.name: r for r in sweep.runs}
    path = out / "results.json"
    others: list[dict[str, Any]] = []
    sweeps = [str(sweep.path)]
    descriptions = {str(sweep.path): sweep.description}
    if path.is_file():
        previous = read_json(path)  # read once: its runs, sweeps and descriptions
        others = [
            row for row in _runs_of(previous, path)
            if row["name"] not in ours
            or (row["name"] not in results and matches(row, ours[row["name"]]))
        ]  # fmt: skip
        sweeps = [s for s in previous.get("sweeps", [previous.get("sweep")]) if s] + sweeps
        before = previous.get("descriptions") or {
            previous.get("sweep"): previous.get("description")
        }
        descriptions = {**{k: v for k, v in before.items() if k and v}, **descriptions}
    ordered = others + [results[r.name] for r in sweep.runs if r.name in results]
    write_json(
        path,
        {
            "sweep": str(sweep.path),
            "sweeps": list(dict.fromkeys(sweeps)),
            "description": sweep.description,
            "descriptions": {k: v for k, v in descriptions.items() if v},
            "report": sweep.report,
            "runs": ordered,
        },
    )


def previous_runs(path: Path) -> list[dict[str, Any]]:
    """The runs a ``results.json`` records; a damaged one is refused in one line (a sweep
    would otherwise write over the runs other sweeps recorded there)."""
    return _runs_of(read_json(path), path)


def _runs_of(data: Any, path: Path) -> list[dict[str, Any]]:
    """The runs of a parsed ``results.json`` (see :func:`previous_runs`)."""
    runs = data.get("runs", []) if isinstance(data, dict) else None
    if not isinstance(runs, list) or not all(isinstance(r, dict) and "name" in r for r in runs):
        raise DamagedFileError(f"{path} is damaged (not a sweep's results): move it away")
    return runs


def recorded_runs(out: Path, sweep: Sweep) -> dict[str, dict[str, Any]]:
    """Runs that ``out/results.json`` records as finished (:func:`matches`) and whose run
    directory is gone: a committed results.json resumes a sweep without training them again."""
    path = out / "results.json"
    if not path.is_file():
        return {}
    rows = {r["name"]: r for r in previous_runs(path)}
    return {
        run.name: rows[run.name]
        for run in sweep.runs
        if not (out / "runs" / run.name).exists() and matches(rows.get(run.name), run)
    }


def matches(row: dict[str, Any] | None, run: SweepRun | None) -> bool:
    """Whether a ``results.json`` row is ``run`` finished: same spec, settings and changes."""
    return (
        row is not None and run is not None and "test_accuracy" in row
        and row.get("spec_sha256") == run.spec_sha256
        and row.get("settings") == json.loads(json.dumps(dict(run.settings)))
        and row.get("changes") == json.loads(json.dumps(dict(run.changes)))
    )  # fmt: skip
