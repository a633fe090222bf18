"""The hybrid-QMoE study: router ablation (A linear, B quantum, C MLP), noise, plots, report.

Protocol (every number is measured here, on held-out test data):

- data: Two Moons (1000 samples, stratified 80/20 split; a new sample and split per seed),
  MNIST 0 vs 1 and Fashion-MNIST T-shirt vs Trouser (8x8 images, 2000 train / 400 test,
  class-balanced, PCA to 8 features fitted on the training split);
- training: Adam (lr 0.01), batch 32, up to ``epochs`` epochs, early stopping on the loss of a
  validation split (20%, stratified) carved from the training split, weights of the best
  validation epoch restored; the test split is used once, for the final metrics;
- metrics: test accuracy, F1 (class 1 positive), router and total parameter counts,
  ``eta = accuracy / ln(1 + P)`` (``P`` = router parameters, as the paper counts them);
- noise: every trained model B on Two Moons, router on Aer with depolarizing noise on every gate
  and under two fake IBM backends' noise models.

:func:`run_study` writes ``results.json``, PNG figures and ``report.md`` into one directory.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .compiler import compile_model
from .data import Dataset
from .features import load_reduced_dataset
from .hybrid import HybridModel
from .network import build_network
from .spec import ModelSpec, load_spec
from .training import flat_weights

__all__ = [
    "MODELS",
    "STUDY_DATASETS",
    "FitResult",
    "evaluate_metrics",
    "fit_hybrid",
    "load_study_data",
    "run_study",
    "write_report",
]

#: Model letter -> router kind (the paper's ablation).
MODELS = {"A": "linear", "B": "quantum", "C": "mlp"}
#: Study data set -> preset name pattern (``{router}`` is filled in).
STUDY_DATASETS = {
    "moons": "hybrid-moons-{router}",
    "mnist01": "hybrid-mnist01-{router}-pca8",
    "fashion01": "hybrid-fashion01-{router}-pca8",
}
DATASET_TITLES = {
    "moons": "Two Moons",
    "mnist01": "MNIST 0 vs 1 (PCA 8)",
    "fashion01": "Fashion-MNIST T-shirt vs Trouser (PCA 8)",
}
NOISE_EPS = (0.0, 0.005, 0.01, 0.02, 0.03, 0.05)

#: The paper's figures (NOTES.md section 2), shown only in the "paper" columns.
PAPER = {
    "moons": {"A": (0.65, 12, 2.79), "B": (0.94, 24, 7.14), "C": (0.93, 240, 3.82)},
    "mnist01": {"B": (0.965, 32, None), "classical": (0.958, 128, None)},
    "noise": {0.0: 0.94, 0.005: 0.92, 0.01: 0.89, 0.02: 0.82, 0.03: 0.73},
    "noise_baseline": 0.65,
}


@dataclass(frozen=True)
class FitResult:
    """One trained model.

    Attributes:
        weights: Flat weights of the best validation epoch.
        history: Per epoch: ``epoch, train_loss, train_accuracy, val_loss, val_accuracy``.
        best_epoch: Epoch whose weights were kept.
        seconds: Training wall time.
    """

    weights: np.ndarray
    history: list[dict[str, float]]
    best_epoch: int
    seconds: float


def load_study_data(spec: ModelSpec, seed: int, data_dir: str | None = None) -> Dataset:
    """The spec's data set (with its PCA) for one seed."""
    return load_reduced_dataset(
        spec.data.name,
        spec.data.classes,
        data_dir=data_dir,
        seed=seed,
        train_limit=spec.data.train_limit,
        test_limit=spec.data.test_limit,
        pca=spec.data.pca,
    )


def _loss_acc(network, x: torch.Tensor, y: torch.Tensor, scale: float) -> tuple[float, float]:
    with torch.no_grad():
        out = network(x)
        loss = torch.nn.functional.cross_entropy(scale * out, y).item()
        return loss, float((out.argmax(dim=1) == y).double().mean())


