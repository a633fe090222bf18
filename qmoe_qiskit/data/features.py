"""Feature reduction for small circuits: PCA fitted on the training split only."""

from __future__ import annotations

import dataclasses

import numpy as np

from .datasets import Dataset, load_dataset

__all__ = ["load_reduced_dataset", "reduce_pca"]


def reduce_pca(data: Dataset, components: int, *, seed: int = 0) -> Dataset:
    """Project a data set on its first principal components and rescale to ``[0, pi]``.

    The PCA and the min/max of the rescaling are fitted on ``x_train`` only; the test split is
    transformed with them (test values may fall slightly outside ``[0, pi]``, and are clipped).

    Args:
        data: The data set.
        components: Number of principal components kept.
        seed: Seed of the (randomised) PCA solver.

    Returns:
        A new :class:`Dataset` with ``components`` features.

    Raises:
        ValueError: If more components are asked than features or training samples.
    """
    from sklearn.decomposition import PCA

    limit = min(data.x_train.shape)
    if not 1 <= components <= limit:
        raise ValueError(f"PCA to {components} components needs 1 <= components <= {limit}")
    pca = PCA(n_components=components, random_state=seed).fit(data.x_train)
    train, test = pca.transform(data.x_train), pca.transform(data.x_test)
    low, high = train.min(axis=0), train.max(axis=0)
    span = np.where(high > low, high - low, 1.0)

    def scale(a: np.ndarray) -> np.ndarray:
        return np.clip((a - low) / span, 0.0, 1.0) * np.pi

    return dataclasses.replace(data, x_train=scale(train), x_test=scale(test))


def load_reduced_dataset(
    name: str,
    classes: tuple[int, ...],
    *,
    data_dir: str | None = None,
    seed: int = 0,
    train_limit: int = 0,
    test_limit: int = 0,
    pca: int = 0,
) -> Dataset:
    """:func:`qmoe_qiskit.data.datasets.load_dataset`, then :func:`reduce_pca` when ``pca > 0``."""
    data = load_dataset(
        name,
        classes=tuple(classes),
        data_dir=data_dir,
        seed=seed,
        train_limit=train_limit,
        test_limit=test_limit,
    )
    return reduce_pca(data, pca, seed=seed) if pca else data
