"""The report of a Quantum-Train study directory: tables beside the paper's, and plots.

Reads every finished run (``runs/*/result.json``) and writes into the output directory:

* ``results.json``: one summary row per run (no per-epoch history);
* ``report.md``: the time-series table in the layout of the paper's Table II (test MSE,
  mean +- std over seeds, the paper's value in brackets; DiffQAS-QT against the median fixed
  configuration), the classification results, the compression ratios, compute time per task;
* ``series-<task>.png``: the DiffQAS-QT prediction of each series (seed 0) with the test
  region shaded; ``series-curves.png``: test MSE per epoch; ``classify-curves.png``: train and
  test accuracy per epoch.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import numpy as np

from ..data.series import TASKS
from ..errors import JobFileError
from ..figures import subplots
from ..files import write_json
from .qt_rl_report import WINDOW, plot_rl, rl_section
from .qt_study import PAPER_TABLE_II, collect, equivalent_configs, mean_std

__all__ = ["write_report"]

_CONFIG_ORDER = ["diffqas", *range(1, 13)]


#: A series run's protocol: ``(select, order, angle_init, dtype, points)``.
Variant = tuple[str, str, str, str, int]
#: The default protocol, the authors' (``AUTHORS_PROTOCOL``): rows and titles of other
#: protocols name how they differ from it.
_DEFAULT: Variant = ("last", "time", "normal", "float32", 0)
#: This project's first protocol (the committed runs from before; no suffix in run names).
_FIRST: Variant = ("last", "shuffled", "uniform", "float64", 0)


def _variant(run: dict) -> Variant:
    return (
        run.get("select", "last"), run.get("order", "shuffled"),
        run.get("angle_init", "uniform"), run.get("dtype", "float64"), run.get("points", 0),
    )  # fmt: skip


def _variant_key(variant: Variant) -> tuple:
    """Report order: the default protocol, the first one, then by how many settings differ."""
    changed = tuple(a != b for a, b in zip(variant, _DEFAULT, strict=True))
    return (variant != _DEFAULT, variant != _FIRST, sum(changed), changed, variant)


def _title(variant: Variant) -> str:
    """How a protocol differs from the default, e.g. ``"shuffled batches, uniform angles,
    float64"``; the default's is ``"the authors' protocol"``."""
    if variant == _DEFAULT:
        return "the authors' protocol"
    select, order, angle_init, dtype, points = variant
    parts = ["best validation epoch"] if select == "val" else []
    parts += ["shuffled batches"] if order == "shuffled" else []
    parts += ["uniform angles"] if angle_init == "uniform" else []
    parts += ["float64"] if dtype == "float64" else []
    parts += [f"{points} points"] if points else []
    return ", ".join(parts)


def _suffix(run: dict) -> str:
    """``""`` for the default protocol, else how the run differs from it, for file names,
    e.g. ``"-val"`` or ``"-shuffled-uniform-f64"``."""
    select, order, angle_init, dtype, points = _variant(run)
    return (
        ("-val" if select == "val" else "")
        + ("-shuffled" if order == "shuffled" else "")
        + ("-uniform" if angle_init == "uniform" else "")
        + ("-f64" if dtype == "float64" else "")
        + (f"-p{points}" if points else "")
    )


def _label(config: str | int, variant: Variant = _DEFAULT) -> str:
    label = "DiffQAS-QT (ours)" if config == "diffqas" else f"Config {config}"
    return label if variant == _DEFAULT else f"{label}, {_title(variant)}"


#: Per-epoch fields a summary row keeps (``results.json``), so a report can be written again
#: from summary rows alone (:func:`restore`).
_EPOCH_FIELDS = ("test_mse", "test_accuracy", "train_accuracy_eval")


def _history(run: dict) -> list[dict]:
    """A run's per-epoch rows: its full history, or those a summary row kept (may be empty)."""
    if "history" in run:
        return run["history"]
    kept = run.get("by_epoch") or {}
    count = max((len(v) for v in kept.values()), default=0)
    return [
        {"epoch": i + 1, **{field: values[i] for field, values in kept.items()}}
        for i in range(count)
    ]


def _fmt(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2e}"


