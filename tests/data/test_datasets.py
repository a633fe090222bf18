"""Data loaders: embedded sets, IDX parsing (synthetic and real files), clear errors."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from qmoe_qiskit.data import load_dataset, read_idx
from qmoe_qiskit.errors import DataError


def _write_idx(folder, prefix, images, labels):
    folder.mkdir(parents=True, exist_ok=True)
    n = len(labels)
    with gzip.open(folder / f"{prefix}-images-idx3-ubyte.gz", "wb") as handle:
        handle.write(struct.pack(">IIII", 2051, n, 28, 28) + images.astype(np.uint8).tobytes())
    with gzip.open(folder / f"{prefix}-labels-idx1-ubyte.gz", "wb") as handle:
        handle.write(struct.pack(">II", 2049, n) + labels.astype(np.uint8).tobytes())


@pytest.fixture
def synthetic_idx(tmp_path, rng):
    folder = tmp_path / "mnist"
    for prefix, n in (("train", 40), ("t10k", 20)):
        labels = np.arange(n) % 4
        images = np.zeros((n, 28, 28))
        for i, label in enumerate(labels):  # class c lights up a 7x5 block in row-band c
            images[i, 7 * label : 7 * label + 7, :5] = 255
        _write_idx(folder, prefix, images, labels)
    return tmp_path


def test_digits_is_embedded_and_scaled():
    data = load_dataset("digits", classes=(0, 1, 2, 3), seed=0)
    assert data.num_features == 64 and data.num_classes == 4
    assert data.x_train.min() >= 0 and data.x_train.max() <= np.pi + 1e-12
    assert len(data.y_test) == pytest.approx(0.2 * (len(data.y_train) + len(data.y_test)), abs=2)
    assert set(np.unique(data.y_train)) == {0, 1, 2, 3}
    again = load_dataset("digits", classes=(0, 1, 2, 3), seed=0)
    np.testing.assert_array_equal(data.x_test, again.x_test)


def test_class_subsets_are_remapped_in_order():
    data = load_dataset("digits", classes=(7, 3), seed=1)
    from sklearn.datasets import load_digits

    bunch = load_digits()
    sevens = bunch.data[bunch.target == 7] / 16 * np.pi
    first = data.x_train[data.y_train == 0][0]
    assert any(np.allclose(first, s) for s in sevens)


def test_moons():
    data = load_dataset("moons", classes=(0, 1), seed=0)
    assert data.x_train.shape == (800, 2) and data.x_test.shape == (200, 2)
    with pytest.raises(DataError, match="moons has classes 0 and 1"):
        load_dataset("moons", classes=(0, 1, 2))


def test_synthetic_idx_resize_and_limits(synthetic_idx):
    data = load_dataset("mnist", classes=(2, 0), data_dir=synthetic_idx, train_limit=8)
    assert data.x_train.shape == (8, 64) and np.bincount(data.y_train).tolist() == [4, 4]
    image = data.x_test[data.y_test == 1][0].reshape(8, 8)  # label 0: rows 0-6, cols 0-4
    # adaptive average pooling 28 -> 8: column bins [0,4), [3,7), [7,11) ...
    assert image[0, 0] == pytest.approx(np.pi)
    assert image[0, 1] == pytest.approx(np.pi / 2)  # columns 3, 4 of 3..6 are lit
    assert image[0, 2] == 0 and image[7, 0] == 0


def test_missing_and_corrupt_files_are_named(synthetic_idx):
    folder = synthetic_idx / "mnist"
    with pytest.raises(DataError, match="mnist needs --data-dir"):
        load_dataset("mnist", data_dir=None)
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="missing data file: .*t10k-labels-idx1-ubyte.gz"):
        load_dataset("mnist", data_dir=synthetic_idx)
    path = folder / "train-images-idx3-ubyte.gz"
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(raw[:-100]))
    with pytest.raises(DataError, match="corrupt data file .*train-images.*promises"):
        read_idx(path)
    path.write_bytes(b"not gzip at all")
    with pytest.raises(DataError, match="corrupt data file .*train-images.*gzip"):
        read_idx(path)
    path.write_bytes(gzip.compress(struct.pack(">II", 1234, 0)))
    with pytest.raises(DataError, match="magic number 1234"):
        read_idx(path)


def test_real_mnist_and_fashion_counts(shared_data):
    labels = read_idx(shared_data / "mnist" / "t10k-labels-idx1-ubyte.gz")
    assert np.bincount(labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    fashion = load_dataset(
        "fashion-mnist", classes=(3, 6), data_dir=shared_data, train_limit=100, seed=0
    )
    assert fashion.class_names == ("Dress", "Shirt")
    assert fashion.x_test.shape == (2000, 64) and fashion.x_train.shape == (100, 64)
    assert 0 <= fashion.x_test.min() and fashion.x_test.max() <= np.pi
