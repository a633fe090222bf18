"""The QMoE paper's Tables I and II, ours beside theirs, from a sweep's ``results.json`` alone.

Runs are recognised by their preset names: ``[paper-]qmoe-TASK-OPS[-eK]``,
``[paper-]baseline-TASK-OPS`` and ``fair-baseline-TASK-OPS`` (the baseline with the QMoE's
qubit count and number of trainable weights), with ``TASK`` one of ``mnist4``, ``mnist2``,
``fashion4``, ``fashion2`` and ``OPS`` one of ``rx``, ``ry``, ``rxry``, ``rxryrz``. A sweep file
asks for this report with ``report = "qmoe-tables"`` (``jobs/qmoe-table1.toml``).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np

from ..figures import subplots

__all__ = [
    "PAPER_TABLE_I",
    "PAPER_TABLE_II",
    "TASKS",
    "RunKey",
    "parse_run_key",
    "table_report_lines",
]

TASKS = ("mnist4", "mnist2", "fashion4", "fashion2")
TASK_TITLES = {
    "mnist4": "MNIST-4",
    "mnist2": "MNIST-2",
    "fashion4": "Fashion-4",
    "fashion2": "Fashion-2",
}
OPERATORS = ("rx", "ry", "rxry", "rxryrz")
OPERATOR_TITLES = {"rx": "RX", "ry": "RY", "rxry": "RX+RY", "rxryrz": "RX+RY+RZ"}

#: Table I of Nguyen et al. (test accuracy %, 4 experts): (model, operators) -> task -> value.
PAPER_TABLE_I: dict[tuple[str, str], dict[str, float]] = {
    ("baseline", "rx"): dict(zip(TASKS, (49.87, 92.99, 49.53, 74.60), strict=True)),
    ("baseline", "ry"): dict(zip(TASKS, (49.27, 93.04, 49.13, 75.35), strict=True)),
    ("baseline", "rxry"): dict(zip(TASKS, (51.05, 94.89, 52.58, 78.35), strict=True)),
    ("baseline", "rxryrz"): dict(zip(TASKS, (51.47, 94.68, 53.65, 79.94), strict=True)),
    ("qmoe", "rx"): dict(zip(TASKS, (60.99, 96.53, 61.98, 82.83), strict=True)),
    ("qmoe", "ry"): dict(zip(TASKS, (60.29, 97.13, 60.44, 82.47), strict=True)),
    ("qmoe", "rxry"): dict(zip(TASKS, (62.92, 98.62, 63.47, 83.94), strict=True)),
    ("qmoe", "rxryrz"): dict(zip(TASKS, (61.26, 97.29, 63.81, 84.46), strict=True)),
}

#: Table II of Nguyen et al. (MNIST-4 test accuracy %): operators -> experts -> value.
PAPER_TABLE_II: dict[str, dict[int, float]] = {
    "rx": {2: 54.33, 3: 58.54, 4: 60.99},
    "ry": {2: 54.15, 3: 58.88, 4: 60.29},
    "rxry": {2: 54.38, 3: 59.67, 4: 62.92},
    "rxryrz": {2: 55.97, 3: 59.81, 4: 61.26},
}

_NAME = re.compile(
    r"^(?P<paper>paper-)?(?P<model>qmoe|baseline|fair-baseline)-(?P<task>mnist4|mnist2|fashion4|"
    r"fashion2)-(?P<ops>rx|ry|rxry|rxryrz)(?:-e(?P<experts>\d+))?$"
)

#: Row order and titles of Table I.
MODELS = (
    ("paper-baseline", "baseline, paper's construction"),
    ("baseline", "baseline (4 qubits, the paper's)"),
    ("fair-baseline", "baseline, equal qubits and weights"),
    ("paper-qmoe", "QMoE, paper's construction"),
    ("qmoe", "QMoE"),
)

#: I(class; expert) targets in bits, by the number of classes of a task.
MI_TARGETS = {4: 0.5, 2: 0.3}


@dataclass(frozen=True)
class RunKey:
    """Where a run belongs in the tables.

    Attributes:
        model: ``qmoe``, ``baseline``, ``fair-baseline``, ``paper-qmoe`` or ``paper-baseline``.
        task: One of :data:`TASKS`.
        operators: One of ``rx``, ``ry``, ``rxry``, ``rxryrz``.
        experts: Experts of a QMoE (4 unless the name ends in ``-eK``; 1 for a baseline).
    """

    model: str
    task: str
    operators: str
    experts: int


def parse_run_key(spec: str) -> RunKey | None:
    """The table cell of a run's spec (preset name or file), or ``None`` for other specs."""
    match = _NAME.match(Path(spec).stem if spec.endswith(".toml") else spec)
    if match is None:
        return None
    model = ("paper-" if match["paper"] else "") + match["model"]
    default = 4 if match["model"] == "qmoe" else 1
    experts = int(match["experts"]) if match["experts"] else default
    return RunKey(model, match["task"], match["ops"], experts)


