"""The noise-aware training study: resumable runs, scores on every simulator, the report."""

from __future__ import annotations

import json

import pytest

from qmoe_qiskit.cli import main
from qmoe_qiskit.experiments import noise_study
from qmoe_qiskit.experiments.noise_study import NoiseStudy, run_noise_study, write_report
from qmoe_qiskit.hardware import noisy_accuracy
from qmoe_qiskit.training import load_run

TINY = NoiseStudy(
    backends=("fake_manila",), seeds=1, epochs=1, train_limit=16, test_limit=12, profile="fast"
)


def test_study_scores_each_run_on_each_simulator_and_resumes(tmp_path, monkeypatch):
    results = run_noise_study(TINY, tmp_path, progress=False, log=lambda _: None)
    assert [(r["trained_on"], r["seed"]) for r in results] == [("ideal", 0), ("fake_manila", 0)]
    aware = load_run(tmp_path / "runs" / "fake_manila-s0")
    assert aware.config.noise == "fake_manila" and aware.config.engine == "aer"
    ideal = load_run(tmp_path / "runs" / "ideal-s0")
    assert ideal.config.noise == "" and ideal.config.seed == aware.config.seed
    data = ideal.config.load_data()
    again = noisy_accuracy(ideal.model, ideal.weights, data.x_test, data.y_test, "fake_manila",
                           profile="fast")  # fmt: skip
    assert results[0]["on"] == {"ideal": again.ideal_accuracy, "fake_manila": again.noisy_accuracy}
    # the noise-aware run's own held-out accuracy is the one on its noisy simulator
    metrics = json.loads((tmp_path / "runs" / "fake_manila-s0" / "metrics.json").read_text())
    assert results[1]["on"]["fake_manila"] == metrics["test_accuracy"]

    def no_training(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(noise_study, "train", no_training)
    assert run_noise_study(TINY, tmp_path, progress=False, log=lambda _: None) == results
    text = write_report(tmp_path).read_text()
    gain = 100 * (results[1]["on"]["fake_manila"] - results[0]["on"]["fake_manila"])
    assert f"| fake_manila | {100 * results[0]['on']['fake_manila']:.1f} | " in text
    assert f"| {gain:+.1f} |" in text
    assert (tmp_path / "noise-aware.png").is_file()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["noise", "study", "--out", "X", "--backends", "manila"], "fake backend names"),
        (["noise", "study", "--out", "X", "--shard", "a/b"], "argument --shard: expected I/K"),
        (["noise", "report", "EMPTY"], "holds no scored run"),
    ],
)
def test_noise_study_errors_are_one_line(argv, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "EMPTY").mkdir()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
