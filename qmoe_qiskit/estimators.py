"""scikit-learn estimators over the project's model families.

:class:`QMoEClassifier` is a scikit-learn classifier (``fit``, ``predict``, ``predict_proba``,
``score``, ``get_params``/``set_params``; it works with ``clone``, ``Pipeline``,
``cross_val_score`` and ``GridSearchCV``) whose model is a compiled ``qmoe``, ``baseline`` or
``hybrid`` spec, trained by the package's one training loop
(:func:`~qmoe_qiskit.training.fit_model`) on the torch or Aer engine::

    from qmoe_qiskit import QMoEClassifier

    clf = QMoEClassifier(family="qmoe", experts=2, epochs=3).fit(X_train, y_train)
    clf.score(X_test, y_test)

Everything is decided in :meth:`QMoEClassifier.fit`: the model's class count follows the labels
(any labels: they are mapped through ``classes_``), the encoder's width follows the data (the
spec's ``encoder.features`` or ``features``; wider data is reduced by a PCA fitted on the
training data, as ``data.pca`` does) and the features are rescaled to the encoder's ``[0, pi]``
angles with the training range. Nothing is written to disk.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import numbers
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.decomposition import PCA
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from .data import Dataset
from .engines import build_network
from .errors import DataError, QmoeError, SpecError, TrainingError
from .models import Model, compile_model
from .spec import MODEL_KINDS, ModelSpec, load_spec, spec_from_dict
from .training import RunConfig, fit_model
from .training import predict as network_outputs

try:
    from sklearn.utils.validation import validate_data as _validate_data
except ImportError:  # pragma: no cover - scikit-learn < 1.6

    def _validate_data(estimator: BaseEstimator, *args: Any, **kwargs: Any) -> Any:
        return estimator._validate_data(*args, **kwargs)


__all__ = ["FAMILY_DEFAULTS", "QMoEClassifier"]

#: The spec each family starts from when ``spec`` is ``None`` (or a mapping of changes): the
#: project's validated defaults; for ``hybrid`` the hybrid study's model B (a quantum router on
#: 8 features, 4 layers, over 4 linear experts: ``hybrid-*-quantum-pca8``).
FAMILY_DEFAULTS: dict[str, dict[str, Any]] = {
    "qmoe": {"kind": "qmoe"},
    "baseline": {"kind": "baseline"},
    "hybrid": {
        "kind": "hybrid",
        "encoder": {"features": 8},
        "routing": {"kind": "quantum", "layers": 4},
        "experts": {"kind": "linear", "count": 4},
    },
}


def _bad(name: str, value: Any, allowed: str) -> SpecError:
    return SpecError(f"{name} = {value!r} is invalid: {allowed}")


def _plain(value: Any) -> Any:
    """numpy integers as ``int`` (a grid of ``np.arange`` values); anything else unchanged, for
    the spec's own validation to accept or refuse."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    return value


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split())


@contextlib.contextmanager
def _torch_threads(threads: int | None) -> Iterator[None]:
    """Run with ``threads`` torch threads (``None``: leave the caller's setting alone), then
    restore the caller's setting."""
    if threads is None:
        yield
        return
    if isinstance(threads, bool) or not isinstance(threads, numbers.Integral) or threads < 1:
        raise TrainingError(f"threads = {threads!r} is invalid: expected an integer >= 1 or None")
    before = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(before)


