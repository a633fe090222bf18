"""The hybrid-QMoE study runner: every (data set, router, seed) run, resumable, then the report.

The protocol (data, training, metrics, noise) is :mod:`.hybrid_protocol`; the figures and
``report.md`` are :mod:`.hybrid_report`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from ..errors import TrainingError
from ..files import write_json
from ..models import HybridModel, compile_model
from ..spec import load_spec
from .hybrid_noise import FAKE_BACKENDS
from .hybrid_protocol import (
    MODELS,
    NOISE_EPS,
    STUDY_DATASETS,
    evaluate_metrics,
    fit_hybrid,
    load_study_data,
    noise_results,
)
from .hybrid_report import write_report

__all__ = ["run_study"]


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
        fake_backends: Fake IBM backends (default
            :data:`~qmoe_qiskit.experiments.hybrid_noise.FAKE_BACKENDS`).
        shots: Shots per sample on the fake backends.
        resume: Reuse finished runs from an existing ``out/results.json``.
        log: Status lines.

    Returns:
        The results written to ``results.json``.
    """
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
            assert isinstance(model, HybridModel)  # the study's specs are hybrid
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
                    noise = noise_results(
                        model, fit.weights, data, noise_eps, backends, shots, seed
                    )
                    results["noise"].append({"seed": seed, **noise})
                    log(f"  noise: {', '.join(f'{k} {v:.3f}' for k, v in noise.items())}")
                write_json(out / "results.json", results)
    results["seconds"] = time.perf_counter() - started
    write_json(out / "results.json", results)
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
        raise TrainingError(
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
