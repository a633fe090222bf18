"""Noise-aware vs ideal training, each scored on the same noisy simulators (resumable).

For every seed, one model is trained on the ideal circuit and one on each backend's noise
(``qmoe train --noise``: the circuit transpiled for the backend, Aer with its noise model,
exact noisy expectations and gradients), all with the same spec, data, initial weights and
settings. Every trained model is then scored on every backend's noisy simulator
(:func:`~qmoe_qiskit.hardware.noisy_accuracy`: the same transpilation, density-matrix
expectations, readout errors) and ideally. The question: on a device's noise, does a model
trained on that noise keep more accuracy than one trained ideally?

Layout of ``OUT``: ``runs/{trained_on}-s{seed}/`` (a run directory of ``qmoe train``; resumed
from its checkpoint if stopped) with ``scores.json`` (its accuracy on every simulator) when
scored; ``report.md``, ``results.json`` and ``noise-aware.png`` from :func:`write_report`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import JobFileError
from ..figures import subplots
from ..files import write_json
from ..hardware import noisy_accuracy
from ..training import RunConfig, load_run, train
from ..training.runs import METRICS

__all__ = ["NoiseStudy", "run_noise_study", "write_report"]

SCORES = "scores.json"
IDEAL = "ideal"


@dataclass(frozen=True)
class NoiseStudy:
    """Settings of a noise-aware training study.

    Attributes:
        spec: Spec file or preset (every backend must have as many qubits as it needs).
        backends: Fake backends, each a training noise and a scoring simulator.
        seeds: Seeds ``0..seeds-1`` (initial weights, data split, shuffles).
        epochs: Training epochs (0 = the spec's).
        train_limit: Class-balanced cap on training samples (0 = all): noisy training costs
            about 0.7 s per sample and epoch for the 5-qubit preset on one core.
        test_limit: Class-balanced cap on test samples (0 = all).
        profile: Transpile profile of training and scoring.
    """

    spec: str = "qmoe-digits4-pca8-e2"
    backends: tuple[str, ...] = ("fake_manila", "fake_torino")
    seeds: int = 3
    epochs: int = 0
    train_limit: int = 0
    test_limit: int = 0
    profile: str = "default"

    def runs(self) -> list[tuple[str, int]]:
        """``(trained_on, seed)`` pairs, seed by seed: ideal first, then each backend."""
        return [(on, s) for s in range(self.seeds) for on in (IDEAL, *self.backends)]


def _config(study: NoiseStudy, trained_on: str, seed: int) -> RunConfig:
    from ..spec import load_spec

    spec = load_spec(study.spec)
    overrides = {
        "seed": seed,
        "epochs": study.epochs or None,
        "train_limit": study.train_limit or None,
        "test_limit": study.test_limit or None,
        # ideal runs on the torch engine: the same exact expectations as Aer's statevector
        "engine": "torch" if trained_on == IDEAL else "aer",
        "noise": "" if trained_on == IDEAL else trained_on,
        "noise_profile": study.profile,
    }
    return RunConfig.from_spec(spec, **overrides)


def run_noise_study(
    study: NoiseStudy,
    out: str | Path,
    *,
    shard: tuple[int, int] = (0, 1),
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> list[dict]:
    """Train and score this shard's runs (finished ones are skipped, stopped ones resumed).

    Returns:
        The scores of this shard's runs.
    """
    index, count = shard
    if count < 1 or not 0 <= index < count:
        raise ValueError(f"shard must be I/K with 0 <= I < K, got {index}/{count}")
    out = Path(out).expanduser()
    results = []
    for i, (trained_on, seed) in enumerate(study.runs()):
        if i % count != index:
            continue
        folder = out / "runs" / f"{trained_on}-s{seed}"
        if (folder / SCORES).is_file():
            results.append(json.loads((folder / SCORES).read_text()))
            continue
        config = _config(study, trained_on, seed)
        if not (folder / METRICS).is_file() or "test_accuracy" not in json.loads(
            (folder / METRICS).read_text()
        ):
            started = folder.is_dir() and any(folder.iterdir())
            train(study.spec, folder, config, resume=started, progress=progress, log=log)
        results.append(_score(study, folder, trained_on, seed))
        log(f"{folder.name}: " + ", ".join(f"{k} {v:.3f}" for k, v in results[-1]["on"].items()))
    return results


def _score(study: NoiseStudy, folder: Path, trained_on: str, seed: int) -> dict:
    run = load_run(folder)
    data = run.config.load_data()
    on: dict[str, float] = {}
    for backend in study.backends:
        scored = noisy_accuracy(
            run.model, run.weights, data.x_test, data.y_test, backend, profile=study.profile
        )
        on[IDEAL] = scored.ideal_accuracy
        on[backend] = scored.noisy_accuracy
    seconds = sum(row.get("seconds", 0.0) for row in json.loads((folder / METRICS).read_text())
                  ["epochs"])  # fmt: skip
    result = {"trained_on": trained_on, "seed": seed, "on": on, "train_seconds": seconds,
              "test_size": int(len(data.y_test))}  # fmt: skip
    write_json(folder / SCORES, result)
    return result


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    if not values:
        return math.nan, math.nan
    return float(np.mean(values)), float(np.std(values))


def write_report(study_dir: str | Path, output: str | Path | None = None) -> Path:
    """``report.md``, ``results.json`` and ``noise-aware.png`` of a study directory.

    Raises:
        JobFileError: If the directory holds no scored run.
    """
    study_dir = Path(study_dir).expanduser()
    rows = [json.loads(p.read_text()) for p in sorted(study_dir.glob(f"runs/*/{SCORES}"))]
    if not rows:
        raise JobFileError(f"{study_dir} holds no scored run (runs/*/{SCORES})")
    out = Path(output).expanduser() if output else study_dir
    out.mkdir(parents=True, exist_ok=True)
    trained = [IDEAL] + sorted({r["trained_on"] for r in rows} - {IDEAL})
    scored = [IDEAL] + [b for b in trained if b != IDEAL]
    table: dict[tuple[str, str], list[float]] = {}
    for r in rows:
        for on, acc in r["on"].items():
            table.setdefault((r["trained_on"], on), []).append(acc)
    lines = [
        "# Noise-aware training: test accuracy on each simulator",
        "",
        "Rows: what the model was trained on; columns: the simulator it is scored on (the "
        "circuit transpiled for that backend, exact density-matrix expectations with its "
        "noise model and readout errors). Mean ± std over seeds (n).",
        "",
        "| trained on | " + " | ".join(f"scored {s}" for s in scored) + " |",
        "|---|" + "---|" * len(scored),
    ]
    for t in trained:
        cells = []
        for s in scored:
            values = table.get((t, s), [])
            mean, std = _mean_std(values)
            cells.append(f"{100 * mean:.1f} ± {100 * std:.1f} (n={len(values)})" if values else "-")
        lines.append(f"| {t} | " + " | ".join(cells) + " |")
    lines += ["", "## Target: noise-aware minus ideal training, on that backend's noise", ""]
    lines += ["| backend | trained ideal | trained on its noise | gain (points) | >= 3 points |"]
    lines += ["|---|---|---|---|---|"]
    gains = {}
    for backend in scored[1:]:
        ideal = _mean_std(table.get((IDEAL, backend), []))[0]
        aware = _mean_std(table.get((backend, backend), []))[0]
        gain = 100 * (aware - ideal)
        gains[backend] = gain
        verdict = "-" if math.isnan(gain) else ("yes" if gain >= 3 else "no")
        lines.append(
            f"| {backend} | {100 * ideal:.1f} | {100 * aware:.1f} | {gain:+.1f} | {verdict} |"
        )
    hours = sum(r["train_seconds"] for r in rows) / 3600
    lines += ["", f"Training time: {hours:.2f} core-hours over {len(rows)} runs.", ""]
    image = _plot(table, trained, scored, out)
    lines += [f"![{image}]({image})", ""]
    path = out / "report.md"
    path.write_text("\n".join(lines))
    write_json(out / "results.json", {"runs": rows, "gain_points": gains})
    return path


def _plot(table: dict, trained: list[str], scored: list[str], out: Path) -> str:

    fig, ax = subplots(figsize=(6, 3.5))
    width = 0.8 / len(trained)
    for i, t in enumerate(trained):
        stats = [_mean_std(table.get((t, s), [])) for s in scored]
        ax.bar(
            np.arange(len(scored)) + i * width, [100 * m for m, _ in stats], width,
            yerr=[100 * s for _, s in stats], capsize=3, label=f"trained {t}",
        )  # fmt: skip
    ax.set_xticks(np.arange(len(scored)) + 0.4 - width / 2, [f"scored {s}" for s in scored])
    ax.set_ylabel("test accuracy (%)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    name = "noise-aware.png"
    fig.savefig(out / name, dpi=120)
    return name
