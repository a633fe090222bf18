"""The report of a Quantum-Train study directory: tables beside the paper's, and plots.

Reads every finished run (``runs/*/result.json``) and writes into the output directory:

* ``results.json``: one summary row per run (no per-epoch history);
* ``report.md``: the time-series table in the layout of the paper's Table II (test MSE,
  mean +- std over seeds, the paper's value in brackets; DiffQAS-QT against the median fixed
  configuration; DiffQAS-QT under each protocol; the quantum-free configurations against the
  paper's, :mod:`~qmoe_qiskit.experiments.qt_series_report`), the classification results, the
  compression ratios, compute time per task;
* ``series-<task>.png``: the DiffQAS-QT prediction of each series (seed 0) with the test
  region shaded; ``series-curves.png``: test MSE per epoch; ``classify-curves.png``: train and
  test accuracy per epoch.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import numpy as np

from ..errors import JobFileError
from ..figures import subplots
from ..files import write_json
from .qt_rl_report import WINDOW, plot_rl, rl_section
from .qt_series_report import (
    DEFAULT,
    FIRST,
    protocol_suffix,
    protocol_title,
    series_section,
    variant_key,
    variant_of,
)
from .qt_study import EPOCH_FIELDS, collect, history_of, mean_std

__all__ = ["write_report"]


def _classify_summary(classify: list[dict]) -> list[str]:
    """Mean +- std over seeds per task and scoring rule."""
    groups: dict[tuple[str, str], list[float]] = defaultdict(list)
    for r in classify:
        groups[(r["run"]["task"], r["run"].get("select", "last"))].append(r["test_accuracy"])
    lines = ["| task | scored at | seeds | test accuracy (mean ± std) |", "|---|---|---|---|"]
    for (task, select), values in sorted(groups.items()):
        mean, std = mean_std(values)
        rule = "best validation epoch" if select == "val" else "last epoch"
        lines.append(f"| {task} | {rule} | {len(values)} | {100 * mean:.2f} ± {100 * std:.2f} % |")
    return lines


def _finish(fig, ax, out: Path, name: str, xlabel: str, ylabel: str, title: str) -> str:
    """Label, save and close a figure; returns its file name."""

    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / name, dpi=120)
    return name


def _plot_series(results: list[dict], out: Path) -> list[str]:

    written = []
    for r in results:
        run = r["run"]
        if run["config"] != "diffqas" or run["seed"] != 0 or "prediction" not in r:
            continue
        if variant_of(run) not in (DEFAULT, FIRST, FIRST[:1] + ("time",) + FIRST[2:]):
            continue  # the other protocols: in the ablation table and the curves only
        p = r["prediction"]
        series = np.asarray(p["series"])
        predicted = np.asarray(p["predicted"])
        x = np.arange(len(series))
        fig, ax = subplots(figsize=(7, 3))
        ax.plot(x, series, "--", color="tab:orange", label="ground truth")
        steps = x[p["window"] : p["window"] + len(predicted)]
        ax.plot(steps, predicted, color="tab:blue", label="DiffQAS-QT prediction")
        ax.axvspan(p["first_test"], len(series) - 1, color="0.9", label="test region")
        title = f"{run['task']}: test MSE {r['test_mse']:.2e} (seed 0)"
        if protocol_suffix(run):
            title += f", {protocol_title(variant_of(run))}"
        name = f"series-{run['task']}{protocol_suffix(run)}.png"
        written.append(_finish(fig, ax, out, name, "time step", "", title))
    curves = [r for r in results if r["run"]["config"] == "diffqas" and r["run"]["seed"] == 0]
    curves = [r for r in curves if "test_mse" in r and history_of(r)]
    variants = sorted({variant_of(r["run"]) for r in curves}, key=variant_key)
    if curves:  # one panel per protocol variant
        cols = min(3, len(variants))
        grid = math.ceil(len(variants) / cols)
        fig, axes = subplots(
            grid, cols, figsize=(5.5 * cols, 3.5 * grid), sharey=True, squeeze=False
        )
        for ax in axes.flat[len(variants) :]:
            ax.set_visible(False)
        for ax, variant in zip(axes.flat, variants, strict=False):
            for r in (r for r in curves if variant_of(r["run"]) == variant):
                epochs = [h["epoch"] for h in history_of(r)]
                ax.semilogy(epochs, [h["test_mse"] for h in history_of(r)], label=r["run"]["task"])
            ax.set_title(f"DiffQAS-QT LSTM, seed 0: {protocol_title(variant)}", fontsize=9)
            ax.set_xlabel("epoch")
            ax.legend(fontsize=7)
        for row in axes:
            row[0].set_ylabel("test MSE")
        fig.tight_layout()
        fig.savefig(out / "series-curves.png", dpi=120)
        written.append("series-curves.png")
    return written


def _plot_classify(results: list[dict], out: Path) -> list[str]:

    runs = [r for r in results if "test_accuracy" in r and history_of(r)]
    if not runs:
        return []
    fig, ax = subplots(figsize=(6, 3.5))
    for r in runs:
        history = history_of(r)
        epochs = [h["epoch"] for h in history]
        label = f"{r['run']['task']} s{r['run']['seed']}"
        line = ax.plot(epochs, [h["test_accuracy"] for h in history], label=f"{label} test")
        ax.plot(
            epochs, [h["train_accuracy_eval"] for h in history], "--",
            color=line[0].get_color(), label=f"{label} train",
        )  # fmt: skip
    title = "QT-generated 784-128-64-2 classifier (DiffQAS-QT)"
    return [_finish(fig, ax, out, "classify-curves.png", "epoch", "accuracy", title)]


def write_report(study: str | Path, output: str | Path | None = None) -> Path:
    """Write ``report.md``, ``results.json`` and the plots of a QT study.

    Raises:
        JobFileError: If the study holds no finished run.
    """
    study = Path(study).expanduser()
    from .qt_rl import in_progress

    results = collect(study) + in_progress(study)
    if not results:
        raise JobFileError(f"{study} holds no finished Quantum-Train run (runs/*/result.json)")
    out = Path(output).expanduser() if output else study
    out.mkdir(parents=True, exist_ok=True)
    series = [r for r in results if "test_mse" in r]
    classify = [r for r in results if "test_accuracy" in r]
    rl = [r for r in results if "returns" in r]
    supervised = series + classify
    lines = ["# Quantum-Train with DiffQAS: our runs beside the paper (Chen et al.)", ""]
    if series:
        lines += series_section(series)
    if classify:
        lines += [
            "## Classification (QT-generated 784-128-64-2 MLP, full 28x28 images)",
            "",
            "| task | seed | epochs | scored epoch | train accuracy | test accuracy | test "
            "accuracy by epoch (%) | seconds |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in sorted(classify, key=lambda r: r["name"]):
            by_epoch = ", ".join(f"{100 * h['test_accuracy']:.1f}" for h in history_of(r)) or "-"
            select = r["run"].get("select", "last")
            scored = f"{r.get('scored_epoch', '-')}" + (" (best val)" if select == "val" else "")
            lines.append(
                f"| {r['run']['task']} | {r['run']['seed']} | {r['run']['epochs']} | {scored} | "
                f"{r['train_accuracy']:.4f} | {r['test_accuracy']:.4f} | {by_epoch} | "
                f"{r['seconds']:.0f} |"
            )
        lines += ["", *_classify_summary(classify)]
        lines += ["", "The paper reports above 98 % train and test accuracy on Fashion 1 vs 5.", ""]
    lines += [
        "## Compression (classical weights -> trained parameters)",
        "",
        "| network | classical | qubits | QNN angles | structural | mapping | trained | ratio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    seen: set[tuple] = set()
    key: tuple
    for r in supervised:
        c = r["compression"]
        key = (c["classical_parameters"], c["structural_weights"])
        if key in seen:
            continue
        seen.add(key)
        kind = "LSTM" if "test_mse" in r else "MLP 784-128-64-2"
        lines.append(
            f"| {kind} ({'DiffQAS' if c['structural_weights'] else 'fixed config'}) | "
            f"{c['classical_parameters']:,} | {c['qubits']} | {c['qnn_angles']} | "
            f"{c['structural_weights']} | {c['mapping_parameters']} | {c['trained_parameters']} "
            f"| {c['ratio']:.1f} |"
        )
    for r in rl:
        parts = r.get("compression") or []
        key = ("rl", r["classical_parameters"], r["trained_parameters"])
        if not parts or key in seen:
            continue
        seen.add(key)

        def joined(field: str, parts: list = parts) -> str:
            return " + ".join(f"{c[field]:,}" for c in parts)

        lines.append(
            f"| MiniGrid actor + critic (DiffQAS) | {joined('classical_parameters')} | "
            f"{joined('qubits')} | {joined('qnn_angles')} | {joined('structural_weights')} | "
            f"{joined('mapping_parameters')} | {r['trained_parameters']} | "
            f"{r['classical_parameters'] / r['trained_parameters']:.1f} |"
        )
    if rl:
        lines += ["", *rl_section(rl)]
    lines += ["", "## Compute", "", "| task | runs | seconds per run (mean) | total hours |"]
    lines += ["|---|---|---|---|"]
    per_task: dict[str, list[float]] = defaultdict(list)
    for r in results:
        task = r["run"].get("task") or f"{r['run']['env']} ({r['run']['agent']})"
        per_task[task].append(r["seconds"])
    for task, secs in per_task.items():
        lines.append(f"| {task} | {len(secs)} | {np.mean(secs):.0f} | {sum(secs) / 3600:.2f} |")
    lines.append("")
    images = _plot_series(series, out) + _plot_classify(classify, out) + plot_rl(rl, out)
    lines += [f"![{name}]({name})" for name in images]
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n")
    write_json(out / "results.json", {"runs": [_summary_row(r) for r in results]})
    return path


def _summary_row(result: dict) -> dict:
    """A run's result without per-epoch or per-episode data (RL: the moving average every
    250 episodes instead of every episode's reward)."""
    dropped = ("history", "prediction", "returns", "lengths")
    row = {k: v for k, v in result.items() if k not in dropped}
    if "history" in result:
        row["by_epoch"] = {
            field: [h[field] for h in result["history"]]
            for field in EPOCH_FIELDS
            if result["history"] and all(field in h for h in result["history"])
        }
    if "returns" in result:
        from .qt_rl import moving_average

        mean = moving_average(result["returns"], WINDOW)[0]
        row["episodes"] = len(result["returns"])
        row["moving_average_every_250"] = [round(float(v), 4) for v in mean[249::250]]
    return row