def _series_table(results: list[dict]) -> tuple[list[str], dict]:
    table: dict[tuple[str, str | int, Variant], list[float]] = defaultdict(list)
    for r in results:
        run = r["run"]
        table[(run["task"], run["config"], _variant(run))].append(r["test_mse"])
    tasks = [t for t in TASKS if any(k[0] == t for k in table)]
    lines = [
        "| model | " + " | ".join(tasks) + " |",
        "|---|" + "---|" * len(tasks),
    ]
    stats = {}
    equivalent = equivalent_configs()
    variants = sorted({k[2] for k in table}, key=_variant_key)
    rows = [(c, variant) for variant in variants for c in _CONFIG_ORDER]
    for config, variant in rows:
        own = equivalent.get(config, config) if isinstance(config, int) else config
        if not any((t, config, variant) in table or (t, own, variant) in table for t in tasks):
            continue
        cells = []
        for task in tasks:
            values = table.get((task, config, variant), [])
            mark = ""
            if not values and config in equivalent:  # the same model: its representative's
                values = table.get((task, equivalent[config], variant), [])
                mark = " ‡" if values else ""
            mean, std = mean_std(values)
            stats[(task, config, variant)] = (mean, std, len(values))
            paper = PAPER_TABLE_II[task][config]
            cell = f"{_fmt(mean)} ± {_fmt(std)}" if values else "-"
            cells.append(
                f"{cell} (n={len(values)}){mark} [{paper:.2e}]" if values else f"- [{paper:.2e}]"
            )
        lines.append(f"| {_label(config, variant)} | " + " | ".join(cells) + " |")
    return lines, {"tasks": tasks, "stats": stats, "variants": variants}


def _derived(results: list[dict]) -> list[str]:
    """Which candidate each DiffQAS-QT run ended on, and the weight left on constant ones."""
    rows = [r for r in results if r["run"]["config"] == "diffqas"]
    if not rows:
        return []
    lines = [
        "### What the search chose",
        "",
        "| run | derived candidate | its structural weight | weight on constant candidates "
        "(1, 3, 4, 6, 9, 12) |",
        "|---|---|---|---|",
    ]
    constant = [0, 2, 3, 5, 8, 11]
    for r in sorted(rows, key=lambda r: r["name"]):
        w = np.asarray(r["structural_weights"][0])
        lines.append(
            f"| {r['name']} | {r['derived'][0]} | {w.max():.2f} | {w[constant].sum():.2f} |"
        )
    return lines


def _ablation(info: dict) -> list[str]:
    """DiffQAS-QT under every protocol measured: mean +- std and the ratio to the paper."""
    stats, tasks = info["stats"], info["tasks"]
    variants = [v for v in info["variants"] if any((t, "diffqas", v) in stats for t in tasks)]
    if len(variants) < 2:
        return []
    lines = [
        "### DiffQAS-QT by protocol (test MSE, mean ± std over seeds, n; x = ours / paper)",
        "",
        "| protocol | " + " | ".join(tasks) + " | series within 2x |",
        "|---|" + "---|" * (len(tasks) + 1),
    ]
    for variant in variants:
        cells, within = [], 0
        for task in tasks:
            mean, std, n = stats.get((task, "diffqas", variant), (math.nan, math.nan, 0))
            if not n:
                cells.append("-")
                continue
            ratio = mean / PAPER_TABLE_II[task]["diffqas"]
            within += ratio <= 2
            cells.append(f"{_fmt(mean)} ± {_fmt(std)} (n={n}, {ratio:.1f}x)")
        lines.append(f"| {_title(variant)} | " + " | ".join(cells) + f" | {within} |")
    return lines


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