def _cells(runs: list[dict[str, Any]]) -> dict[RunKey, list[dict[str, Any]]]:
    cells: dict[RunKey, list[dict[str, Any]]] = defaultdict(list)
    for run in runs:
        key = parse_run_key(run["spec"])
        if key is not None and not run.get("changes"):
            cells[key].append(run)
    return cells


def _stats(members: list[dict[str, Any]]) -> tuple[float, float]:
    acc = 100 * np.array([m["test_accuracy"] for m in members])
    return float(acc.mean()), float(acc.std(ddof=1)) if len(acc) > 1 else 0.0


def _cell(members: list[dict[str, Any]] | None, paper: float | None) -> str:
    ref = "" if paper is None else f" [{paper:.2f}]"
    if not members:
        return "—" + ref
    mean, std = _stats(members)
    return f"{mean:.2f} ± {std:.2f} (n={len(members)}){ref}"


def _mi(members: list[dict[str, Any]] | None) -> float | None:
    values = [m["routing_mi"] for m in members or [] if m.get("routing_mi") is not None]
    return float(np.mean(values)) if values else None


def table_report_lines(runs: list[dict[str, Any]], out: Path) -> list[str]:
    """Markdown of Tables I and II, counts, targets and figures; PNGs are written to ``out``.

    Args:
        runs: The ``runs`` of a sweep's ``results.json``.
        out: Report directory (``routing.png``, ``curves.png``).

    Returns:
        Report lines (Markdown).
    """
    cells = _cells(runs)
    lines = [
        "## Table I: test accuracy (%), mean ± std over seeds [the paper's number]",
        "",
        "| model | operators | " + " | ".join(TASK_TITLES[t] for t in TASKS) + " |",
        "|---|---|" + "---|" * len(TASKS),
    ]
    for model, title in MODELS:
        if not any(k.model == model and k.experts in (1, 4) for k in cells):
            continue
        for ops in OPERATORS:
            paper = PAPER_TABLE_I.get((model.removeprefix("paper-"), ops), {})
            if model == "fair-baseline":
                paper = {}
            experts = 4 if model.endswith("qmoe") else 1
            row = [_cell(cells.get(RunKey(model, t, ops, experts)), paper.get(t)) for t in TASKS]
            lines.append(f"| {title} | {OPERATOR_TITLES[ops]} | " + " | ".join(row) + " |")
    lines += [
        "",
        "Parameters: trainable weights / qubits of each row (circuit + readout head).",
        "",
        "| model | operators | " + " | ".join(TASK_TITLES[t] for t in TASKS) + " |",
        "|---|---|" + "---|" * len(TASKS),
    ]
    for model, title in MODELS:
        for ops in OPERATORS:
            experts = 4 if model.endswith("qmoe") else 1
            row = []
            for t in TASKS:
                members = cells.get(RunKey(model, t, ops, experts))
                row.append(
                    f"{members[0]['num_weights']} / {members[0]['num_qubits']}" if members else "—"
                )
            if any(r != "—" for r in row):
                lines.append(f"| {title} | {OPERATOR_TITLES[ops]} | " + " | ".join(row) + " |")
    lines += _targets(cells)
    lines += _table_two(cells)
    lines += _figures(cells, out)
    return lines


