"""Sweeps: a grid of training runs from one TOML file, run in order or as Ray tasks.

A sweep file::

    description = "QMoE vs baseline on MNIST 0-3"

    [vars]                       # defaults of {name} placeholders (--var name=value overrides)
    data_dir = "../shared/data"

    [defaults]                   # run settings (RunConfig fields) for every run
    engine = "torch"
    data_dir = "{data_dir}"

    [[grid]]                     # every combination of the list-valued keys is one run
    spec = ["qmoe-mnist4-rxry", "baseline-mnist4-rxry"]
    seed = [0, 1, 2]
    epochs = 5
    "encoder.entangle" = ["all", "within"]   # SECTION.FIELD keys change the spec itself
    equal_budget = [false, true] # true: the equal-budget baseline of that (changed) QMoE
    label = "paper-protocol"     # optional: appended to the run names of this grid

Each run trains into ``OUT/runs/NAME`` (a regular run directory: ``qmoe evaluate`` and
``qmoe routing`` work on it) and its summary is added to ``OUT/results.json``, rewritten after
every finished run. A sweep started again skips finished runs and resumes unfinished ones from
their last checkpoint, so a killed sweep (or a killed Ray worker: the task is retried) loses at
most the epochs in progress. Every run uses one torch thread, in order and on Ray alike, so
both give bit-identical weights.
"""

from __future__ import annotations

import itertools
import re
import time
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import torch

from ..errors import DamagedFileError, JobFileError, QmoeError
from ..files import read_json
from ..spec import (
    ModelSpec,
    equal_budget_baseline,
    load_spec,
    spec_from_dict,
    spec_to_dict,
)
from ..training import RunConfig, train
from ..training.runs import METRICS, RUN_CONFIG
from .sweep_ray import run_on_ray
from .sweep_results import recorded_runs, spec_digest, write_results

__all__ = ["Sweep", "SweepRun", "load_sweep", "run_one", "run_sweep"]

#: Report layouts a sweep file may ask for with ``report = ...``: ``"generic"`` (one row per
#: setting) or ``"qmoe-tables"`` (the QMoE paper's Tables I and II with its numbers beside
#: ours, see :mod:`qmoe_qiskit.experiments.qmoe_tables`).
REPORTS = ("generic", "qmoe-tables")

#: Per-epoch values a run's summary keeps for training curves.
CURVE_KEYS = ("epoch", "train_loss", "train_accuracy", "val_accuracy", "test_accuracy")

#: Run settings that weight routing losses: dropped for an equal-budget baseline (no router).
ROUTING_LOSSES = ("balance", "specialise", "class_routing")

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class SweepRun:
    """One run of a sweep.

    Attributes:
        name: Directory name under ``OUT/runs`` (unique in the sweep).
        spec: Spec file or preset name.
        settings: :class:`~qmoe_qiskit.training.RunConfig` overrides.
        changes: Spec field overrides, ``"section.field" -> value`` (e.g.
            ``"routing.reupload" -> True``).
        equal_budget: Train the equal-budget baseline of the (changed) QMoE spec instead
            (:func:`~qmoe_qiskit.spec.equal_budget_baseline`), so a grid compares every
            router design with its own fair baseline.
    """

    name: str
    spec: str
    settings: Mapping[str, Any] = field(default_factory=dict)
    changes: Mapping[str, Any] = field(default_factory=dict)
    equal_budget: bool = False

    def model_spec(self) -> ModelSpec:
        """The run's spec: the file or preset with :attr:`changes` applied (validated), or
        its equal-budget baseline."""
        spec = load_spec(self.spec)
        if self.changes:
            values = spec_to_dict(spec)
            for key, value in self.changes.items():
                section, _, name = key.partition(".")
                values.setdefault(section, {})[name] = value
            spec = spec_from_dict(values)
        if self.equal_budget:
            spec = equal_budget_baseline(spec, f"fair-baseline-of-{spec.name}")
        return spec

    @cached_property
    def spec_sha256(self) -> str:
        """:func:`~qmoe_qiskit.experiments.sweep_results.spec_digest` of :meth:`model_spec`,
        derived once per run: every save of ``results.json`` compares the rows of runs not
        reached yet with it, so a sweep's saves stay linear in its runs."""
        return spec_digest(self.model_spec())


@dataclass(frozen=True)
class Sweep:
    """A parsed sweep file."""

    path: Path
    description: str
    runs: tuple[SweepRun, ...]
    report: str = "generic"


