"""A sweep's report from its ``results.json`` alone: Markdown tables and a bar chart."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DamagedFileError, JobFileError
from ..figures import subplots
from ..files import read_json

__all__ = ["group_results", "write_sweep_report"]


def group_results(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Runs that differ only in their seed, grouped: mean and std of the test accuracy."""
    groups: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for run in runs:
        settings = {k: v for k, v in run["settings"].items() if k != "seed"}
        settings.update(run.get("changes", {}))
        spec = run.get("model") if run.get("equal_budget") else run["spec"]
        groups[(spec, json.dumps(settings, sort_keys=True))].append(run)
    out = []
    for (spec, settings), members in groups.items():
        acc = np.array([m["test_accuracy"] for m in members])
        mi = [m["routing_mi"] for m in members if m.get("routing_mi") is not None]
        val = [m["val_accuracy"] for m in members if m.get("val_accuracy") is not None]
        out.append(
            {
                "spec": spec,
                "model": members[0].get("model") or Path(spec).stem,
                "settings": json.loads(settings),
                "seeds": sorted(m["seed"] for m in members),
                "accuracy_mean": float(acc.mean()),
                "accuracy_std": float(acc.std(ddof=1)) if len(acc) > 1 else 0.0,
                "routing_mi_mean": float(np.mean(mi)) if mi else None,
                "val_accuracy_mean": float(np.mean(val)) if val else None,
                "num_weights": members[0].get("num_weights"),
                "num_qubits": members[0].get("num_qubits"),
            }
        )
    return out


def write_sweep_report(results_dir: str | Path, out: str | Path) -> Path:
    """Write ``report.md`` and ``accuracy.png`` into ``out`` from ``results_dir/results.json``.

    Raises:
        JobFileError: If ``results.json`` is missing or holds no runs.
    """
    path = Path(results_dir).expanduser() / "results.json"
    if not path.is_file():
        raise JobFileError(f"{path} does not exist: run qmoe sweep into {results_dir} first")
    data = read_json(path)
    runs = data.get("runs", []) if isinstance(data, dict) else None
    if not isinstance(runs, list) or not all(isinstance(r, dict) for r in runs):
        raise DamagedFileError(f"{path} is not a sweep's results file (no list of runs)")
    if not runs:
        raise JobFileError(f"{path} holds no finished run yet")
    try:
        return _write_report(path, data, runs, Path(out).expanduser())
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise DamagedFileError(
            f"{path} is damaged: a run lacks or mangles {type(exc).__name__} {exc}"
        ) from None


def _write_report(path: Path, data: dict, runs: list[dict], out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    groups = group_results(runs)
    hours = sum(run.get("seconds", 0.0) for run in runs) / 3600
    described = data.get("descriptions") or {}
    order = [s for s in data.get("sweeps", []) if s in described]
    order += [s for s in described if s not in order]
    titles = [described[s] for s in order] or [data.get("description") or "Sweep"]
    lines = [
        f"# {'; '.join(titles)}",
        "",
        f"From `{path}`: {len(runs)} finished runs, {hours:.2f} h of compute (sum of run times).",
        "",
    ]
    if data.get("report") == "qmoe-tables":
        from .qmoe_tables import table_report_lines

        lines += [*table_report_lines(runs, out), "", "## Every setting", ""]
    lines += [
        "| model | settings | seeds | validation accuracy (%) | test accuracy (%) | "
        "I(class; expert), bits | weights | qubits |",
        "|---|---|---|---|---|---|---|---|",
    ]
    keys = sorted({k for g in groups for k in g["settings"]})
    varying = [k for k in keys if len({json.dumps(g["settings"].get(k)) for g in groups}) > 1]
    fixed = {k: groups[0]["settings"].get(k) for k in keys if k not in varying}
    if fixed:
        lines.insert(4, "Every run: " + ", ".join(f"{k}={v}" for k, v in fixed.items()) + ".\n")
    for g in groups:
        settings = ", ".join(
            f"{k}={g['settings'][k]}" for k in varying if g["settings"].get(k) is not None
        )
        mi = "" if g["routing_mi_mean"] is None else f"{g['routing_mi_mean']:.3f}"
        val = "" if g["val_accuracy_mean"] is None else f"{100 * g['val_accuracy_mean']:.1f}"
        lines.append(
            f"| {g['model']} | {settings} | {len(g['seeds'])} | {val} | "
            f"{100 * g['accuracy_mean']:.1f} ± {100 * g['accuracy_std']:.1f} | {mi} | "
            f"{g['num_weights']} | {g['num_qubits']} |"
        )
    lines += ["", "## Runs", "", "| run | seed | test accuracy (%) | epochs | seconds |"]
    lines += ["|---|---|---|---|---|"]
    for run in runs:
        lines.append(
            f"| {run['name']} | {run['seed']} | {100 * run['test_accuracy']:.1f} | "
            f"{run['epochs']} | {run['seconds']:.0f} |"
        )
    lines += ["", "![accuracy](accuracy.png)", ""]
    (out / "report.md").write_text("\n".join(lines))
    _plot(groups, out / "accuracy.png")
    return out / "report.md"


def _plot(groups: list[dict[str, Any]], path: Path) -> None:

    fig, ax = subplots(figsize=(max(4.0, 0.9 * len(groups) + 2), 3.6))
    x = np.arange(len(groups))
    means = [100 * g["accuracy_mean"] for g in groups]
    stds = [100 * g["accuracy_std"] for g in groups]
    ax.bar(x, means, yerr=stds, capsize=4, color="tab:blue", alpha=0.8)
    ax.set_xticks(x, [g["model"] for g in groups], rotation=30, ha="right")
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 100)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
