"""The paper-tables report: cells, margins and figures from run summaries."""

from __future__ import annotations

import json

import numpy as np
import pytest

from qmoe_qiskit.experiments.qmoe_tables import PAPER_TABLE_I, RunKey, parse_run_key
from qmoe_qiskit.experiments.sweep_report import write_sweep_report


def test_run_keys_from_preset_names():
    assert parse_run_key("qmoe-mnist4-rxry") == RunKey("qmoe", "mnist4", "rxry", 4)
    assert parse_run_key("qmoe-mnist4-rx-e3") == RunKey("qmoe", "mnist4", "rx", 3)
    assert parse_run_key("fair-baseline-fashion2-rxryrz") == RunKey(
        "fair-baseline", "fashion2", "rxryrz", 1
    )
    assert parse_run_key("paper-qmoe-mnist2-ry") == RunKey("paper-qmoe", "mnist2", "ry", 4)
    assert parse_run_key("/x/qmoe-digits4.toml") is None
    assert PAPER_TABLE_I[("qmoe", "rxry")]["mnist2"] == 98.62


def _run(spec, seed, acc, mi=None, weights=80):
    matrix = np.eye(4) * 0.7 + 0.075
    return {
        "name": f"{spec}-seed{seed}",
        "spec": spec,
        "settings": {"seed": seed},
        "changes": {},
        "seed": seed,
        "test_accuracy": acc,
        "routing_mi": mi,
        "routing": None if mi is None else {"matrix": matrix.tolist(), "mutual_information": mi},
        "curve": [{"epoch": 1, "test_accuracy": acc - 0.1}, {"epoch": 2, "test_accuracy": acc}],
        "val_accuracy": None,
        "epochs": 2,
        "num_weights": weights,
        "num_qubits": 6,
        "seconds": 1800.0,
    }


def test_tables_report_cells_margins_and_figures(tmp_path):
    runs = [
        _run("qmoe-mnist4-rxry", 0, 0.70, 0.8),
        _run("qmoe-mnist4-rxry", 1, 0.72, 0.6),
        _run("baseline-mnist4-rxry", 0, 0.50, weights=24),
        _run("baseline-mnist4-rxry", 1, 0.52, weights=24),
        _run("fair-baseline-mnist4-rxry", 0, 0.65),
        _run("fair-baseline-mnist4-rxry", 1, 0.67),
        _run("qmoe-mnist4-rxry-e2", 0, 0.60, 0.3),
        _run("qmoe-mnist4-rxry-e3", 0, 0.65, 0.4),
    ]
    results = tmp_path / "sweep"
    results.mkdir()
    payload = {"description": "tables", "report": "qmoe-tables", "runs": runs}
    (results / "results.json").write_text(json.dumps(payload))
    report = write_sweep_report(results, tmp_path / "report").read_text()
    assert "4.00 h of compute" in report
    # mean ± sample std of 70 and 72, with the paper's 62.92 beside it
    assert "| QMoE | RX+RY | 71.00 ± 1.41 (n=2) [62.92] | — [98.62] |" in report
    assert "| baseline (4 qubits, the paper's) | RX+RY | 51.00 ± 1.41 (n=2) [51.05] |" in report
    assert "| baseline, equal qubits and weights | RX+RY | 66.00 ± 1.41 (n=2) | — |" in report
    assert "| QMoE | RX+RY | 80 / 6 |" in report
    # I = mean(0.8, 0.6); margins 71 - 51, 71 - 66, 71 - 62.92
    assert "| MNIST-4 | RX+RY | 0.700 | +5.00 | +20.00 | — | +8.08 |" in report
    assert "ahead of its equal-budget baseline in 1 of 1 cells" in report
    assert "meets its target in 1 of 1 cells" in report
    assert "| QMoE | RX+RY | 60.00 ± 0.00 (n=1) [54.38] | 65.00 ± 0.00 (n=1) [59.67] |" in report
    assert report.split("| QMoE | RX+RY | 60.00")[1].split("\n")[0].endswith("| yes |")
    for png in ("routing.png", "curves.png", "accuracy.png"):
        assert (tmp_path / "report" / png).stat().st_size > 5000, png


def test_a_sweep_file_names_its_report(tmp_path):
    from qmoe_qiskit.errors import JobFileError
    from qmoe_qiskit.experiments.sweep import load_sweep

    path = tmp_path / "t.toml"
    path.write_text('report = "qmoe-tables"\n[[grid]]\nspec = "qmoe-mnist4-rx"\n')
    assert load_sweep(path).report == "qmoe-tables"
    path.write_text('report = "fancy"\n[[grid]]\nspec = "qmoe-mnist4-rx"\n')
    with pytest.raises(JobFileError, match="report = 'fancy' is unknown"):
        load_sweep(path)


def test_every_sweep_under_jobs_loads_and_the_tables_cover_the_paper():
    from tests.conftest import REPO

    sweeps = {}
    for path in sorted((REPO / "jobs").glob("*.toml")):
        if "[[grid]]" in path.read_text():
            sweeps[path.name] = load_sweep_file(path)
    table1 = {parse_run_key(r.spec) for r in sweeps["qmoe-table1.toml"].runs}
    assert len(sweeps["qmoe-table1.toml"].runs) == 4 * 5 * 4 * 3  # tasks x models x ops x seeds
    for model, ops in PAPER_TABLE_I:
        for task in ("mnist4", "mnist2", "fashion4", "fashion2"):
            experts = 4 if model == "qmoe" else 1
            assert RunKey(model, task, ops, experts) in table1
            assert RunKey(f"paper-{model}", task, ops, experts) in table1  # the construction
            assert RunKey("fair-baseline", task, ops, 1) in table1
    for run in sweeps["qmoe-table1.toml"].runs:  # the paper's protocol: 6,000 / 1,000 per class
        classes = 4 if parse_run_key(run.spec).task.endswith("4") else 2
        assert run.settings["train_limit"] == 6000 * classes
        assert run.settings["test_limit"] == 1000 * classes
    table2 = {parse_run_key(r.spec) for r in sweeps["qmoe-table2.toml"].runs}
    for model in ("qmoe", "paper-qmoe", "fair-baseline"):  # each count beside its own baseline
        assert {(k.operators, k.experts) for k in table2 if k.model == model} == {
            (ops, e if model != "fair-baseline" or e != 4 else 1)
            for ops in ("rx", "ry", "rxry", "rxryrz")
            for e in (2, 3, 4)
        }


def load_sweep_file(path):
    from qmoe_qiskit.experiments.sweep import load_sweep

    return load_sweep(path)
