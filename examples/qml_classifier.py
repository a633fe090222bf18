"""Train a compiled QMoE with qiskit-machine-learning's ``NeuralNetworkClassifier``.

The preset ``qmoe-digits4-pca8`` (2 routing + 4 data qubits, 4 experts, 8 PCA features) with
the project's default readout, an affine head, compiles to a headed model: a circuit followed by
a classical affine map of its class expectations. qiskit-machine-learning trains circuits,
so the classifier gets the circuit part (``model.circuit_model``) as the project's
``EstimatorQNN`` (:func:`qmoe_qiskit.build_qnn`), and the head is kept at its initial value, the
identity, which leaves every ``argmax`` unchanged. The fitted circuit weights followed by that
head are the model's flat weights, so the project's own torch network
(:func:`qmoe_qiskit.build_network`, the torch statevector engine) predicts exactly what the
classifier predicts.

Run it from the repository root (a few seconds on a laptop)::

    python examples/qml_classifier.py --samples 20 --maxiter 80
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from typing import Any

import numpy as np
import torch
from qiskit_machine_learning.algorithms import NeuralNetworkClassifier
from qiskit_machine_learning.optimizers import COBYLA

import qmoe_qiskit as qm

CLASSES = (0, 1, 2, 3)


def balanced(labels: np.ndarray, per_class: int) -> np.ndarray:
    """Indices of the first ``per_class`` samples of every class, in class order."""
    return np.concatenate([np.flatnonzero(labels == c)[:per_class] for c in np.unique(labels)])


def main(samples: int = 20, maxiter: int = 80, seed: int = 0) -> dict[str, Any]:
    """Fit the classifier on ``samples`` training digits and compare its predictions.

    Args:
        samples: Training digits (spread evenly over the 4 classes); as many test digits are
            predicted.
        maxiter: COBYLA's budget of QNN evaluations (it needs at least the number of circuit
            weights + 2: 74 here).
        seed: Seed of the initial weights.

    Returns:
        ``model, qnn, classifier, weights, x_train, y_train, x_test, classifier_predictions,
        torch_predictions, train_accuracy, test_accuracy`` (``weights``: the model's flat
        weights, fitted circuit weights then the identity head).
    """
    spec = qm.load_spec("qmoe-digits4-pca8")
    spec = dataclasses.replace(spec, readout=dataclasses.replace(spec.readout, head="affine"))
    model = qm.compile_model(spec)  # a HeadedModel: circuit + affine head
    circuit = model.circuit_model  # the plain CompiledModel an EstimatorQNN runs
    data = qm.load_reduced_dataset("digits", CLASSES, pca=8, seed=seed)
    train = balanced(data.y_train, samples // len(CLASSES))
    x_train, y_train = data.x_train[train], data.y_train[train]
    x_test = data.x_test[:samples]

    circuit_weights, head_weights = model.split_weights(model.initial_weights(seed))
    qnn = qm.build_qnn(circuit)  # EstimatorQNN on Aer, batched parameter-shift gradient
    classifier = NeuralNetworkClassifier(
        qnn,
        loss="squared_error",
        one_hot=True,
        optimizer=COBYLA(maxiter=maxiter),
        initial_point=circuit_weights,
    )
    classifier.fit(x_train, y_train)

    weights = np.concatenate([classifier.weights, head_weights])  # identity head
    network = qm.build_network(model, weights, engine="torch")
    with torch.no_grad():
        scores = network(torch.as_tensor(x_test, dtype=torch.float64)).numpy()
    classifier_predictions = np.asarray(classifier.predict(x_test), dtype=int)
    torch_predictions = np.argmax(scores, axis=1)
    return {
        "model": model,
        "qnn": qnn,
        "classifier": classifier,
        "weights": weights,
        "x_train": x_train,
        "y_train": y_train,
        "x_test": x_test,
        "classifier_predictions": classifier_predictions,
        "torch_predictions": torch_predictions,
        "train_accuracy": float(classifier.score(x_train, y_train)),
        "test_accuracy": float(np.mean(torch_predictions == data.y_test[:samples])),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--maxiter", type=int, default=80)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    out = main(args.samples, args.maxiter, args.seed)
    same = bool(np.array_equal(out["classifier_predictions"], out["torch_predictions"]))
    print(
        json.dumps(
            {
                "classifier_predictions": out["classifier_predictions"].tolist(),
                "torch_predictions": out["torch_predictions"].tolist(),
                "same_predictions": same,
                "train_accuracy": out["train_accuracy"],
                "test_accuracy": out["test_accuracy"],
            }
        )
    )
