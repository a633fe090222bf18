"""The hybrid-QMoE study's report: figures (PNG) and ``report.md``, from ``results.json`` alone."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..engines import build_network
from ..figures import subplots
from ..models import compile_model
from ..models.hybrid import HybridNetwork
from ..spec import load_spec
from .hybrid_protocol import (
    DATASET_TITLES,
    MODELS,
    PAPER,
    STUDY_DATASETS,
    load_study_data,
)

__all__ = [
    "plot_decision_boundaries",
    "plot_noise",
    "plot_router_map",
    "plot_training_curves",
    "write_report",
]


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    arr = np.asarray(values, dtype=float)
    return float(arr.mean()), float(arr.std(ddof=1)) if len(arr) > 1 else 0.0


def _pm(values: Sequence[float], pct: bool = True, digits: int = 1) -> str:
    mean, std = _mean_std(values)
    factor = 100.0 if pct else 1.0
    return f"{mean * factor:.{digits}f} ± {std * factor:.{digits}f}"


def _runs(results: dict[str, Any], dataset: str, model: str) -> list[dict[str, Any]]:
    return [r for r in results["runs"] if r["dataset"] == dataset and r["model"] == model]


def plot_decision_boundaries(results, path: Path, data_dir: str | None = None) -> None:
    """Decision boundaries of A, B, C on Two Moons (first seed), test points overlaid."""
    fig, axes = subplots(1, 3, figsize=(13, 4.2))
    grid = np.linspace(-0.15, np.pi + 0.15, 160)
    gx, gy = np.meshgrid(grid, grid)
    points = np.stack([gx.ravel(), gy.ravel()], axis=1)
    for ax, (letter, router) in zip(axes, MODELS.items(), strict=True):
        run = _runs(results, "moons", letter)[0]
        spec = load_spec(STUDY_DATASETS["moons"].format(router=router))
        model = compile_model(spec)
        data = load_study_data(spec, run["seed"], data_dir)
        network = build_network(model, np.asarray(run["weights"]), engine="torch")
        with torch.no_grad():
            logits = network(torch.as_tensor(points)).numpy()
        margin = (logits[:, 1] - logits[:, 0]).reshape(gx.shape)
        ax.contourf(gx, gy, margin > 0, levels=[-0.5, 0.5, 1.5], colors=["#9ecae1", "#fdae6b"])
        ax.contour(gx, gy, margin, levels=[0.0], colors="k", linewidths=1)
        ax.scatter(*data.x_test.T, c=data.y_test, cmap="coolwarm", s=9, edgecolors="k", lw=0.2)
        ax.set_title(
            f"{letter}: {router} router, P = {run['router_params']}\n"
            f"test acc {run['accuracy']:.3f} (seed {run['seed']})"
        )
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def plot_router_map(results, path: Path, data_dir: str | None = None) -> None:
    """Model B's routing probability P(k|x) per expert on Two Moons (first seed)."""
    run = _runs(results, "moons", "B")[0]
    spec = load_spec(STUDY_DATASETS["moons"].format(router="quantum"))
    model = compile_model(spec)
    data = load_study_data(spec, run["seed"], data_dir)
    network = build_network(model, np.asarray(run["weights"]), engine="torch")
    grid = np.linspace(0, np.pi, 120)
    gx, gy = np.meshgrid(grid, grid)
    points = np.stack([gx.ravel(), gy.ravel()], axis=1)
    assert isinstance(network, HybridNetwork)  # the study's specs are hybrid
    with torch.no_grad():
        probs = network.routing(torch.as_tensor(points)).numpy()
    k = model.num_experts
    fig, axes = subplots(1, k, figsize=(3.3 * k, 3.2))
    for i, ax in enumerate(axes):
        image = ax.imshow(
            probs[:, i].reshape(gx.shape), origin="lower", extent=(0, np.pi, 0, np.pi),
            vmin=0, vmax=1, cmap="viridis",
        )  # fmt: skip
        ax.scatter(*data.x_test.T, c=data.y_test, cmap="coolwarm", s=4, alpha=0.6)
        ax.set_title(f"P(expert {i} | x) = |<{i:0{2}b}|U|psi(x)>|^2", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(image, ax=list(axes), shrink=0.8)
    fig.suptitle(f"Quantum router (model B, seed {run['seed']}) on Two Moons")
    fig.savefig(path, dpi=90)


def plot_training_curves(results, path: Path) -> None:
    """Mean (± std over seeds) validation accuracy and training loss per epoch."""
    keys = [k for k in STUDY_DATASETS if any(r["dataset"] == k for r in results["runs"])]
    fig, axes = subplots(2, len(keys), figsize=(4.6 * len(keys), 6.5), squeeze=False)
    for col, key in enumerate(keys):
        for letter, router in MODELS.items():
            runs = _runs(results, key, letter)
            if not runs:
                continue
            for row, metric in enumerate(("val_accuracy", "train_loss")):
                length = max(len(r["history"]) for r in runs)
                # a stopped run keeps its last value (its best weights are from an earlier epoch)
                curves = np.array(
                    [
                        [h[metric] for h in r["history"]]
                        + [r["history"][-1][metric]] * (length - len(r["history"]))
                        for r in runs
                    ]
                )
                mean, std = curves.mean(axis=0), curves.std(axis=0)
                epochs = np.arange(1, length + 1)
                ax = axes[row, col]
                ax.plot(epochs, mean, label=f"{letter} ({router})")
                ax.fill_between(epochs, mean - std, mean + std, alpha=0.2)
        axes[0, col].set_title(DATASET_TITLES[key])
        axes[0, col].set_ylabel("validation accuracy")
        axes[1, col].set_ylabel("training loss")
        axes[1, col].set_xlabel("epoch")
        axes[0, col].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def plot_noise(results, path: Path) -> None:
    """Model B's Two Moons test accuracy vs depolarizing error, with A and the paper."""
    noise = results["noise"]
    eps = results["settings"]["noise_eps"]
    fig, ax = subplots(figsize=(6.4, 4.2))
    means = [_mean_std([n[f"eps={e:g}"] for n in noise]) for e in eps]
    ax.errorbar(
        eps, [m for m, _ in means], yerr=[s for _, s in means], fmt="o-", capsize=3,
        label="B (quantum router), ours",
    )  # fmt: skip
    a_mean, a_std = _mean_std([r["accuracy"] for r in _runs(results, "moons", "A")])
    ax.axhline(a_mean, color="C1", label=f"A (linear router), ours: {a_mean:.3f}")
    ax.axhspan(a_mean - a_std, a_mean + a_std, color="C1", alpha=0.15)
    paper = PAPER["noise"]
    ax.plot(list(paper), list(paper.values()), "s--", color="gray", label="B, paper")
    ax.axhline(PAPER["noise_baseline"], color="gray", ls=":", label="A, paper")
    for i, name in enumerate(results["settings"]["fake_backends"]):
        mean, std = _mean_std([n[name] for n in noise])
        ax.errorbar([0.0], [mean], yerr=[std], fmt="D", color=f"C{i + 2}", label=f"B on {name}")
    ax.set_xlabel("depolarizing error eps (every 1q and 2q gate)")
    ax.set_ylabel("test accuracy (Two Moons)")
    ax.set_ylim(0.4, 1.0)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def _mean_accuracy(results: dict[str, Any], key: str, letter: str) -> float | None:
    runs = _runs(results, key, letter)
    return _mean_std([r["accuracy"] for r in runs])[0] if runs else None


def _targets_section(results: dict[str, Any]) -> list[str]:
    """The issue's targets, met or missed, and where and why we differ from the paper."""
    lines = ["## Targets and differences from the paper", ""]
    b_moons, a_moons = _mean_accuracy(results, "moons", "B"), _mean_accuracy(results, "moons", "A")
    if b_moons is not None:
        params = _runs(results, "moons", "B")[0]["router_params"]
        verdict = "met" if b_moons >= 0.94 and params <= 24 else "missed"
        lines.append(
            f"- B >= 94 % on Two Moons with <= 24 router parameters: **{verdict}** "
            f"({b_moons * 100:.1f} % with {params})."
        )
    for key in results["settings"]["datasets"]:
        a, b = _mean_accuracy(results, key, "A"), _mean_accuracy(results, key, "B")
        if a is None or b is None:
            continue
        a_seed = {r["seed"]: r["accuracy"] for r in _runs(results, key, "A")}
        b_runs = _runs(results, key, "B")
        wins = sum(r["accuracy"] > a_seed.get(r["seed"], 1.0) for r in b_runs)
        verdict = "met" if b > a else "missed"
        lines.append(
            f"- B beats A on {DATASET_TITLES[key]}: **{verdict}** (B {b * 100:.1f} % vs "
            f"A {a * 100:.1f} %, B higher on {wins}/{len(b_runs)} seeds)."
        )
    if results["noise"] and a_moons is not None:
        above = [
            eps
            for eps in results["settings"]["noise_eps"]
            if np.mean([n[f"eps={eps:g}"] for n in results["noise"]]) > a_moons
        ]
        last = max(above) if above else None
        verdict = "met" if last is not None and last >= 0.02 else "missed"
        lines.append(
            f"- Under depolarizing noise B stays above A up to eps = 0.02: **{verdict}** (mean B "
            f"above mean A up to eps = {last:g})."
            if last is not None
            else f"- Under depolarizing noise B stays above A up to eps = 0.02: **{verdict}**."
        )
    lines += ["", "Why our numbers differ from the paper's:", ""]
    lines.append(
        "- The paper scores one seed on its training data; every number here is a held-out test "
        "split, mean ± std over seeds, with the weights of the best validation epoch."
    )
    if a_moons is not None and b_moons is not None:
        lines.append(
            "- Our linear router (A) is much stronger than the paper's (65 %): a softmax router "
            "over four linear experts is already a piecewise-linear classifier, and trained with "
            f"Adam and early stopping it reaches {a_moons * 100:.1f} % on Two Moons. The A-B gap "
            f"is {100 * (b_moons - a_moons):.1f} points here instead of the paper's 29."
        )
    if results["noise"] and a_moons is not None:
        lines.append(
            "- The noise comparison is against that stronger A: B loses accuracy with eps much "
            "as in the paper (94 -> 82 % there at eps = 0.02), stays above the paper's A (65 %), "
            "but drops below our A once its loss exceeds the A-B gap."
        )
    mnist = [v for m in MODELS if (v := _mean_accuracy(results, "mnist01", m)) is not None]
    if len(mnist) == len(MODELS):
        lines.append(
            "- MNIST 0 vs 1 at 8 PCA features is saturated: A, B, C reach "
            + ", ".join(f"{v * 100:.1f}" for v in mnist)
            + " % (paper: 96.5 % quantum router, 95.8 % classical router), so no router can "
            "show an advantage there."
        )
    if _runs(results, "fashion01", "B"):
        lines.append("- Fashion-MNIST T-shirt vs Trouser has no figure in the paper to compare.")
    lines.append("")
    return lines


def write_report(out: str | Path, results: dict[str, Any], *, data_dir: str | None = None) -> Path:
    """Write ``report.md`` and its figures from ``results`` (as in ``results.json``)."""
    out = Path(out)
    settings = results["settings"]
    figures = {}
    if (
        _runs(results, "moons", "A")
        and _runs(results, "moons", "B")
        and _runs(results, "moons", "C")
    ):
        plot_decision_boundaries(results, out / "decision_boundaries.png", data_dir)
        figures["boundaries"] = "decision_boundaries.png"
    if _runs(results, "moons", "B"):
        plot_router_map(results, out / "router_map.png", data_dir)
        figures["router"] = "router_map.png"
    plot_training_curves(results, out / "training_curves.png")
    if results["noise"]:
        plot_noise(results, out / "noise.png")
    n_seeds = len(settings["seeds"])
    lines = [
        "# Hybrid QMoE: quantum router over classical linear experts",
        "",
        "Reproduction of Heddad & Bouanane (2025, Hybrid Quantum-Classical Mixture of Experts) "
        "in qmoe-qiskit. "
        f"{n_seeds} seeds (mean ± sample std), held-out test sets, up to {settings['epochs']} "
        f"epochs, early stopping (patience {settings['patience']}) on a validation split carved "
        "from the training split. All models have 4 linear experts; P is the router's parameter "
        "count (the paper's), `total` adds the experts. eta = accuracy / ln(1 + P).",
        "",
        "## Ablation",
        "",
    ]
    paper_moons = PAPER["moons"]
    for key in settings["datasets"]:
        lines += [
            f"### {DATASET_TITLES[key]}",
            "",
            "| model | router | test accuracy (%) | F1 (%) | P (router) | total | eta | "
            "epochs (best) | paper accuracy | paper P | paper eta |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for letter, router in MODELS.items():
            runs = _runs(results, key, letter)
            if not runs:
                continue
            paper = ("", "", "")
            if key == "moons":
                acc, p, eta = paper_moons[letter]
                paper = (f"{acc * 100:.0f}", str(p), f"{eta:.2f}")
            elif key == "mnist01" and letter == "B":
                acc, p, _ = PAPER["mnist01"]["B"]
                paper = (f"{acc * 100:.1f}", str(p), "")
            elif key == "mnist01" and letter == "C":
                acc, p, _ = PAPER["mnist01"]["classical"]
                paper = (f'{acc * 100:.1f} ("classical router")', str(p), "")
            best = _mean_std([r["best_epoch"] for r in runs])[0]
            lines.append(
                f"| {letter} | {router} | {_pm([r['accuracy'] for r in runs])} | "
                f"{_pm([r['f1'] for r in runs])} | {runs[0]['router_params']} | "
                f"{runs[0]['total_params']} | {_pm([r['eta'] for r in runs], False, 3)} | "
                f"{best:.0f} | {paper[0]} | {paper[1]} | {paper[2]} |"
            )
        lines.append("")
    lines += [
        "The paper's eta column does not follow from its own formula: 0.94 / ln(25) = 0.29, "
        "not 7.14 (nor with log10 or percentages); we report the formula as written.",
        "",
    ]
    if results["noise"]:
        noise = results["noise"]
        a_runs = _runs(results, "moons", "A")
        a_acc = _pm([r["accuracy"] for r in a_runs]) if a_runs else "n/a"
        lines += [
            "## Noise (model B on Two Moons)",
            "",
            "Depolarizing error eps after every gate of the router circuit (2 embedding RYs, "
            "24 trainable RYs, 12 CZs), exact density-matrix probabilities on Aer; the linear "
            "experts are classical and noiseless. A (linear router) has no circuit, so its "
            "accuracy does not depend on eps.",
            "",
            "| noise | B test accuracy (%) | A test accuracy (%) | B > A (seeds) | "
            "paper B | paper A |",
            "|---|---|---|---|---|---|",
        ]
        a_by_seed = {r["seed"]: r["accuracy"] for r in a_runs}
        for eps in settings["noise_eps"]:
            values = [n[f"eps={eps:g}"] for n in noise]
            wins = sum(n[f"eps={eps:g}"] > a_by_seed.get(n["seed"], 1.0) for n in noise)
            paper = PAPER["noise"].get(eps)
            paper_b = f"{paper * 100:.0f}" if paper is not None else ""
            paper_a = f"{PAPER['noise_baseline'] * 100:.0f}" if paper is not None else ""
            lines.append(
                f"| eps = {eps:g} | {_pm(values)} | {a_acc} | {wins}/{len(noise)} | "
                f"{paper_b} | {paper_a} |"
            )
        for name in settings["fake_backends"]:
            values = [n[name] for n in noise]
            wins = sum(n[name] > a_by_seed.get(n["seed"], 1.0) for n in noise)
            lines.append(
                f"| {name} ({settings['shots']} shots) | {_pm(values)} | {a_acc} | "
                f"{wins}/{len(noise)} | | |"
            )
        lines += ["", "![noise](noise.png)", ""]
    lines += _targets_section(results)
    lines += ["## Figures", ""]
    if "boundaries" in figures:
        lines += [
            "| ours | paper |",
            "|---|---|",
            "| ![decision boundaries](decision_boundaries.png) | Fig. 1 (decision boundaries; "
            "image not in the text we hold): A 65%, B 94%, C 93% |",
            "| ![training curves](training_curves.png) | Fig. 3 (training dynamics): B reaches "
            "90% within 20 epochs, C within 50 |",
        ]
        if "router" in figures:
            lines.append("| ![router map](router_map.png) | (no router map in the paper) |")
        lines.append("")
    else:
        lines += ["![training curves](training_curves.png)", ""]
    total = results.get("seconds")
    lines += [
        "## Reproduce",
        "",
        "```",
        "qmoe run jobs/hybrid-qmoe.toml --out DIR --var data_dir=PATH/TO/data",
        "```",
        "",
        f"Wall time of this run: {total:.0f} s." if total else "",
    ]
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path
