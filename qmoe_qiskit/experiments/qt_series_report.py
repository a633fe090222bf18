"""The time-series part of a Quantum-Train study's report: the paper's Table II layout, the
protocols side by side, the targets of each protocol, and the quantum-free reference.

A run's *protocol* (:data:`Variant`) is how it was trained and scored (``qmoe qt series``'s
``--select``, ``--order``, ``--init``, ``--dtype``, ``--points``); tables group runs by it.
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from ..data.series import TASKS
from .qt_study import PAPER_TABLE_II, equivalent_configs, history_of, mean_std

__all__ = [
    "DEFAULT",
    "FIRST",
    "Variant",
    "protocol_suffix",
    "protocol_title",
    "series_section",
    "variant_key",
    "variant_of",
]

_CONFIG_ORDER = ["diffqas", *range(1, 13)]


#: A series run's protocol: ``(select, order, angle_init, dtype, points)``.
Variant = tuple[str, str, str, str, int]
#: The default protocol, the authors' (``AUTHORS_PROTOCOL``): rows and titles of other
#: protocols name how they differ from it.
DEFAULT: Variant = ("last", "time", "normal", "float32", 0)
#: This project's first protocol (the committed runs from before; no suffix in run names).
FIRST: Variant = ("last", "shuffled", "uniform", "float64", 0)


def variant_of(run: dict) -> Variant:
    """A run's protocol, from its ``run`` record (runs from before an option existed have
    the first protocol's value)."""
    return (
        run.get("select", "last"), run.get("order", "shuffled"),
        run.get("angle_init", "uniform"), run.get("dtype", "float64"), run.get("points", 0),
    )  # fmt: skip


def variant_key(variant: Variant) -> tuple:
    """Report order: the default protocol, the first one, then by how many settings differ."""
    changed = tuple(a != b for a, b in zip(variant, DEFAULT, strict=True))
    return (variant != DEFAULT, variant != FIRST, sum(changed), changed, variant)


def protocol_title(variant: Variant) -> str:
    """How a protocol differs from the default, e.g. ``"shuffled batches, uniform angles,
    float64"``; the default's is ``"the authors' protocol"``."""
    if variant == DEFAULT:
        return "the authors' protocol"
    select, order, angle_init, dtype, points = variant
    parts = ["best validation epoch"] if select == "val" else []
    parts += ["shuffled batches"] if order == "shuffled" else []
    parts += ["uniform angles"] if angle_init == "uniform" else []
    parts += ["float64"] if dtype == "float64" else []
    parts += [f"{points} points"] if points else []
    return ", ".join(parts)


def protocol_suffix(run: dict) -> str:
    """``""`` for the default protocol, else how the run differs from it, for file names,
    e.g. ``"-val"`` or ``"-shuffled-uniform-f64"``."""
    select, order, angle_init, dtype, points = variant_of(run)
    return (
        ("-val" if select == "val" else "")
        + ("-shuffled" if order == "shuffled" else "")
        + ("-uniform" if angle_init == "uniform" else "")
        + ("-f64" if dtype == "float64" else "")
        + (f"-p{points}" if points else "")
    )


def _label(config: str | int, variant: Variant = DEFAULT) -> str:
    label = "DiffQAS-QT (ours)" if config == "diffqas" else f"Config {config}"
    return label if variant == DEFAULT else f"{label}, {protocol_title(variant)}"


def _fmt(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2e}"


def _series_table(results: list[dict]) -> tuple[list[str], dict]:
    table: dict[tuple[str, str | int, Variant], list[float]] = defaultdict(list)
    for r in results:
        run = r["run"]
        table[(run["task"], run["config"], variant_of(run))].append(r["test_mse"])
    tasks = [t for t in TASKS if any(k[0] == t for k in table)]
    lines = [
        "| model | " + " | ".join(tasks) + " |",
        "|---|" + "---|" * len(tasks),
    ]
    stats = {}
    equivalent = equivalent_configs()
    variants = sorted({k[2] for k in table}, key=variant_key)
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
            cells.append(f"{_fmt(mean)} ± {_fmt(std)} (n={n}, {ratio:.2g}x)")
        lines.append(f"| {protocol_title(variant)} | " + " | ".join(cells) + f" | {within} |")
    return lines


def _targets(info: dict, variant: Variant = DEFAULT) -> list[str]:
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