class QMoEClassifier(ClassifierMixin, BaseEstimator):
    """A scikit-learn classifier whose model is a QMoE, a baseline PQC or a hybrid QMoE.

    The constructor only stores its arguments; :meth:`fit` builds the spec (the family's
    default or ``spec``, with the settings below applied), compiles it, and trains it with
    :func:`~qmoe_qiskit.training.fit_model`. ``None`` means "the spec's value" throughout.

    Args:
        family: ``"qmoe"``, ``"baseline"`` or ``"hybrid"`` (default: ``spec``'s kind, or
            ``"qmoe"`` without a spec).
        spec: ``None`` (the family's validated default, :data:`FAMILY_DEFAULTS`), a preset
            name, a TOML path, a :class:`~qmoe_qiskit.spec.ModelSpec`, or a mapping of fields
            to change in the family's default (``{"routing": {"layers": 1}}``).
        experts: Number of experts (``experts.count``; a baseline has 1).
        data_qubits: Qubits of the data register (``qmoe``/``baseline``; default: the spec's,
            raised to the number of classes, since class ``c`` is read from data qubit ``c``).
        features: Most features the encoder reads (default: the spec's ``encoder.features``).
            Data with fewer features is encoded as it is; wider data is reduced by PCA to this
            many components (at most the number of training samples).
        standardize: Standardise the features before the PCA (without a PCA it changes
            nothing: the features are min-max scaled to ``[0, pi]`` anyway). ``False`` gives
            exactly :func:`~qmoe_qiskit.data.reduce_pca`'s transform.
        epochs: Training epochs (``training.epochs``).
        batch_size: Mini-batch size (``training.batch_size``).
        lr: Adam learning rate (``training.lr``).
        val_fraction: Stratified validation split of the training data scored every epoch
            (``training.val_fraction``; the hybrid default holds out 0.2).
        patience: Early stopping on the validation loss (``training.patience``).
        random_state: Seed of the initial weights and the shuffles: an integer >= 0, a
            ``numpy.random.RandomState`` (a seed is drawn from it), or ``None`` (the spec's
            ``training.seed``, 0 by default: fits are reproducible unless asked otherwise).
        engine: ``"torch"`` (exact statevector simulation in torch) or ``"aer"``.
        device: ``"auto"``, ``"cpu"``, ``"gpu"`` or ``"cuda[:N]"``.
        threads: Torch threads for :meth:`fit` and prediction (``None``: the caller's setting,
            left unchanged; otherwise it is restored afterwards).
        progress: Show a progress bar and one line per epoch.

    Attributes:
        classes_: The labels, sorted; model class ``i`` is ``classes_[i]``.
        n_features_in_: Features seen in :meth:`fit`.
        feature_names_in_: Their names (only for inputs with string column names).
        spec_: The spec that was trained (validated).
        model_: Its compiled model.
        preprocessor_: The fitted map from input rows to encoder angles (a scikit-learn
            ``Pipeline``: [standardise, PCA,] min-max to ``[0, pi]``, clipped).
        weights_: The trained flat weights (``model_``'s order; checkpoints' format).
        history_: Per-epoch metrics of the training loop.
        best_epoch_: The epoch whose weights were kept (the last, unless early stopping).
    """

    def __init__(
        self,
        family: str | None = None,
        spec: ModelSpec | str | Path | Mapping[str, Any] | None = None,
        *,
        experts: int | None = None,
        data_qubits: int | None = None,
        features: int | None = None,
        standardize: bool = True,
        epochs: int | None = None,
        batch_size: int | None = None,
        lr: float | None = None,
        val_fraction: float | None = None,
        patience: int | None = None,
        random_state: int | np.random.RandomState | None = None,
        engine: str = "torch",
        device: str = "auto",
        threads: int | None = None,
        progress: bool = False,
    ) -> None:
        self.family = family
        self.spec = spec
        self.experts = experts
        self.data_qubits = data_qubits
        self.features = features
        self.standardize = standardize
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.val_fraction = val_fraction
        self.patience = patience
        self.random_state = random_state
        self.engine = engine
        self.device = device
        self.threads = threads
        self.progress = progress

    # -- the spec ---------------------------------------------------------------------------

    def _base_spec(self) -> ModelSpec:
        """The spec before the data decides classes and width (validated)."""
        family = self.family
        if family is not None and family not in MODEL_KINDS:
            allowed = ", ".join(repr(k) for k in MODEL_KINDS)
            raise _bad("family", family, f"allowed values are {allowed} (or None)")
        if self.spec is None or isinstance(self.spec, Mapping):
            changes = dict(self.spec or {})
            kind = changes.get("kind", family or "qmoe")
            if family is not None and kind != family:
                raise _bad("family", family, f"the spec's changes set kind = {kind!r}")
            family = kind
            if family not in MODEL_KINDS:
                raise _bad("kind", family, "allowed values are " + ", ".join(MODEL_KINDS))
            values = {"name": f"{family}-classifier", **FAMILY_DEFAULTS[family]}
            for key, value in changes.items():
                if isinstance(value, Mapping) and isinstance(values.get(key), Mapping):
                    value = {**values[key], **value}
                values[key] = value
            return spec_from_dict(values)
        spec = load_spec(self.spec)
        if family is not None and spec.kind != family:
            raise _bad(
                "family",
                family,
                f"spec {spec.name!r} is a {spec.kind!r} model; leave family None or give a "
                f"{family!r} spec",
            )
        return spec

    def _seed(self, spec: ModelSpec) -> int:
        state = self.random_state
        if state is None:
            return spec.training.seed
        if isinstance(state, np.random.RandomState):
            return int(check_random_state(state).randint(np.iinfo(np.int32).max))
        return _plain(state)

    def _fit_spec(self, base: ModelSpec, width: int, n_classes: int) -> ModelSpec:
        """``base`` with this estimator's settings, ``width`` encoder features and
        ``n_classes`` classes (validated by :class:`~qmoe_qiskit.spec.ModelSpec`)."""
        experts = base.experts
        if self.experts is not None:
            experts = dataclasses.replace(experts, count=_plain(self.experts))
        count = experts.count
        quantum_router = base.kind == "hybrid" and base.routing.kind == "quantum"
        if quantum_router and isinstance(count, int) and 2**width < count:
            raise DataError(
                f"the encoder reads {width} feature(s), too few for a quantum router over {count} "
                f"experts (one qubit per feature, expert k on basis state |k>): use experts <= "
                f"{2**width} or a linear or mlp router"
            )
        if self.data_qubits is not None:
            if base.kind == "hybrid":
                raise _bad(
                    "data_qubits",
                    self.data_qubits,
                    "a hybrid model has linear experts and no data register; leave it None",
                )
            experts = dataclasses.replace(experts, data_qubits=_plain(self.data_qubits))
        elif base.kind != "hybrid":
            experts = dataclasses.replace(experts, data_qubits=max(experts.data_qubits, n_classes))
        experts = dataclasses.replace(experts, features=min(experts.features, width))
        routing = dataclasses.replace(base.routing, features=min(base.routing.features, width))
        settings = {
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "val_fraction": self.val_fraction,
            "patience": self.patience,
            "seed": self._seed(base),
        }
        if self.val_fraction is not None and not self.val_fraction and self.patience is None:
            settings["patience"] = 0  # no validation split: no early stopping
        changed = {k: _plain(v) for k, v in settings.items() if v is not None}
        return dataclasses.replace(
            base,
            classes=n_classes,
            encoder=dataclasses.replace(base.encoder, features=width),
            routing=routing,
            experts=experts,
            training=dataclasses.replace(base.training, **changed),
            data=dataclasses.replace(base.data, classes=tuple(range(n_classes)), pca=0),
        )

    # -- data -------------------------------------------------------------------------------

    def _check_input(self, X: Any, y: Any = None, *, reset: bool) -> Any:
        """scikit-learn's input validation, its errors as one-line :class:`DataError`."""
        try:
            if reset:
                return _validate_data(self, X, y, dtype=np.float64)
            return _validate_data(self, X, dtype=np.float64, reset=False)
        except QmoeError:
            raise
        except ValueError as error:  # type errors (a dict in X) stay TypeError
            raise DataError(_one_line(error)) from None

    def _width(self, base: ModelSpec, n_samples: int, n_features: int) -> tuple[int, bool]:
        """Encoder width and whether a PCA reduces the data to it."""
        target = base.encoder.features if self.features is None else _plain(self.features)
        if isinstance(target, bool) or not isinstance(target, int) or target < 1:
            raise _bad("features", self.features, "expected an integer >= 1 (or None)")
        if n_features <= target:
            return n_features, False
        return min(target, n_samples), True

    def _preprocessor(
        self, X: np.ndarray, width: int, pca: bool, seed: int
    ) -> tuple[Pipeline, np.ndarray]:
        """The map from rows to angles, fitted on ``X`` step by step: each step is fitted on
        the previous steps' ``transform`` (as :func:`~qmoe_qiskit.data.reduce_pca` does), not on
        ``fit_transform`` (a randomised PCA's differs slightly), so training rows get exactly
        the angles that prediction gives them. Returns the pipeline and ``X``'s angles."""
        steps: list[tuple[str, Any]] = []
        if pca:
            if self.standardize:
                steps.append(("standardize", StandardScaler()))
            steps.append(("pca", PCA(n_components=width, random_state=seed)))
        steps.append(("angles", MinMaxScaler(feature_range=(0.0, math.pi), clip=True)))
        x = X
        for _, step in steps:
            x = step.fit(x).transform(x)
        return Pipeline(steps), x

    @staticmethod
    def _check_split(spec: ModelSpec, y: np.ndarray, n_classes: int) -> None:
        """Refuse a validation split that a stratified split cannot make, in one line."""
        fraction = spec.training.val_fraction
        if not fraction:
            return
        held = math.ceil(fraction * len(y))
        fewest = int(np.bincount(y).min())
        if fewest < 2 or held < n_classes or len(y) - held < n_classes:
            raise DataError(
                f"val_fraction = {fraction:g} holds out {held} of {len(y)} samples: a stratified "
                f"split of {n_classes} classes needs >= {n_classes} on each side and >= 2 "
                f"samples per class (the rarest has {fewest}); use more data or val_fraction = 0"
            )

    # -- fit / predict ----------------------------------------------------------------------

    def fit(self, X: Any, y: Any) -> QMoEClassifier:
        """Build, compile and train the model on ``(X, y)``.

        Args:
            X: ``(n_samples, n_features)`` array-like of numbers.
            y: ``(n_samples,)`` labels of any kind (at least 2 distinct).

        Returns:
            ``self``.

        Raises:
            QmoeError: A :class:`~qmoe_qiskit.errors.DataError` for unusable data (NaN,
                wrong shapes, one class), a :class:`~qmoe_qiskit.errors.SpecError` for invalid
                model or training settings, a :class:`~qmoe_qiskit.errors.TrainingError` or
                :class:`~qmoe_qiskit.errors.DeviceError` for invalid run settings.
        """
        X, y = self._check_input(X, y, reset=True)
        try:
            check_classification_targets(y)
        except ValueError as error:
            raise DataError(_one_line(error)) from None
        classes, y_index = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise DataError(
                f"{type(self).__name__} needs samples of at least 2 classes; got 1 class: "
                f"{classes.tolist()}"
            )
        base = self._base_spec()
        width, reduce = self._width(base, *X.shape)
        spec = self._fit_spec(base, width, len(classes))
        y_index = y_index.astype(np.int64).reshape(-1)
        self._check_split(spec, y_index, len(classes))
        config = RunConfig.from_spec(spec, engine=self.engine, device=self.device).validate()
        with _torch_threads(self.threads):
            preprocessor, x = self._preprocessor(X, width, reduce, spec.training.seed)
            model = compile_model(spec)
            names = tuple(str(c) for c in classes)
            data = Dataset("fit", x, y_index, x[:0], y_index[:0], names)
            result = fit_model(
                model, data, config, progress=self.progress, log=print if self.progress else None
            )
            network = self._build(model, result.weights)
        self.classes_ = classes
        self.spec_ = spec
        self.model_ = model
        self.preprocessor_ = preprocessor
        self.weights_ = np.asarray(result.weights, dtype=np.float64)
        self.history_ = result.history
        self.best_epoch_ = result.best_epoch
        self._network = network
        return self

    def _build(self, model: Model, weights: np.ndarray) -> torch.nn.Module:
        return build_network(
            model,
            weights,
            engine=self.engine,
            device=self.device,
            memory_gb=model.spec.training.memory_gb,
        )

    def _scores(self, X: Any) -> np.ndarray:
        """The network's class scores ``(n_samples, classes)`` for ``X``."""
        check_is_fitted(self)
        X = self._check_input(X, reset=False)
        with _torch_threads(self.threads):
            network = getattr(self, "_network", None)
            if network is None:
                network = self._build(self.model_, self.weights_)
            return network_outputs(network, self.preprocessor_.transform(X))

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities: the softmax of the scores times ``training.logit_scale`` (the
        distribution the training loss fits); columns follow ``classes_``."""
        scores = self._scores(X)
        logits = self.spec_.training.logit_scale * scores
        logits -= logits.max(axis=1, keepdims=True)
        probabilities = np.exp(logits)
        return probabilities / probabilities.sum(axis=1, keepdims=True)

    def predict(self, X: Any) -> np.ndarray:
        """The label of the largest class score of every row."""
        scores = self._scores(X)
        return self.classes_[np.argmax(scores, axis=1)]

    # -- pickling: compiled models and torch modules are rebuilt from the spec and weights ---

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state = {k: v for k, v in state.items() if k not in ("model_", "_network")}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        if "spec_" in state:
            self.model_ = compile_model(self.spec_)