def _targets(cells: dict[RunKey, list[dict[str, Any]]]) -> list[str]:
    lines = [
        "",
        "## Targets, per QMoE cell of Table I",
        "",
        "I(class; expert) on the test split in bits (target >= 0.5 on the 4-class tasks, >= 0.3 "
        "on the 2-class ones); the QMoE's margin, in points, over the equal-budget baseline "
        "(same qubits, trained weights, encoder, re-uploading and head; target: ahead in at least "
        "12 of 16 cells and on the mean), over the paper's 4-qubit baseline, over the paper's "
        "QMoE construction as run here, and over the paper's QMoE number.",
        "",
        "| task | operators | I(class; expert) | vs equal-budget baseline | vs baseline | "
        "vs paper's construction | vs paper's number |",
        "|---|---|---|---|---|---|---|",
    ]
    margins: list[float] = []
    mi_met = mi_cells = 0
    for task in TASKS:
        for ops in OPERATORS:
            qmoe = cells.get(RunKey("qmoe", task, ops, 4))
            if not qmoe:
                continue
            mean = _stats(qmoe)[0]
            mi = _mi(qmoe)
            if mi is not None:
                mi_cells += 1
                mi_met += mi >= MI_TARGETS[int(task[-1])]

            def margin(other: list[dict[str, Any]] | None, mean: float = mean) -> str:
                return "—" if not other else f"{mean - _stats(other)[0]:+.2f}"

            fair = cells.get(RunKey("fair-baseline", task, ops, 1))
            if fair:
                margins.append(mean - _stats(fair)[0])
            paper = PAPER_TABLE_I[("qmoe", ops)][task]
            lines.append(
                f"| {TASK_TITLES[task]} | {OPERATOR_TITLES[ops]} | "
                + ("—" if mi is None else f"{mi:.3f}")
                + f" | {margin(fair)}"
                f" | {margin(cells.get(RunKey('baseline', task, ops, 1)))}"
                f" | {margin(cells.get(RunKey('paper-qmoe', task, ops, 4)))}"
                f" | {mean - paper:+.2f} |"
            )
    if not margins and not mi_cells:
        return []
    ahead = sum(1 for m in margins if m > 0)
    lines += [
        "",
        f"The QMoE is ahead of its equal-budget baseline in {ahead} of {len(margins)} cells "
        f"compared (target: 12 of 16), by {np.mean(margins):+.2f} points on the mean over them"
        if margins
        else "No equal-budget baseline cell yet.",
        f"; I(class; expert) meets its target in {mi_met} of {mi_cells} cells.",
    ]
    lines[-2:] = ["".join(lines[-2:])]
    return lines


def _table_two(cells: dict[RunKey, list[dict[str, Any]]]) -> list[str]:
    counts = sorted({k.experts for k in cells if k.model == "qmoe" and k.task == "mnist4"})
    if len(counts) < 2:
        return []
    lines = [
        "",
        "## Table II: MNIST-4 by number of experts, test accuracy (%) [the paper's number]",
        "",
        "Each equal-budget baseline matches the QMoE with that many experts.",
        "",
        "| model | operators | "
        + " | ".join(f"{k} experts" for k in counts)
        + " | rises with experts |",
        "|---|---|" + "---|" * (len(counts) + 1),
    ]
    rows = (("qmoe", "QMoE"), ("fair-baseline", "equal-budget baseline"),
            ("paper-qmoe", "QMoE, paper's construction"))  # fmt: skip
    for model, title in rows:
        for ops in OPERATORS:
            row, means = [], []
            for k in counts:
                key = RunKey(model, "mnist4", ops, k if model != "fair-baseline" or k != 4 else 1)
                members = cells.get(key)
                paper = PAPER_TABLE_II[ops].get(k) if model != "fair-baseline" else None
                row.append(_cell(members, paper))
                means.append(_stats(members)[0] if members else None)
            if all(m is None for m in means):
                continue
            known = [m for m in means if m is not None]
            rises = (
                "—"
                if len(known) < len(means)
                else ("yes" if all(a < b for a, b in zip(known, known[1:], strict=False)) else "no")
            )
            lines.append(
                f"| {title} | {OPERATOR_TITLES[ops]} | " + " | ".join(row) + f" | {rises} |"
            )
    return lines + _table_two_routing(cells, counts)