def _reference(info: dict) -> list[str]:
    """Each protocol's quantum-free configs beside the paper's, and DiffQAS-QT against them.

    The quantum-free configs are the representatives of :func:`equivalent_configs` (1: the
    uniform distribution, 9: a point mass): their generator output does not depend on their
    angles, so only the mapping model's 13 parameters shape their LSTM."""
    stats, tasks = info["stats"], info["tasks"]
    quantum_free = sorted(set(equivalent_configs().values()))
    first = quantum_free[0]
    rows = []
    for variant in info["variants"]:
        for task in tasks:
            free = [stats.get((task, c, variant), (math.nan, 0, 0)) for c in quantum_free]
            if not any(n for _, _, n in free):
                continue
            ours = stats.get((task, "diffqas", variant), (math.nan, 0, 0))[0]
            paper = PAPER_TABLE_II[task]
            ratios = [
                f"{mean / paper[c]:.2g}x" if n else "-"
                for (mean, _, n), c in zip(free, quantum_free, strict=True)
            ]
            ours_vs_first = (
                "-" if math.isnan(ours) or not free[0][2] else f"{ours / free[0][0]:.2f}"
            )
            rows.append(
                f"| {protocol_title(variant)} | {task} | {' | '.join(ratios)} | {ours_vs_first} | "
                f"{paper['diffqas'] / paper[first]:.2f} |"
            )
    if not rows:
        return []
    return [
        "### The quantum-free configurations: our data and training against the authors'",
        "",
        "Configs 1 and 9 generate the same distribution whatever their angles (1: uniform, "
        "9: a point mass), so only the 13-parameter mapping model shapes their LSTM: their "
        "ratio to the paper's row measures how far our series, LSTM and training are from "
        "the authors' with no quantum parameter involved. The last two columns divide "
        "DiffQAS-QT's test MSE by config 1's, ours and the paper's.",
        "",
        "| protocol | series | "
        + "".join(f"config {c}, ours / paper | " for c in quantum_free)
        + f"DiffQAS-QT / config {first} (ours) | DiffQAS-QT / config {first} (paper) |",
        "|---|---|" + "---|" * (len(quantum_free) + 2),
        *rows,
    ]


def _validation_choice(series: list[dict]) -> list[str]:
    """DiffQAS-QT's protocols scored at their best validation epoch, compared on validation
    MSE alone (over the seeds every compared protocol finished): the protocol chosen per
    series without looking at the test split, and its test MSE."""
    best: dict[tuple[Variant, str], dict[int, tuple[float, float]]] = defaultdict(dict)
    for r in series:
        run = r["run"]
        losses = [h["val_loss"] for h in history_of(r) if "val_loss" in h]
        if run["config"] == "diffqas" and run.get("select") == "val" and losses:
            best[(variant_of(run), run["task"])][run["seed"]] = (min(losses), r["test_mse"])
    variants = sorted({v for v, _ in best}, key=variant_key)
    tasks = [t for t in TASKS if any(task == t for _, task in best)]
    if len(variants) < 2:
        return []
    cells: dict[tuple[Variant, str], str] = {}
    chosen = []
    for task in tasks:
        runs = [best[(v, task)] for v in variants if (v, task) in best]
        seeds = sorted(set.intersection(*(set(r) for r in runs)))
        if not seeds or len(runs) < 2:
            continue
        means = {
            v: float(np.mean([best[(v, task)][s][0] for s in seeds]))
            for v in variants
            if (v, task) in best
        }
        winner = min(means, key=lambda v: means[v])
        for v, mean in means.items():
            cells[(v, task)] = f"**{_fmt(mean)}**" if v == winner else _fmt(mean)
        test = float(np.mean([best[(winner, task)][s][1] for s in seeds]))
        paper = PAPER_TABLE_II[task]["diffqas"]
        chosen.append(
            f"| {task} | {protocol_title(winner)} | {len(seeds)} | {_fmt(test)} | "
            f"{test / paper:.2g}x |"
        )
    if not chosen:
        return []
    lines = [
        "### Choosing the protocol on the validation split",
        "",
        "DiffQAS-QT's best-validation-epoch protocols by their mean validation MSE (the "
        "lowest validation loss of each run, over the seeds all of them finished; the split "
        "is the last 10 % of the training windows under every protocol); bold: the lowest.",
        "",
        "| protocol | " + " | ".join(tasks) + " |",
        "|---|" + "---|" * len(tasks),
    ]
    for v in variants:
        row = [cells.get((v, task), "-") for task in tasks]
        lines.append(f"| {protocol_title(v)} | " + " | ".join(row) + " |")
    return [
        *lines,
        "",
        "| series | protocol chosen on validation | seeds | its test MSE | ours / paper |",
        "|---|---|---|---|---|",
        *chosen,
    ]


def series_section(series: list[dict]) -> list[str]:
    """The report's time-series section (Markdown lines) for the finished series runs."""
    table, info = _series_table(series)
    lines = [
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
            lines += [f"### Targets ({protocol_title(variant)})", "", *targets, ""]
    for part in (_validation_choice(series), _reference(info)):
        lines += [*part, ""] if part else []
    return lines