def fit_hybrid(
    model: HybridModel,
    data: Dataset,
    seed: int,
    *,
    epochs: int | None = None,
    patience: int = 15,
    val_fraction: float = 0.2,
    engine: str = "torch",
) -> FitResult:
    """Train a hybrid model with early stopping on a validation split of the training data.

    Args:
        model: The compiled hybrid model (training settings from its spec).
        data: Train/test data; only ``x_train``/``y_train`` are used.
        seed: Seed of the validation split, initial weights and shuffles.
        epochs: Maximum epochs (default: the spec's).
        patience: Stop after this many epochs without a lower validation loss.
        val_fraction: Fraction of the training split held out for validation.
        engine: ``"torch"`` or ``"aer"``.

    Returns:
        The best-validation weights and the history.
    """
    from sklearn.model_selection import train_test_split

    spec = model.spec
    epochs = epochs or spec.training.epochs
    x_fit, x_val, y_fit, y_val = train_test_split(
        data.x_train, data.y_train, test_size=val_fraction, random_state=seed, stratify=data.y_train
    )
    x_fit_t, y_fit_t = torch.as_tensor(x_fit), torch.as_tensor(y_fit, dtype=torch.int64)
    x_val_t, y_val_t = torch.as_tensor(x_val), torch.as_tensor(y_val, dtype=torch.int64)
    network = build_network(model, engine=engine, seed=seed)
    optimizer = torch.optim.Adam(network.parameters(), lr=spec.training.lr)
    scale = spec.training.logit_scale
    batch = spec.training.batch_size
    history: list[dict[str, float]] = []
    best = (math.inf, 0, flat_weights(network))
    started = time.perf_counter()
    for epoch in range(1, epochs + 1):
        generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
        order = torch.randperm(len(y_fit_t), generator=generator)
        total = correct = 0.0
        for start in range(0, len(order), batch):
            idx = order[start : start + batch]
            optimizer.zero_grad()
            out = network(x_fit_t[idx])
            loss = torch.nn.functional.cross_entropy(scale * out, y_fit_t[idx])
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
            correct += float((out.argmax(dim=1) == y_fit_t[idx]).sum())
        val_loss, val_acc = _loss_acc(network, x_val_t, y_val_t, scale)
        history.append(
            {
                "epoch": epoch,
                "train_loss": total / len(order),
                "train_accuracy": correct / len(order),
                "val_loss": val_loss,
                "val_accuracy": val_acc,
            }
        )
        if val_loss < best[0] - 1e-6:
            best = (val_loss, epoch, flat_weights(network))
        elif epoch - best[1] >= patience:
            break
    return FitResult(best[2], history, best[1], time.perf_counter() - started)


def evaluate_metrics(
    model: HybridModel, weights: np.ndarray, x: np.ndarray, y: np.ndarray
) -> dict[str, float]:
    """Test accuracy, F1 (binary: class 1 positive; else macro), parameter counts and eta."""
    from sklearn.metrics import f1_score

    network = build_network(model, weights, engine="torch")
    with torch.no_grad():
        pred = network(torch.as_tensor(x)).argmax(dim=1).numpy()
    acc = float(np.mean(pred == y))
    average = "binary" if model.num_classes == 2 else "macro"
    return {
        "accuracy": acc,
        "f1": float(f1_score(y, pred, average=average)),
        "router_params": model.num_router_weights,
        "total_params": model.num_weights,
        "eta": acc / math.log(1 + model.num_router_weights),
        "eta_total": acc / math.log(1 + model.num_weights),
    }


def _noise_results(
    model: HybridModel,
    weights: np.ndarray,
    data: Dataset,
    eps_values: Sequence[float],
    backends: Sequence[str],
    shots: int,
    seed: int,
) -> dict[str, float]:
    from .noise_study import (
        depolarizing_noise_model,
        fake_backend,
        fake_backend_routing,
        noisy_accuracy,
        predict_with_routing,
    )

    out: dict[str, float] = {}
    for eps in eps_values:
        noise = depolarizing_noise_model(eps)
        out[f"eps={eps:g}"] = noisy_accuracy(model, weights, data.x_test, data.y_test, noise)
    for name in backends:
        probs = fake_backend_routing(
            model, weights, data.x_test, fake_backend(name), shots=shots, seed=seed
        )
        logits = predict_with_routing(model, weights, data.x_test, probs)
        out[name] = float(np.mean(np.argmax(logits, axis=1) == data.y_test))
    return out