def _table_two_routing(cells: dict[RunKey, list[dict[str, Any]]], counts: list[int]) -> list[str]:
    """Per operator set and expert count: I(class; expert) of the QMoE (bits; at most
    log2 of the expert count) and its margin over its equal-budget baseline (points)."""
    lines = ["", "| QMoE | operators | " + " | ".join(f"{k} experts" for k in counts) + " |",
             "|---|---|" + "---|" * len(counts)]  # fmt: skip
    for ops in OPERATORS:
        row = []
        for k in counts:
            qmoe = cells.get(RunKey("qmoe", "mnist4", ops, k))
            fair = cells.get(RunKey("fair-baseline", "mnist4", ops, k if k != 4 else 1))
            mi = _mi(qmoe)
            margin = _stats(qmoe)[0] - _stats(fair)[0] if qmoe and fair else None
            row.append(
                ("—" if mi is None else f"{mi:.2f} bits")
                + ("" if margin is None else f", {margin:+.2f} vs equal budget")
            )
        lines.append(
            f"| I(class; expert), margin | {OPERATOR_TITLES[ops]} | " + " | ".join(row) + " |"
        )
    return lines


def _best_qmoe(cells: dict[RunKey, list[dict[str, Any]]], task: str) -> dict[str, Any] | None:
    groups = [v for k, v in cells.items() if k.model == "qmoe" and k.task == task and v]
    if not groups:
        return None
    best = max(groups, key=lambda members: _stats(members)[0])
    return max(best, key=lambda run: run["test_accuracy"])


def _figures(cells: dict[RunKey, list[dict[str, Any]]], out: Path) -> list[str]:
    from matplotlib.ticker import MaxNLocator

    lines: list[str] = []
    best = {t: run for t in TASKS if (run := _best_qmoe(cells, t)) is not None}
    shown = [t for t in best if best[t].get("routing")]
    if shown:
        fig, axes = subplots(1, len(shown), figsize=(3.4 * len(shown), 3.2), squeeze=False)
        for ax, task in zip(axes[0], shown, strict=True):
            run = best[task]
            matrix = np.array(run["routing"]["matrix"])
            image = ax.imshow(matrix, vmin=0, vmax=1, cmap="viridis")
            for (c, k), value in np.ndenumerate(matrix):
                ax.text(k, c, f"{value:.2f}", ha="center", va="center", color="w", fontsize=8)
            ax.set_title(
                f"{TASK_TITLES[task]}: {run['name']}\n"
                f"I = {run['routing']['mutual_information']:.2f} bits",
                fontsize=8,
            )
            ax.set_xlabel("expert")
            ax.set_ylabel("class")
        fig.colorbar(image, ax=axes[0].tolist(), shrink=0.8, label="mean P(expert | class)")
        fig.savefig(out / "routing.png", dpi=110, bbox_inches="tight")
        lines += [
            "",
            "## Routing of the best QMoE of each task (test split)",
            "",
            "![routing](routing.png)",
        ]
    curves = [
        t for t in TASKS if any(k.task == t and v and v[0].get("curve") for k, v in cells.items())
    ]
    if curves:
        fig, axes = subplots(1, len(curves), figsize=(3.6 * len(curves), 3.2), squeeze=False)
        for ax, task in zip(axes[0], curves, strict=True):
            palette = matplotlib.colormaps["tab10"]
            colors = [palette(i) for i in range(palette.N)]
            for (model, title), color in zip(MODELS, colors, strict=False):
                groups = [
                    v
                    for k, v in cells.items()
                    if k.model == model and k.task == task and k.experts in (1, 4)
                ]
                groups = [g for g in groups if g and g[0].get("curve")]
                if not groups:
                    continue
                members = max(groups, key=lambda m: _stats(m)[0])
                series = [[row.get("test_accuracy", np.nan) for row in m["curve"]] for m in members]
                width = min(len(s) for s in series)
                mean = 100 * np.nanmean([s[:width] for s in series], axis=0)
                ax.plot(range(1, width + 1), mean, marker="o", color=color, label=title)
            ax.set_title(TASK_TITLES[task], fontsize=9)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_xlabel("epoch")
            ax.set_ylabel("test accuracy (%)")
        axes[0][0].legend(fontsize=6)
        fig.tight_layout()
        fig.savefig(out / "curves.png", dpi=110)
        lines += [
            "",
            "## Training curves (best operator set of each model, mean over seeds)",
            "",
            "![curves](curves.png)",
        ]
    return lines
