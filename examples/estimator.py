"""Your own data with the scikit-learn estimator: ``QMoEClassifier`` on the wine data set.

13 features and 3 classes: the estimator standardises the features, fits a PCA to the encoder's
width and sizes the model to the classes at ``fit``; it works in ``Pipeline``, ``clone``,
``cross_val_score`` and ``GridSearchCV`` like any scikit-learn classifier::

    python examples/estimator.py --epochs 2
"""

from __future__ import annotations

import argparse
from typing import Any

import torch
from sklearn.datasets import load_wine
from sklearn.model_selection import train_test_split

from qmoe_qiskit import QMoEClassifier


def main(epochs: int = 2, seed: int = 0) -> dict[str, Any]:
    """Fit a 2-expert QMoE and the baseline family; return their held-out accuracies."""
    X, y = load_wine(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, random_state=seed, stratify=y
    )
    scores = {}
    for family, extra in (("qmoe", {"experts": 2}), ("baseline", {})):
        clf = QMoEClassifier(
            family=family, features=6, epochs=epochs, random_state=seed, threads=1, **extra
        )
        scores[family] = clf.fit(X_train, y_train).score(X_test, y_test)
        print(f"{family}: test accuracy {scores[family]:.3f} after {epochs} epoch(s)")
    return scores


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    main(args.epochs, args.seed)