def _targets(info: dict, variant: Variant = _DEFAULT) -> list[str]:
    lines = []
    stats = info["stats"]
    for task in info["tasks"]:
        ours = stats.get((task, "diffqas", variant))
        if ours is None or ours[2] == 0:
            continue
        paper = PAPER_TABLE_II[task]["diffqas"]
        fixed = [stats[(task, c, variant)][0] for c in range(1, 13) if (task, c, variant) in stats]
        median = float(np.median(fixed)) if len(fixed) == 12 else math.nan
        within = "yes" if ours[0] <= 2 * paper else "no"
        beats = "-" if math.isnan(median) else ("yes" if ours[0] <= median else "no")
        lines.append(
            f"| {task} | {_fmt(ours[0])} | {paper:.2e} | {ours[0] / paper:.2f} | {within} | "
            f"{_fmt(median)} | {beats} |"
        )
    if not lines:
        return []
    head = [
        "| series | DiffQAS-QT (ours, mean) | paper | ours / paper | within 2x | "
        "median fixed config (ours) | DiffQAS <= median |",
        "|---|---|---|---|---|---|---|",
    ]
    return head + lines


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
        if _variant(run) not in (_DEFAULT, _FIRST, _FIRST[:1] + ("time",) + _FIRST[2:]):
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
        if _suffix(run):
            title += f", {_title(_variant(run))}"
        name = f"series-{run['task']}{_suffix(run)}.png"
        written.append(_finish(fig, ax, out, name, "time step", "", title))
    curves = [r for r in results if r["run"]["config"] == "diffqas" and r["run"]["seed"] == 0]
    curves = [r for r in curves if "test_mse" in r and _history(r)]
    variants = sorted({_variant(r["run"]) for r in curves}, key=_variant_key)
    if curves:  # one panel per protocol variant
        cols = min(3, len(variants))
        grid = math.ceil(len(variants) / cols)
        fig, axes = subplots(
            grid, cols, figsize=(5.5 * cols, 3.5 * grid), sharey=True, squeeze=False
        )
        for ax in axes.flat[len(variants) :]:
            ax.set_visible(False)
        for ax, variant in zip(axes.flat, variants, strict=False):
            for r in (r for r in curves if _variant(r["run"]) == variant):
                epochs = [h["epoch"] for h in _history(r)]
                ax.semilogy(epochs, [h["test_mse"] for h in _history(r)], label=r["run"]["task"])
            ax.set_title(f"DiffQAS-QT LSTM, seed 0: {_title(variant)}", fontsize=9)
            ax.set_xlabel("epoch")
            ax.legend(fontsize=7)
        for row in axes:
            row[0].set_ylabel("test MSE")
        fig.tight_layout()
        fig.savefig(out / "series-curves.png", dpi=120)
        written.append("series-curves.png")
    return written


def _plot_classify(results: list[dict], out: Path) -> list[str]:

    runs = [r for r in results if "test_accuracy" in r and _history(r)]
    if not runs:
        return []
    fig, ax = subplots(figsize=(6, 3.5))
    for r in runs:
        history = _history(r)
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
        table, info = _series_table(series)
        lines += [
            "## Time series: test MSE (paper Table II layout)",
            "",
            "QT-generated LSTM (1,781 weights from an 11-qubit generator of depth 10), "
            "windows of 4, first 67 % train, RMSprop 0.01, batch 10. Mean ± std over seeds "
            "(n = seeds finished), the paper's value in brackets. ‡: not trained, the "
            "numbers of the config with the same constant generator output (3, 4 and 6 as "
            "1, 12 as 9: the same model, see `equivalent_configs`). Rows without a label "
            "use the authors' protocol (`qmoe qt series`'s default: mini-batches in time "
            "order, generator angles 0.01 N(0, 1), float32, the last epoch scored); the "
            "others say how they differ (the project's first protocol: shuffled batches, "
            "uniform angles, float64).",
            "",
            *table,
            "",
        ]
        ablation = _ablation(info)
        lines += [*ablation, ""] if ablation else []
        lines += [*_derived(series), ""]
        for variant in info["variants"]:
            targets = _targets(info, variant)
            if targets:
                lines += [f"### Targets ({_title(variant)})", "", *targets, ""]
    if classify:
        lines += [
            "## Classification (QT-generated 784-128-64-2 MLP, full 28x28 images)",
            "",
            "| task | seed | epochs | scored epoch | train accuracy | test accuracy | test "
            "accuracy by epoch (%) | seconds |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in sorted(classify, key=lambda r: r["name"]):
            by_epoch = ", ".join(f"{100 * h['test_accuracy']:.1f}" for h in _history(r)) or "-"
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
            for field in _EPOCH_FIELDS
            if result["history"] and all(field in h for h in result["history"])
        }
    if "returns" in result:
        from .qt_rl import moving_average

        mean = moving_average(result["returns"], WINDOW)[0]
        row["episodes"] = len(result["returns"])
        row["moving_average_every_250"] = [round(float(v), 4) for v in mean[249::250]]
    return row