def _scalar(text: str) -> Any:
    """``"3"`` -> 3, ``"0.1"`` -> 0.1, ``"true"`` -> True; anything else stays a string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _substitute(value: Any, variables: Mapping[str, str], where: str) -> Any:
    if isinstance(value, Mapping):
        return {k: _substitute(v, variables, where) for k, v in value.items()}
    if isinstance(value, str) and _PLACEHOLDER.fullmatch(value):
        name = value[1:-1]
        if name not in variables:
            raise JobFileError(f"{where}: no value for {{{name}}}; pass --var {name}=VALUE")
        return _scalar(variables[name])
    if isinstance(value, str):

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in variables:
                raise JobFileError(f"{where}: no value for {{{name}}}; pass --var {name}=VALUE")
            return variables[name]

        return _PLACEHOLDER.sub(replace, value)
    if isinstance(value, list):
        return [_substitute(v, variables, where) for v in value]
    return value


def _grid(group: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    keys = list(group)
    values = [v if isinstance(v, list) else [v] for v in group.values()]
    for combination in itertools.product(*values):
        yield dict(zip(keys, combination, strict=True))


def _name(spec: str, row: Mapping[str, Any], varying: list[str]) -> str:
    base = Path(spec).stem if spec.endswith(".toml") else spec
    short = [key.rpartition(".")[2] for key in varying]

    def label(key: str) -> str:  # the field name, or the dotted key where two fields share it
        field = key.rpartition(".")[2]
        return field if short.count(field) == 1 else key

    parts = [base] + [f"{label(key)}{row[key]}" for key in varying if key != "spec" and key in row]
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", "-".join(str(p) for p in parts))


def load_sweep(path: str | Path, variables: Mapping[str, str] | None = None) -> Sweep:
    """Read and validate a sweep file.

    Args:
        path: The TOML file.
        variables: ``{name}`` values overriding the file's ``[vars]``.

    Returns:
        The sweep, every run's settings validated.

    Raises:
        JobFileError: For a missing file, bad TOML, unknown keys or settings, duplicate names.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise JobFileError(f"sweep file {path} does not exist")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise JobFileError(f"{path}: not valid TOML: {exc}") from None
    unknown = sorted(set(data) - {"description", "report", "vars", "defaults", "grid"})
    if unknown:
        raise JobFileError(f"{path}: unknown key {unknown[0]!r}; use description, report, vars, "
                           "defaults, grid")  # fmt: skip
    report = data.get("report", "generic")
    if report not in REPORTS:
        raise JobFileError(
            f"{path}: report = {report!r} is unknown; use " + " or ".join(map(repr, REPORTS))
        )
    values = {k: str(v) for k, v in data.get("vars", {}).items()}
    values.update(variables or {})
    defaults = _substitute(dict(data.get("defaults", {})), values, f"{path} [defaults]")
    if "data_dir" in defaults:  # Ray workers may start elsewhere: make it absolute now
        defaults["data_dir"] = str(Path(defaults["data_dir"]).expanduser().resolve())
    groups = data.get("grid", [])
    if not groups:
        raise JobFileError(f"{path}: no [[grid]] table: nothing to run")
    runs: list[SweepRun] = []
    fields = set(RunConfig.__dataclass_fields__)
    for i, group in enumerate(groups, 1):
        group = _substitute(dict(group), values, f"{path} grid {i}")
        label = str(group.pop("label", ""))
        if "spec" not in group:
            raise JobFileError(f"{path} grid {i}: every grid needs a spec (a preset or a file)")
        changes = {k for k in group if "." in k}
        bad = sorted(set(group) - fields - {"spec", "equal_budget"} - changes)
        bad += sorted(set(defaults) - fields)
        if bad:
            raise JobFileError(f"{path} grid {i}: {bad[0]!r} is not a run setting")
        varying = [k for k, v in group.items() if isinstance(v, list) and len(v) > 1]
        for row in _grid(group):
            spec = str(row.pop("spec"))
            if spec.endswith(".toml") and not Path(spec).is_absolute():
                spec = str((path.parent / spec).resolve())
            fair = row.pop("equal_budget", False)
            if not isinstance(fair, bool):
                raise JobFileError(f"{path} grid {i}: equal_budget must be true or false")
            name = _name(spec, {"spec": spec, **row}, [k for k in varying if k != "equal_budget"]
                         or ["seed"])  # fmt: skip
            name = f"{name}-{label}" if label else name
            name = f"fair-baseline-of-{name}" if fair else name
            name = re.sub(r"[^A-Za-z0-9_.=-]+", "_", name).strip(".") or "run"  # stays in runs/
            overrides = {k: row.pop(k) for k in list(row) if "." in k}
            settings = {**defaults, **row}
            if fair:  # routing losses have no router to act on
                settings = {k: v for k, v in settings.items() if k not in ROUTING_LOSSES}
            runs.append(SweepRun(name, spec, settings, overrides, fair))
    names = [run.name for run in runs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise JobFileError(f"{path}: two runs are both named {duplicates[0]!r}")
    for run in runs:
        try:
            config_of(run).validate()
        except QmoeError as exc:
            raise JobFileError(f"{path}, run {run.name}: {exc}") from None
    description = _substitute(str(data.get("description", "")), values, f"{path} description")
    return Sweep(path, description, tuple(runs), report)


def config_of(run: SweepRun) -> RunConfig:
    """The run's settings: its spec's defaults with the sweep's overrides."""
    return RunConfig.from_spec(run.model_spec(), **dict(run.settings))


def _summary(run: SweepRun, metrics: dict[str, Any], seconds: float) -> dict[str, Any]:
    from ..models import compile_model

    spec = run.model_spec()
    model = compile_model(spec)
    summary = model.summary()
    last = metrics["epochs"][-1] if metrics.get("epochs") else {}
    return {
        "name": run.name,
        "spec": run.spec,
        "model": metrics.get("model"),
        "family": metrics.get("family"),
        "settings": dict(run.settings),
        "changes": dict(run.changes),
        "equal_budget": run.equal_budget,
        "spec_sha256": spec_digest(spec),
        "seed": metrics.get("seed"),
        "test_accuracy": metrics["test_accuracy"],
        "test_size": metrics.get("test_size"),
        "val_accuracy": last.get("val_accuracy"),
        "routing_mi": last.get("routing_mi"),
        "routing": metrics.get("routing"),
        "curve": [{k: row[k] for k in CURVE_KEYS if k in row} for row in metrics.get("epochs", [])],
        "epochs": len(metrics.get("epochs", [])),
        "num_weights": summary.get("num_weights"),
        "num_qubits": summary.get("num_qubits"),
        "seconds": seconds,
    }


def run_one(run: SweepRun, out: str, threads: int = 1) -> dict[str, Any]:
    """Train one run of a sweep (or finish it, or read it back if it is done).

    Uses ``threads`` torch threads whatever the caller uses (restored afterwards): a Ray worker
    runs each task with one, as its CPU request is one.

    Returns:
        The run's summary for ``results.json``.
    """
    directory = Path(out) / "runs" / run.name
    metrics_path = directory / METRICS
    if metrics_path.is_file():
        metrics = read_json(metrics_path)
        if not isinstance(metrics, dict):
            raise DamagedFileError(f"{metrics_path} is damaged: not a run's metrics")
        if "test_accuracy" in metrics:  # finished before: its compute is its epochs' time
            seconds = sum(row.get("seconds", 0.0) for row in metrics.get("epochs", []))
            return {**_summary(run, metrics, seconds), "kept": True}
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    started = time.perf_counter()
    try:
        resume = (directory / RUN_CONFIG).is_file()
        metrics = train(
            run.model_spec(),
            directory,
            config_of(run),
            resume=resume,
            progress=False,
            log=lambda _: None,
        )
    finally:
        torch.set_num_threads(before)
    return _summary(run, metrics, time.perf_counter() - started)


def run_sweep(
    sweep: Sweep,
    out: str | Path,
    *,
    executor: str = "sequential",
    address: str | None = None,
    workers: int | None = None,
    threads: int = 1,
    log: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Run every run of ``sweep`` into ``out``, skipping finished ones.

    Args:
        sweep: From :func:`load_sweep`.
        out: Output directory (``runs/`` and ``results.json``).
        executor: ``"sequential"`` (this process) or ``"ray"`` (one task per run).
        address: Ray: join this cluster (default: start a local one).
        workers: Ray, local cluster: CPUs it may use (default: all).
        threads: Torch threads per run; a Ray task asks for as many CPUs, so runs never
            oversubscribe the cores.
        log: One line per finished run.

    Returns:
        The run summaries, in sweep order.

    Raises:
        JobFileError: ``executor="ray"`` without Ray installed.
    """
    from tqdm.auto import tqdm

    out = Path(out).expanduser().resolve()
    for directory in (out, out / "runs"):
        if directory.exists() and not directory.is_dir():
            raise JobFileError(f"{directory} is a file, not a directory: choose a new --out")
    (out / "runs").mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, Any]] = {}
    recorded = recorded_runs(out, sweep)
    bar = tqdm(total=len(sweep.runs), desc="sweep", unit="run")

    def done(summary: dict[str, Any]) -> None:
        results[summary["name"]] = summary
        write_results(out, sweep, results)
        bar.update(1)
        state = "kept" if summary.get("kept") else f"{summary['seconds']:.0f} s"
        log(f"{summary['name']}: test accuracy {summary['test_accuracy']:.4f} ({state})")

    for run in sweep.runs:  # finished in an earlier session whose run directories are gone
        if run.name in recorded:
            done({**recorded[run.name], "kept": True})
    todo = [run for run in sweep.runs if run.name not in recorded]
    try:
        if executor == "sequential":
            for run in todo:
                done(run_one(run, str(out), threads))
        elif executor == "ray":
            run_on_ray(run_one, todo, out, address, workers, threads, done)
        else:
            raise JobFileError(f"unknown executor {executor!r}: use sequential or ray")
    finally:
        bar.close()
    return [results[r.name] for r in sweep.runs]
