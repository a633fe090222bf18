"""Data: scikit-learn digits, Two Moons, MNIST/Fashion-MNIST IDX files, PCA reduction."""

from .datasets import (
    DATASETS,
    NATIVE_FEATURES,
    Dataset,
    load_dataset,
    load_digits,
    load_idx_dataset,
    load_moons,
    read_idx,
)
from .features import load_reduced_dataset, reduce_pca

__all__ = [
    "DATASETS",
    "NATIVE_FEATURES",
    "Dataset",
    "load_dataset",
    "load_digits",
    "load_idx_dataset",
    "load_moons",
    "load_reduced_dataset",
    "read_idx",
    "reduce_pca",
]
