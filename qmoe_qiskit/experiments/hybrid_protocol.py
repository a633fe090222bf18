"""The hybrid-QMoE study: router ablation (A linear, B quantum, C MLP), noise, the protocol.

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

:func:`~qmoe_qiskit.experiments.hybrid_study.run_study` runs it and writes ``results.json``;
:mod:`~qmoe_qiskit.experiments.hybrid_report` draws the figures and writes ``report.md``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..data import Dataset, load_reduced_dataset
from ..engines import build_network
from ..models import HybridModel
from ..spec import ModelSpec
from ..training import FitResult, RunConfig, fit_model
from .hybrid_noise import depolarizing_noise_model, fake_backend_routing, noisy_accuracy

__all__ = [
    "DATASET_TITLES",
    "MODELS",
    "NOISE_EPS",
    "PAPER",
    "STUDY_DATASETS",
    "evaluate_metrics",
    "fit_hybrid",
    "load_study_data",
    "noise_results",
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


#: The paper's figures (Heddad & Bouanane 2025; docs/reproductions/hybrid.md), shown only in the
#: "paper" columns.
PAPER: dict[str, Any] = {
    "moons": {"A": (0.65, 12, 2.79), "B": (0.94, 24, 7.14), "C": (0.93, 240, 3.82)},
    "mnist01": {"B": (0.965, 32, None), "classical": (0.958, 128, None)},
    "noise": {0.0: 0.94, 0.005: 0.92, 0.01: 0.89, 0.02: 0.82, 0.03: 0.73},
    "noise_baseline": 0.65,
}


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
    """Train a hybrid model with the study's protocol (the one training loop of the package).

    Early stopping on the loss of a stratified validation split of the training data, keeping
    the best validation epoch's weights; the test split is not touched.

    Args:
        model: The compiled hybrid model (lr, batch size, logit scale from its spec).
        data: Train/test data; only the training split is used.
        seed: Seed of the validation split, initial weights and shuffles.
        epochs: Maximum epochs (default: the spec's).
        patience: Stop after this many epochs without a lower validation loss.
        val_fraction: Fraction of the training split held out for validation.
        engine: ``"torch"`` or ``"aer"``.

    Returns:
        The :class:`~qmoe_qiskit.training.FitResult` (best-validation weights, history).
    """
    config = RunConfig.from_spec(
        model.spec,
        seed=seed,
        epochs=epochs,
        patience=patience,
        val_fraction=val_fraction,
        engine=engine,
        device="cpu",
    )
    return fit_model(model, data, config)


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


def noise_results(
    model: HybridModel,
    weights: np.ndarray,
    data: Dataset,
    eps_values: Sequence[float],
    backends: Sequence[str],
    shots: int,
    seed: int,
) -> dict[str, float]:
    """Test accuracy of model B with its router under depolarizing noise and fake backends."""

    out: dict[str, float] = {}
    for eps in eps_values:
        noise = depolarizing_noise_model(eps)
        out[f"eps={eps:g}"] = noisy_accuracy(model, weights, data.x_test, data.y_test, noise)
    for name in backends:
        probs = fake_backend_routing(model, weights, data.x_test, name, shots=shots, seed=seed)
        logits = model.readout(probs, data.x_test, weights)
        out[name] = float(np.mean(np.argmax(logits, axis=1) == data.y_test))
    return out
