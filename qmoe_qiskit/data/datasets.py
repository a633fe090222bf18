"""Data sets: scikit-learn digits and Two Moons (embedded), MNIST and Fashion-MNIST (IDX files).

Every loader returns a :class:`Dataset` with a held-out test split and features scaled to
``[0, pi]`` (rotation angles). Image data sets are resized to 8x8 (64 features).
"""

from __future__ import annotations

import gzip
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError

__all__ = [
    "DATASETS",
    "NATIVE_FEATURES",
    "Dataset",
    "load_dataset",
    "load_digits",
    "load_idx_dataset",
    "load_moons",
    "read_idx",
]

DATASETS = ("digits", "moons", "mnist", "fashion-mnist")

#: Features each data set's loader gives before any PCA (images are 8x8).
NATIVE_FEATURES = {"digits": 64, "moons": 2, "mnist": 64, "fashion-mnist": 64}

IDX_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}

FASHION_NAMES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip


@dataclass(frozen=True, eq=False)
class Dataset:
    """A train/test split with integer labels ``0..C-1``.

    Attributes:
        name: Data set name.
        x_train: ``(n_train, features)`` float64, scaled to ``[0, pi]``.
        y_train: ``(n_train,)`` int64 labels.
        x_test: ``(n_test, features)`` float64.
        y_test: ``(n_test,)`` int64 labels.
        class_names: Name of class ``i``.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]

    @property
    def num_features(self) -> int:
        """Features per sample."""
        return self.x_train.shape[1]

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.class_names)


def _select(x: np.ndarray, y: np.ndarray, classes: tuple[int, ...], what: str):
    available = set(np.unique(y).tolist())
    missing = [c for c in classes if c not in available]
    if missing:
        raise DataError(
            f"{what}: class labels {missing} not present (labels are {sorted(available)})"
        )
    mask = np.isin(y, classes)
    remap = {c: i for i, c in enumerate(classes)}
    return x[mask], np.array([remap[int(v)] for v in y[mask]], dtype=np.int64)


def _limit(x: np.ndarray, y: np.ndarray, limit: int, rng: np.random.Generator):
    """A class-balanced random subset of at most ``limit`` samples (all when limit is 0)."""
    if not limit or limit >= len(y):
        order = rng.permutation(len(y))
        return x[order], y[order]
    classes = np.unique(y)
    per_class = [rng.permutation(np.flatnonzero(y == c)) for c in classes]
    take: list[int] = []
    i = 0
    while len(take) < limit:
        for indices in per_class:
            if i < len(indices) and len(take) < limit:
                take.append(int(indices[i]))
        i += 1
    order = rng.permutation(np.array(take))
    return x[order], y[order]


def _split(x, y, test_fraction: float, seed: int):
    from sklearn.model_selection import train_test_split

    return train_test_split(x, y, test_size=test_fraction, random_state=seed, stratify=y)


def load_digits(
    classes: tuple[int, ...] = (0, 1, 2, 3), seed: int = 0, test_fraction: float = 0.2
) -> Dataset:
    """scikit-learn's built-in 8x8 digits (no download), stratified train/test split.

    Args:
        classes: Digits to keep, in order (digit ``classes[i]`` becomes label ``i``).
        seed: Seed of the split.
        test_fraction: Held-out fraction.

    Returns:
        The data set; pixel values 0..16 are scaled to ``[0, pi]``.
    """
    from sklearn.datasets import load_digits as sk_digits

    bunch = sk_digits()
    x, y = _select(bunch.data.astype(float) / 16.0 * np.pi, bunch.target, classes, "digits")
    x_tr, x_te, y_tr, y_te = _split(x, y, test_fraction, seed)
    return Dataset("digits", x_tr, y_tr, x_te, y_te, tuple(str(c) for c in classes))


def load_moons(
    n_samples: int = 1000, noise: float = 0.1, seed: int = 0, test_fraction: float = 0.2
) -> Dataset:
    """scikit-learn's Two Moons, min-max scaled to ``[0, pi]`` with the training split's range.

    Args:
        n_samples: Total samples before the split.
        noise: Gaussian noise of ``make_moons``.
        seed: Seed of generation and split.
        test_fraction: Held-out fraction.

    Returns:
        The two-feature, two-class data set.
    """
    from sklearn.datasets import make_moons

    x, y = make_moons(n_samples=n_samples, noise=noise, random_state=seed)
    x_tr, x_te, y_tr, y_te = _split(x, y.astype(np.int64), test_fraction, seed)
    low, high = x_tr.min(axis=0), x_tr.max(axis=0)

    def scale(a):
        return (a - low) / (high - low) * np.pi

    return Dataset("moons", scale(x_tr), y_tr, scale(x_te), y_te, ("moon 0", "moon 1"))


def read_idx(path: str | Path) -> np.ndarray:
    """Read a gzipped IDX file (images: magic 2051, labels: magic 2049).

    Args:
        path: The ``.gz`` file.

    Returns:
        ``uint8`` array of shape ``(count, rows, cols)`` or ``(count,)``.

    Raises:
        DataError: If the file is missing, not gzip, has a bad header or is truncated.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"missing data file: {path}")
    try:
        with gzip.open(path, "rb") as handle:
            raw = handle.read()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DataError(f"corrupt data file {path}: not a readable gzip stream ({exc})") from exc
    if len(raw) < 8:
        raise DataError(
            f"corrupt data file {path}: {len(raw)} bytes is too short for an IDX header"
        )
    magic, count = struct.unpack(">II", raw[:8])
    shape: tuple[int, ...]
    if magic == 2051:
        if len(raw) < 16:
            raise DataError(f"corrupt data file {path}: truncated image header")
        rows, cols = struct.unpack(">II", raw[8:16])
        shape, offset = (count, rows, cols), 16
    elif magic == 2049:
        shape, offset = (count,), 8
    else:
        raise DataError(
            f"corrupt data file {path}: magic number {magic} is neither 2051 (images) "
            "nor 2049 (labels)"
        )
    expected = int(np.prod(shape))
    if len(raw) - offset != expected:
        raise DataError(
            f"corrupt data file {path}: header promises {expected} bytes of data, "
            f"found {len(raw) - offset}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=offset).reshape(shape)


def _resize_8x8(images: np.ndarray) -> np.ndarray:
    """Area-average 28x28 images to 8x8 (torch's adaptive average pooling)."""
    import torch

    tensor = torch.from_numpy(images.astype(np.float32)).unsqueeze(1)
    pooled = torch.nn.functional.adaptive_avg_pool2d(tensor, 8)
    return pooled.reshape(len(images), 64).double().numpy()


def _find_idx_dir(data_dir: Path, name: str) -> Path:
    candidates = [data_dir, data_dir / name, data_dir / name.replace("-", "_")]
    for candidate in candidates:
        if (candidate / IDX_FILES["train"][0]).is_file():
            return candidate
    return data_dir / name if (data_dir / name).is_dir() else data_dir


def load_idx_dataset(
    name: str,
    data_dir: str | Path | None,
    classes: tuple[int, ...] = (0, 1, 2, 3),
    train_limit: int = 0,
    test_limit: int = 0,
    seed: int = 0,
    *,
    full_size: bool = False,
) -> Dataset:
    """MNIST or Fashion-MNIST from the standard IDX ``.gz`` files, resized to 8x8.

    The four files (``train-images-idx3-ubyte.gz`` ...) are looked up in ``data_dir`` or in
    ``data_dir/<name>``. The train split is the IDX train file, the test split the t10k file.

    Args:
        name: ``"mnist"`` or ``"fashion-mnist"``.
        data_dir: Directory holding the files.
        classes: Labels to keep, in order.
        train_limit: Keep a class-balanced random subset of this many training images (0 = all).
        test_limit: Likewise for the test split.
        seed: Seed of the subsets and the shuffle.
        full_size: Keep the 28x28 images, pixels scaled from 0..255 to ``[0, 1]`` (784
            features; for classical networks such as Quantum-Train's).

    Returns:
        The data set with pixels averaged to 8x8 and scaled from 0..255 to ``[0, pi]``
        (or full-size in ``[0, 1]``).

    Raises:
        DataError: Naming the missing or corrupt file.
    """
    if name not in ("mnist", "fashion-mnist"):
        raise DataError(f"unknown IDX data set {name!r}: use mnist or fashion-mnist")
    if data_dir is None:
        raise DataError(f"{name} needs --data-dir: a directory with the IDX .gz files")
    folder = _find_idx_dir(Path(data_dir), name)
    rng = np.random.default_rng(seed)
    splits = {}
    for split, (images_file, labels_file) in IDX_FILES.items():
        images = read_idx(folder / images_file)
        labels = read_idx(folder / labels_file)
        if images.ndim != 3 or labels.ndim != 1:
            raise DataError(f"{folder / images_file}: expected an image file and a label file")
        if len(images) != len(labels):
            raise DataError(
                f"{folder / images_file} has {len(images)} images but "
                f"{folder / labels_file} has {len(labels)} labels"
            )
        x, y = _select(images, labels.astype(np.int64), classes, str(folder / labels_file))
        x, y = _limit(x, y, train_limit if split == "train" else test_limit, rng)
        if full_size:
            splits[split] = (x.reshape(len(x), -1).astype(np.float64) / 255.0, y)
        else:
            splits[split] = (_resize_8x8(x) / 255.0 * np.pi, y)
    names = FASHION_NAMES if name == "fashion-mnist" else tuple(str(c) for c in range(10))
    return Dataset(
        name, *splits["train"], *splits["test"], class_names=tuple(names[c] for c in classes)
    )


def load_dataset(
    name: str,
    classes: tuple[int, ...] = (0, 1, 2, 3),
    data_dir: str | Path | None = None,
    seed: int = 0,
    train_limit: int = 0,
    test_limit: int = 0,
) -> Dataset:
    """Load a data set by name.

    Args:
        name: ``"digits"``, ``"moons"``, ``"mnist"`` or ``"fashion-mnist"``.
        classes: Labels to keep (Two Moons always has classes 0 and 1).
        data_dir: Directory of the IDX files (MNIST, Fashion-MNIST only).
        seed: Seed of splits and subsets.
        train_limit: Class-balanced cap on training samples (0 = all).
        test_limit: Class-balanced cap on test samples (0 = all).

    Returns:
        The data set.
    """
    if name in ("mnist", "fashion-mnist"):
        return load_idx_dataset(name, data_dir, tuple(classes), train_limit, test_limit, seed)
    if name == "digits":
        data = load_digits(tuple(classes), seed)
    elif name == "moons":
        if tuple(classes) != (0, 1):
            raise DataError(f"moons has classes 0 and 1, got {list(classes)}")
        data = load_moons(seed=seed)
    else:
        raise DataError(f"unknown data set {name!r}: use one of {', '.join(DATASETS)}")
    rng = np.random.default_rng(seed)
    if train_limit or test_limit:
        x_tr, y_tr = _limit(data.x_train, data.y_train, train_limit, rng)
        x_te, y_te = _limit(data.x_test, data.y_test, test_limit, rng)
        data = Dataset(data.name, x_tr, y_tr, x_te, y_te, data.class_names)
    return data