def run_study(
    out: str | Path,
    *,
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    epochs: int = 100,
    patience: int = 15,
    datasets: Sequence[str] = tuple(STUDY_DATASETS),
    data_dir: str | None = None,
    noise_eps: Sequence[float] = NOISE_EPS,
    fake_backends: Sequence[str] | None = None,
    shots: int = 2048,
    resume: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run the ablation and the noise study, write ``results.json``, figures and ``report.md``.

    ``results.json`` is rewritten after every finished run, so an interrupted study loses at most
    the run in progress: with ``resume``, runs (and their noise results) already in
    ``out/results.json`` are kept and not repeated when the settings other than ``datasets`` and
    ``seeds`` are the same; different settings raise ``ValueError`` rather than mixing results.

    Args:
        out: Output directory (created).
        seeds: Seeds; each gives its own data split (and Two Moons sample), init and shuffles.
        epochs: Maximum epochs per run.
        patience: Early-stopping patience (epochs).
        datasets: Keys of :data:`STUDY_DATASETS`.
        data_dir: Directory of the MNIST/Fashion-MNIST IDX files.
        noise_eps: Depolarizing error rates for model B on Two Moons.
        fake_backends: Fake IBM backends (default :data:`~qmoe_qiskit.noise_study.FAKE_BACKENDS`).
        shots: Shots per sample on the fake backends.
        resume: Reuse finished runs from an existing ``out/results.json``.
        log: Status lines.

    Returns:
        The results written to ``results.json``.
    """
    from .noise_study import FAKE_BACKENDS

    torch.set_num_threads(1)
    backends = FAKE_BACKENDS if fake_backends is None else tuple(fake_backends)
    out = Path(out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    results: dict[str, Any] = {
        "settings": {
            "seeds": list(seeds),
            "epochs": epochs,
            "patience": patience,
            "datasets": list(datasets),
            "noise_eps": list(noise_eps),
            "fake_backends": list(backends),
            "shots": shots,
        },
        "runs": [],
        "noise": [],
    }
    done = _previous_runs(out / "results.json", results["settings"]) if resume else {}
    for key in datasets:
        for letter, router in MODELS.items():
            spec = load_spec(STUDY_DATASETS[key].format(router=router))
            model = compile_model(spec)
            for seed in seeds:
                if (key, letter, seed) in done:
                    run, noise = done[key, letter, seed]
                    results["runs"].append(run)
                    if noise is not None:
                        results["noise"].append(noise)
                    log(f"{key} {letter} seed {seed}: kept from results.json")
                    continue
                data = load_study_data(spec, seed, data_dir)
                fit = fit_hybrid(model, data, seed, epochs=epochs, patience=patience)
                metrics = evaluate_metrics(model, fit.weights, data.x_test, data.y_test)
                results["runs"].append(
                    {
                        "dataset": key,
                        "model": letter,
                        "preset": spec.name,
                        "seed": seed,
                        "best_epoch": fit.best_epoch,
                        "epochs_run": len(fit.history),
                        "seconds": fit.seconds,
                        "history": fit.history,
                        "weights": fit.weights.tolist(),
                        **metrics,
                    }
                )
                log(
                    f"{key} {letter} seed {seed}: test acc {metrics['accuracy']:.4f} "
                    f"f1 {metrics['f1']:.4f} (best epoch {fit.best_epoch}/{len(fit.history)}, "
                    f"{fit.seconds:.1f} s)"
                )
                if key == "moons" and letter == "B" and (noise_eps or backends):
                    noise = _noise_results(
                        model, fit.weights, data, noise_eps, backends, shots, seed
                    )
                    results["noise"].append({"seed": seed, **noise})
                    log(f"  noise: {', '.join(f'{k} {v:.3f}' for k, v in noise.items())}")
                _write_json(out / "results.json", results)
    results["seconds"] = time.perf_counter() - started
    _write_json(out / "results.json", results)
    write_report(out, results, data_dir=data_dir)
    log(f"wrote {out / 'report.md'} ({results['seconds']:.0f} s)")
    return results


def _previous_runs(
    path: Path, settings: dict[str, Any]
) -> dict[tuple[str, str, int], tuple[dict[str, Any], dict[str, Any] | None]]:
    """Finished runs of an earlier study in ``path``, keyed by ``(dataset, model, seed)``."""
    if not path.exists():
        return {}
    old = json.loads(path.read_text())
    fixed = ("epochs", "patience", "noise_eps", "fake_backends", "shots")
    changed = [k for k in fixed if old.get("settings", {}).get(k) != settings[k]]
    if changed:
        raise ValueError(
            f"{path} holds a study with different {', '.join(changed)}: "
            "use another output directory (or resume=False to start over)"
        )
    noise = {n["seed"]: n for n in old.get("noise", [])}
    done = {}
    for run in old.get("runs", []):
        key = (run["dataset"], run["model"], run["seed"])
        needs_noise = run["dataset"] == "moons" and run["model"] == "B"
        needs_noise = needs_noise and bool(settings["noise_eps"] or settings["fake_backends"])
        if needs_noise and run["seed"] not in noise:
            continue  # the noise study of this run did not finish: repeat the run
        done[key] = (run, noise.get(run["seed"]) if needs_noise else None)
    return done


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    tmp.replace(path)


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    arr = np.asarray(values, dtype=float)
    return float(arr.mean()), float(arr.std(ddof=1)) if len(arr) > 1 else 0.0


def _pm(values: Sequence[float], pct: bool = True, digits: int = 1) -> str:
    mean, std = _mean_std(values)
    factor = 100.0 if pct else 1.0
    return f"{mean * factor:.{digits}f} ± {std * factor:.{digits}f}"


def _runs(results: dict[str, Any], dataset: str, model: str) -> list[dict[str, Any]]:
    return [r for r in results["runs"] if r["dataset"] == dataset and r["model"] == model]


# ----------------------------------------------------------------------------------- figures


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_decision_boundaries(results, path: Path, data_dir: str | None = None) -> None:
    """Decision boundaries of A, B, C on Two Moons (first seed), test points overlaid."""
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2))
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
    plt.close(fig)


def plot_router_map(results, path: Path, data_dir: str | None = None) -> None:
    """Model B's routing probability P(k|x) per expert on Two Moons (first seed)."""
    plt = _plt()
    run = _runs(results, "moons", "B")[0]
    spec = load_spec(STUDY_DATASETS["moons"].format(router="quantum"))
    model = compile_model(spec)
    data = load_study_data(spec, run["seed"], data_dir)
    network = build_network(model, np.asarray(run["weights"]), engine="torch")
    grid = np.linspace(0, np.pi, 120)
    gx, gy = np.meshgrid(grid, grid)
    points = np.stack([gx.ravel(), gy.ravel()], axis=1)
    with torch.no_grad():
        probs = network.routing(torch.as_tensor(points)).numpy()
    k = model.num_experts
    fig, axes = plt.subplots(1, k, figsize=(3.3 * k, 3.2))
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
    plt.close(fig)


def plot_training_curves(results, path: Path) -> None:
    """Mean (± std over seeds) validation accuracy and training loss per epoch."""
    plt = _plt()
    keys = [k for k in STUDY_DATASETS if any(r["dataset"] == k for r in results["runs"])]
    fig, axes = plt.subplots(2, len(keys), figsize=(4.6 * len(keys), 6.5), squeeze=False)
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
    plt.close(fig)


def plot_noise(results, path: Path) -> None:
    """Model B's Two Moons test accuracy vs depolarizing error, with A and the paper."""
    plt = _plt()
    noise = results["noise"]
    eps = results["settings"]["noise_eps"]
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
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
    plt.close(fig)


# ------------------------------------------------------------------------------------ report


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
    mnist = [_mean_accuracy(results, "mnist01", m) for m in MODELS]
    if all(v is not None for v in mnist):
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
        "Reproduction of Heddad & Bouanane (NOTES.md section 2) in qmoe-qiskit. "
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
