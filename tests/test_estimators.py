"""The scikit-learn estimator: scikit-learn's own checks, learning, labels, widths, the API."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits, make_blobs, make_moons
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import qmoe_qiskit
from qmoe_qiskit import build_network
from qmoe_qiskit.data import Dataset, reduce_pca
from qmoe_qiskit.errors import DataError, QmoeError, SpecError, TrainingError
from qmoe_qiskit.estimators import QMoEClassifier
from qmoe_qiskit.training import predict as network_outputs

#: A small QMoE (2 experts, one routing and one expert layer) for the functional tests.
TINY = {"routing": {"layers": 1}, "experts": {"layers": 1}}


@pytest.fixture(autouse=True)
def one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny(**settings) -> QMoEClassifier:
    values = {"experts": 2, "spec": TINY, "epochs": 5, "lr": 0.1, "threads": 1}
    return QMoEClassifier(**{**values, **settings})


def moons(n: int = 200, seed: int = 0):
    X, y = make_moons(n_samples=n, noise=0.1, random_state=seed)
    return train_test_split(X, y, test_size=0.3, random_state=seed, stratify=y)


def digits(classes=(0, 1, 2, 3)):
    bunch = load_digits()
    keep = np.isin(bunch.target, classes)
    return train_test_split(
        bunch.data[keep],
        bunch.target[keep],
        test_size=0.3,
        random_state=0,
        stratify=bunch.target[keep],
    )


# -- scikit-learn's own checks ------------------------------------------------------------------

#: Fast settings: the default QMoE (4 experts, 6 qubits) and the hybrid study's quantum router,
#: 3 epochs on the torch engine: >= 0.90 training accuracy on the checks' blobs (> 0.83 needed).
CHECKED = [
    QMoEClassifier(epochs=3, threads=1),
    QMoEClassifier(family="hybrid", epochs=3, lr=0.1, val_fraction=0, threads=1),
]


@parametrize_with_checks(CHECKED)
def test_scikit_learn_checks(estimator, check):
    check(estimator)


# -- learning, and agreement with the package's own network ------------------------------------


def test_learns_digits_and_predicts_with_the_packages_network():
    X_train, X_test, y_train, y_test = digits()
    clf = QMoEClassifier(features=8, epochs=3, random_state=0, threads=1)
    assert clf.fit(X_train, y_train) is clf
    assert clf.n_features_in_ == 64 and clf.model_.num_inputs == 8
    assert clf.spec_.classes == 4 and list(clf.classes_) == [0, 1, 2, 3]
    assert [name for name, _ in clf.preprocessor_.steps] == ["standardize", "pca", "angles"]
    assert clf.score(X_test, y_test) > 0.8  # chance: 0.25
    assert len(clf.history_) == 3 and clf.best_epoch_ == 3

    network = build_network(clf.model_, clf.weights_, engine="torch")
    angles = clf.preprocessor_.transform(X_test)
    assert angles.min() >= 0 and angles.max() <= np.pi
    scores = network_outputs(network, angles)
    np.testing.assert_array_equal(clf.predict(X_test), clf.classes_[scores.argmax(axis=1)])
    proba = clf.predict_proba(X_test)
    assert proba.shape == (len(X_test), 4)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_array_equal(proba.argmax(axis=1), scores.argmax(axis=1))
    logits = clf.spec_.training.logit_scale * scores
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(proba, expected, rtol=1e-12)


def test_labels_of_any_kind_map_through_classes():
    X, y = make_blobs(n_samples=150, centers=3, random_state=1)
    names = np.array(["ant", "bee", "cat"])[y]
    odd = np.array([3, 7, 10])[y]
    fits = [tiny(random_state=2).fit(X, labels) for labels in (y, names, odd)]
    assert list(fits[1].classes_) == ["ant", "bee", "cat"] and list(fits[2].classes_) == [3, 7, 10]
    for fit in fits[1:]:  # sorted labels -> the same class indices -> the same training
        np.testing.assert_array_equal(fit.weights_, fits[0].weights_)
    index = fits[0].predict(X)
    np.testing.assert_array_equal(fits[1].predict(X), np.array(["ant", "bee", "cat"])[index])
    np.testing.assert_array_equal(fits[2].predict(X), np.array([3, 7, 10])[index])
    assert fits[1].score(X, names) > 0.8


def test_the_class_count_and_data_qubits_follow_the_labels():
    X, y = make_blobs(n_samples=120, centers=6, random_state=0)
    clf = tiny(epochs=1).fit(X, y)
    assert clf.spec_.classes == 6 and clf.spec_.experts.data_qubits == 6  # default 4 raised
    assert clf.predict_proba(X).shape == (120, 6)
    X2, y2 = make_moons(n_samples=60, random_state=0)
    clf2 = tiny(epochs=1).fit(X2, y2)
    assert clf2.spec_.classes == 2 and clf2.spec_.experts.data_qubits == 4
    assert clf2.model_.num_inputs == 2 and "pca" not in clf2.preprocessor_.named_steps


def test_pca_without_standardising_is_the_packages_reduce_pca():
    X_train, X_test, y_train, y_test = digits()
    clf = tiny(features=6, standardize=False, epochs=1).fit(X_train, y_train)
    data = Dataset("d", X_train, y_train, X_test, y_test, ("0", "1", "2", "3"))
    reduced = reduce_pca(data, 6, seed=clf.spec_.training.seed)
    np.testing.assert_allclose(clf.preprocessor_.transform(X_train), reduced.x_train, atol=1e-10)
    np.testing.assert_allclose(clf.preprocessor_.transform(X_test), reduced.x_test, atol=1e-10)
    few = tiny(features=6, epochs=1).fit(X_train[:5], y_train[:5])  # PCA rank <= samples
    assert few.model_.num_inputs == 5


# -- scikit-learn tooling -----------------------------------------------------------------------


def test_clone_pipeline_cross_validation_and_grid_search():
    X_train, X_test, y_train, y_test = moons()
    fitted = tiny(random_state=0).fit(X_train, y_train)
    copy = clone(fitted)
    assert copy.get_params() == fitted.get_params() and not hasattr(copy, "weights_")
    np.testing.assert_array_equal(copy.fit(X_train, y_train).weights_, fitted.weights_)

    pipe = Pipeline([("scale", StandardScaler()), ("clf", tiny())]).fit(X_train, y_train)
    assert pipe.score(X_test, y_test) > 0.75  # chance: 0.5

    X = np.vstack([X_train, X_test])
    y = np.concatenate([y_train, y_test])
    scores = cross_val_score(tiny(), X, y, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.75

    search = GridSearchCV(tiny(), {"epochs": [1, 5], "experts": np.array([2])}, cv=2)
    search.fit(X_train, y_train)
    assert len(search.cv_results_["params"]) == 2
    assert search.best_params_["epochs"] == 5  # cross-validated: 0.80 against 0.67
    assert search.best_estimator_.spec_.training.epochs == search.best_params_["epochs"]
    assert search.score(X_test, y_test) > 0.75


def test_pickle_keeps_predictions_and_rebuilds_the_model():
    X_train, X_test, y_train, _ = moons()
    clf = tiny().fit(X_train, y_train)
    back = pickle.loads(pickle.dumps(clf))
    assert back.model_.num_weights == clf.model_.num_weights
    np.testing.assert_array_equal(back.predict_proba(X_test), clf.predict_proba(X_test))


# -- families, settings and engines -------------------------------------------------------------


def test_baseline_and_hybrid_families():
    X_train, X_test, y_train, y_test = moons(300)
    baseline = QMoEClassifier(family="baseline", epochs=5, lr=0.1, threads=1)
    baseline.fit(X_train, y_train)
    assert baseline.spec_.kind == "baseline" and baseline.spec_.num_route_qubits == 0
    assert baseline.score(X_test, y_test) > 0.75

    hybrid = QMoEClassifier(family="hybrid", epochs=40, patience=5, lr=0.05, threads=1)
    hybrid.fit(X_train, y_train)  # the study's protocol: 20 % validation, early stopping
    assert hybrid.spec_.routing.kind == "quantum" and hybrid.spec_.num_qubits == 2
    assert "val_loss" in hybrid.history_[0] and 1 <= hybrid.best_epoch_ <= len(hybrid.history_)
    assert hybrid.score(X_test, y_test) > 0.75


def test_spec_presets_and_changes():
    X_train, _, y_train, _ = digits((0, 1))
    preset = QMoEClassifier(spec="qmoe-digits4-pca8", epochs=1, threads=1).fit(X_train, y_train)
    assert preset.spec_.name == "qmoe-digits4-pca8" and preset.spec_.training.lr == 0.1
    assert preset.model_.num_inputs == 8 and preset.spec_.classes == 2
    changed = QMoEClassifier(spec={"routing": {"layers": 1}}, epochs=1, threads=1)
    changed.fit(X_train[:, :5], y_train)
    assert changed.spec_.routing.layers == 1 and changed.spec_.experts.layers == 2
    linear = QMoEClassifier(family="hybrid", spec={"routing": {"kind": "linear"}}, epochs=2)
    assert linear.fit(X_train[:, :5], y_train).spec_.routing.kind == "linear"


def test_random_state_makes_fits_reproducible():
    X_train, _, y_train, _ = moons()
    a, b = (tiny(random_state=4).fit(X_train, y_train) for _ in range(2))
    np.testing.assert_array_equal(a.weights_, b.weights_)
    assert a.spec_.training.seed == 4
    c = tiny(random_state=5).fit(X_train, y_train)
    assert not np.allclose(c.weights_, a.weights_)
    d = tiny(random_state=np.random.RandomState(0)).fit(X_train, y_train)
    assert d.spec_.training.seed == np.random.RandomState(0).randint(np.iinfo(np.int32).max)


def test_aer_engine_trains_to_the_torch_engines_weights():
    X, y = make_moons(n_samples=16, noise=0.1, random_state=0)
    settings = {"epochs": 1, "batch_size": 8, "data_qubits": 2}
    aer = tiny(engine="aer", **settings).fit(X, y)
    torch_fit = tiny(**settings).fit(X, y)
    np.testing.assert_allclose(aer.weights_, torch_fit.weights_, atol=1e-8)
    np.testing.assert_allclose(aer.predict_proba(X), torch_fit.predict_proba(X), atol=1e-8)


def test_threads_are_set_only_when_asked_and_restored(monkeypatch):
    calls = []
    real = torch.set_num_threads
    monkeypatch.setattr(torch, "set_num_threads", lambda n: (calls.append(n), real(n)))
    X_train, X_test, y_train, _ = moons(60)
    tiny(threads=None, epochs=1).fit(X_train, y_train).predict(X_test)
    assert calls == []
    tiny(threads=2, epochs=1).fit(X_train, y_train).predict(X_test)
    assert calls == [2, 1, 2, 1] and torch.get_num_threads() == 1


def test_nothing_is_written_to_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    X_train, X_test, y_train, _ = moons(60)
    tiny(epochs=1).fit(X_train, y_train).predict_proba(X_test)
    assert list(tmp_path.iterdir()) == []


# -- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "error", "words"),
    [
        ({"family": "moe"}, SpecError, "family = 'moe' is invalid"),
        ({"family": "hybrid", "spec": "qmoe-digits4"}, SpecError, "is a 'qmoe' model"),
        ({"experts": 0}, SpecError, "experts.count = 0"),
        ({"data_qubits": 2}, SpecError, "classes must be <= experts.data_qubits"),
        ({"family": "hybrid", "data_qubits": 3}, SpecError, "no data register"),
        ({"features": 0}, SpecError, "features = 0 is invalid"),
        ({"epochs": 0}, SpecError, "training.epochs = 0"),
        ({"spec": "qmoe-digitz4"}, SpecError, "qmoe-digitz4"),
        ({"engine": "qpu"}, TrainingError, "engine = 'qpu' is invalid"),
        ({"threads": 0}, TrainingError, "threads = 0 is invalid"),
        ({"val_fraction": 0.2}, DataError, "stratified split"),
    ],
)
def test_invalid_settings_raise_one_line_qmoe_errors(settings, error, words):
    X, y = make_blobs(n_samples=9, centers=3, random_state=0)
    with pytest.raises(error, match=words) as caught:
        tiny(**settings).fit(X, y)
    assert isinstance(caught.value, QmoeError) and "\n" not in str(caught.value)


def test_invalid_data_raises_one_line_data_errors():
    X, y = make_moons(n_samples=40, random_state=0)
    bad = X.copy()
    bad[0, 0] = np.nan
    cases = [
        (lambda: tiny().fit(bad, y), "NaN"),
        (lambda: tiny().fit(X, np.zeros(40)), "at least 2 classes; got 1 class"),
        (lambda: tiny().fit(X, y[:-1]), "inconsistent numbers of samples"),
        (lambda: tiny().fit(X, np.linspace(0, 1, 40)), "Unknown label type"),
        (lambda: tiny().fit(X, y).predict(X[:, :1]), "X has 1 features"),
        (lambda: tiny().fit(X, y).predict(bad), "NaN"),
    ]
    for call, words in cases:
        with pytest.raises(DataError, match=words) as caught:
            call()
        assert isinstance(caught.value, ValueError) and "\n" not in str(caught.value)
    with pytest.raises(DataError, match=r"1 feature\(s\), too few for a quantum router"):
        QMoEClassifier(family="hybrid", epochs=1).fit(X[:, :1], y)


def test_public_api():
    assert qmoe_qiskit.QMoEClassifier is QMoEClassifier
    assert "QMoEClassifier" in qmoe_qiskit.__all__
