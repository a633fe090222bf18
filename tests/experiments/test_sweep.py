"""Sweeps: sequential and Ray give identical runs; finished runs are kept; a killed Ray worker's
run resumes from its checkpoint."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from qmoe_qiskit import compile_model
from qmoe_qiskit.cli import main
from qmoe_qiskit.errors import DamagedFileError, JobFileError
from qmoe_qiskit.experiments.sweep import load_sweep, run_one, run_sweep
from qmoe_qiskit.experiments.sweep_report import write_sweep_report
from qmoe_qiskit.experiments.sweep_results import write_results
from qmoe_qiskit.training.checkpoints import load_checkpoint

TOY = """
description = "toy sweep"

[vars]
epochs = "1"

[defaults]
engine = "torch"
device = "cpu"
test_limit = 8

[[grid]]
spec = "qmoe-digits4-pca8"
data = "digits"
seed = [0, 1]
train_limit = 24
epochs = {epochs}

[[grid]]
spec = "hybrid-moons-linear"
seed = [0, 1]
train_limit = 48
epochs = 3
"""


def toy(tmp_path: Path) -> Path:
    path = tmp_path / "toy.toml"
    path.write_text(TOY.replace("epochs = {epochs}", 'epochs = "{epochs}"'))
    return path


def second_sweep(tmp_path: Path, seeds: str) -> Path:
    """A sweep of the toy's hybrid runs with other seeds (some shared with the toy)."""
    path = tmp_path / "second.toml"
    path.write_text(
        'description = "second"\n[defaults]\nengine = "torch"\ndevice = "cpu"\ntest_limit = 8\n\n'
        f'[[grid]]\nspec = "hybrid-moons-linear"\nseed = {seeds}\ntrain_limit = 48\nepochs = 3\n'
    )
    return path


def weights(out: Path, name: str) -> np.ndarray:
    return load_checkpoint(out / "runs" / name / "checkpoint.pt")["weights"]


def test_sweep_file_is_parsed_and_validated(tmp_path):
    sweep = load_sweep(toy(tmp_path))
    names = [r.name for r in sweep.runs]
    assert names == [
        "qmoe-digits4-pca8-seed0", "qmoe-digits4-pca8-seed1",
        "hybrid-moons-linear-seed0", "hybrid-moons-linear-seed1",
    ]  # fmt: skip
    assert sweep.runs[0].settings["epochs"] == 1  # "{epochs}" -> the number 1
    bad = tmp_path / "bad.toml"
    bad.write_text('[[grid]]\nspec = "qmoe-digits4"\nlearning_rate = 0.1\n')
    with pytest.raises(JobFileError, match="'learning_rate' is not a run setting"):
        load_sweep(bad)
    bad.write_text('[[grid]]\nspec = "qmoe-digits4"\nlr = -1.0\n')
    with pytest.raises(Exception, match="lr = -1.0 is invalid"):
        load_sweep(bad)


def test_run_names_tell_fields_of_the_same_name_apart(tmp_path):
    path = tmp_path / "names.toml"
    path.write_text(
        '[[grid]]\nspec = "qmoe-digits4"\n"routing.reupload" = [false, true]\n'
        '"experts.reupload" = [true, false]\n"encoder.entangle" = ["all", "none"]\n'
        '"readout.head" = "scale"\n'
    )
    names = [r.name for r in load_sweep(path).runs]
    assert names[0] == "qmoe-digits4-routing.reuploadFalse-experts.reuploadTrue-entangleall"
    assert len(set(names)) == 8


def test_sequential_sweep_keeps_finished_runs_and_reports(tmp_path, capsys):
    sweep = load_sweep(toy(tmp_path), {"epochs": "2"})
    a = tmp_path / "sequential"
    first = run_sweep(sweep, a, executor="sequential", log=lambda _: None)
    assert [r["epochs"] for r in first] == [2, 2, 3, 3]
    again = run_sweep(sweep, a, executor="sequential", log=lambda _: None)
    assert all(r.get("kept") for r in again)
    name = first[1]["name"]
    reference = weights(a, name)
    (a / "runs" / name / "metrics.json").unlink()  # that run is unfinished again
    (a / "runs" / name / "checkpoint.pt").unlink()
    rerun = run_sweep(sweep, a, executor="sequential", log=lambda _: None)
    assert [bool(r.get("kept")) for r in rerun] == [True, False, True, True]
    np.testing.assert_array_equal(weights(a, name), reference)
    results = json.loads((a / "results.json").read_text())
    assert [r["name"] for r in results["runs"]] == [r.name for r in sweep.runs]
    capsys.readouterr()
    assert main(["report", str(a), "-o", str(tmp_path / "report")]) == 0
    report = (tmp_path / "report" / "report.md").read_text()
    assert "qmoe-digits4-pca8" in report and "± " in report
    assert (tmp_path / "report" / "accuracy.png").stat().st_size > 5000


def test_two_sweeps_share_a_directory_and_their_common_runs(tmp_path):
    first, second = toy(tmp_path), second_sweep(tmp_path, "[1, 2]")
    out = tmp_path / "shared"
    run_sweep(load_sweep(first, {"epochs": "1"}), out, log=lambda _: None)
    again = run_sweep(load_sweep(second), out, log=lambda _: None)
    assert [bool(r.get("kept")) for r in again] == [True, False]  # seed 1 was trained once
    results = json.loads((out / "results.json").read_text())
    names = [r["name"] for r in results["runs"]]
    assert len(names) == len(set(names)) == 5
    assert names[-2:] == ["hybrid-moons-linear-seed1", "hybrid-moons-linear-seed2"]
    assert results["sweeps"] == [str(first), str(second)]
    assert results["descriptions"] == {str(first): "toy sweep", str(second): "second"}
    write_sweep_report(out, tmp_path / "report")
    title = (tmp_path / "report" / "report.md").read_text().splitlines()[0]
    assert title == "# toy sweep; second"


def test_a_sweep_killed_before_a_shared_run_keeps_that_runs_row(tmp_path, monkeypatch):
    """The second sweep names the shared run last and is killed before it gets there: the row
    the first sweep recorded stays in results.json (it was dropped until the second sweep
    reached the run, so a snapshot taken meanwhile lost it)."""
    from qmoe_qiskit.experiments import sweep as sweep_module

    first, second = toy(tmp_path), second_sweep(tmp_path, "[2, 1]")
    out = tmp_path / "shared"
    run_sweep(load_sweep(first, {"epochs": "1"}), out, log=lambda _: None)
    before = {r["name"]: r for r in json.loads((out / "results.json").read_text())["runs"]}
    real = sweep_module.run_one

    def killed_at_the_shared_run(run, out_dir, threads=1):
        if run.name == "hybrid-moons-linear-seed1":
            raise KeyboardInterrupt
        return real(run, out_dir, threads)

    monkeypatch.setattr(sweep_module, "run_one", killed_at_the_shared_run)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(load_sweep(second), out, log=lambda _: None)
    rows = {r["name"]: r for r in json.loads((out / "results.json").read_text())["runs"]}
    assert set(rows) == set(before) | {"hybrid-moons-linear-seed2"}
    assert rows["hybrid-moons-linear-seed1"] == before["hybrid-moons-linear-seed1"]


def test_ray_gives_the_same_runs_as_sequential(tmp_path):
    pytest.importorskip("ray", reason="Ray is an optional extra: pip install -e '.[test,ray]'")
    sweep = load_sweep(toy(tmp_path))
    a, b = tmp_path / "sequential", tmp_path / "ray"
    first = run_sweep(sweep, a, executor="sequential", log=lambda _: None)
    second = run_sweep(sweep, b, executor="ray", workers=2, log=lambda _: None)
    for x, y in zip(first, second, strict=True):
        assert x["name"] == y["name"] and x["test_accuracy"] == y["test_accuracy"]
        np.testing.assert_array_equal(weights(a, x["name"]), weights(b, x["name"]))


def test_a_killed_ray_worker_resumes_its_run(tmp_path):
    pytest.importorskip("ray", reason="Ray is an optional extra: pip install -e '.[test,ray]'")
    psutil = pytest.importorskip("psutil")
    path = tmp_path / "long.toml"
    path.write_text(
        '[defaults]\nengine = "torch"\ndevice = "cpu"\n\n[[grid]]\nspec = "qmoe-digits4-pca8"\n'
        'data = "digits"\nseed = 0\ntrain_limit = 400\ntest_limit = 8\nbatch_size = 8\n'
        "epochs = 5\n"
    )
    sweep = load_sweep(path)
    (run,) = sweep.runs
    out = tmp_path / "ray"
    qmoe = str(Path(sys.executable).with_name("qmoe"))
    process = subprocess.Popen(
        [qmoe, "sweep", str(path), "--out", str(out), "--workers", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    checkpoint = out / "runs" / run.name / "checkpoint.pt"
    deadline = time.monotonic() + 240
    killed = False
    while time.monotonic() < deadline and process.poll() is None and not killed:
        epoch = 0
        if checkpoint.is_file():
            try:
                epoch = load_checkpoint(checkpoint)["epoch"]
            except Exception:
                epoch = 0
        if epoch >= 2:  # kill this sweep's worker only, not other sweeps' on the machine
            for proc in psutil.Process(process.pid).children(recursive=True):
                if proc.name() == "ray::run_one":
                    os.kill(proc.pid, signal.SIGKILL)
                    killed = True
        time.sleep(0.05)
    assert killed, "the Ray worker finished before it could be killed"
    assert process.wait(timeout=300) == 0, process.stderr.read()
    reference = tmp_path / "reference"
    run_one(run, str(reference))  # uninterrupted, in this process
    np.testing.assert_array_equal(weights(out, run.name), weights(reference, run.name))
    history = load_checkpoint(checkpoint)["history"]
    assert [h["epoch"] for h in history] == [1, 2, 3, 4, 5]


def test_grid_can_change_spec_fields(tmp_path):
    path = tmp_path / "ablation.toml"
    path.write_text(
        '[[grid]]\nspec = "qmoe-digits4-pca8"\ndata = "digits"\nseed = 0\n'
        '"encoder.entangle" = ["all", "within"]\n"routing.reupload" = [false, true]\n'
    )
    sweep = load_sweep(path)
    assert [r.name for r in sweep.runs] == [
        "qmoe-digits4-pca8-entangleall-reuploadFalse",
        "qmoe-digits4-pca8-entangleall-reuploadTrue",
        "qmoe-digits4-pca8-entanglewithin-reuploadFalse",
        "qmoe-digits4-pca8-entanglewithin-reuploadTrue",
    ]
    spec = sweep.runs[3].model_spec()
    assert spec.encoder.entangle_mode == "within" and spec.routing.reupload is True
    path.write_text('[[grid]]\nspec = "qmoe-digits4-pca8"\n"encoder.entangle" = "sideways"\n')
    with pytest.raises(JobFileError, match="encoder.entangle = 'sideways' is invalid"):
        load_sweep(path)


def test_each_run_uses_the_threads_it_is_given_and_restores_the_callers(tmp_path, monkeypatch):
    import qmoe_qiskit.experiments.sweep as sweep_module

    seen = []

    def fake_train(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return {"test_accuracy": 0.5, "epochs": []}

    monkeypatch.setattr(sweep_module, "train", fake_train)
    monkeypatch.setattr(sweep_module, "_summary", lambda run, metrics, seconds: metrics)
    run = load_sweep(toy(tmp_path)).runs[0]
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        run_one(run, str(tmp_path / "a"), threads=1)
        assert seen == [1] and torch.get_num_threads() == 2
        run_one(run, str(tmp_path / "b"), threads=2)
        assert seen == [1, 2]
    finally:
        torch.set_num_threads(before)


def test_equal_budget_grids_train_each_designs_own_baseline(tmp_path):
    path = tmp_path / "fair.toml"
    path.write_text(
        """
[defaults]
engine = "torch"
device = "cpu"
test_limit = 8
train_limit = 24
epochs = 1

[[grid]]
spec = "qmoe-digits4-pca8"
"routing.reupload" = "trainable"
class_routing = 0.5
equal_budget = [false, true]
"""
    )
    sweep = load_sweep(path)
    qmoe, fair = sweep.runs
    assert fair.name == f"fair-baseline-of-{qmoe.name}" and fair.equal_budget
    assert "class_routing" not in fair.settings and qmoe.settings["class_routing"] == 0.5
    a, b = compile_model(qmoe.model_spec()), compile_model(fair.model_spec())
    assert fair.model_spec().kind == "baseline" and a.num_weights == b.num_weights
    summary = run_one(fair, str(tmp_path / "out"))
    assert summary["num_weights"] == a.num_weights and summary["routing"] is None
    assert summary["equal_budget"] and summary["model"] == fair.model_spec().name
    from qmoe_qiskit.experiments.sweep_report import group_results

    twin = {**summary, "equal_budget": False, "model": "qmoe-digits4-pca8"}
    assert len(group_results([summary, twin])) == 2  # never merged with the QMoE it matches
    path.write_text(path.read_text().replace("[false, true]", '"yes"'))
    with pytest.raises(JobFileError, match="equal_budget must be true or false"):
        load_sweep(path)


def test_a_recorded_results_json_resumes_a_sweep_without_its_run_directories(tmp_path):
    """A results.json committed by an earlier session keeps its finished runs (same spec,
    settings and changes); a changed setting trains again."""
    path = toy(tmp_path)
    out = tmp_path / "out"
    first = run_sweep(load_sweep(path), out, log=lambda _: None)
    shutil.rmtree(out / "runs")  # a new machine: only the committed results.json is left
    again = run_sweep(load_sweep(path), out, log=lambda _: None)
    assert all(row.get("kept") for row in again)
    assert [r["test_accuracy"] for r in again] == [r["test_accuracy"] for r in first]
    assert not any((out / "runs").iterdir())  # nothing was trained
    changed = run_sweep(load_sweep(path, {"epochs": "2"}), out, log=lambda _: None)
    assert sum(1 for row in changed if row.get("kept")) == 2  # the hybrid runs (epochs = 3)
    assert {p.name for p in (out / "runs").iterdir()} == {
        r.name for r in load_sweep(path).runs if r.spec == "qmoe-digits4-pca8"
    }


def test_labels_and_names_cannot_leave_the_runs_directory(tmp_path):
    path = tmp_path / "escape.toml"
    path.write_text(
        '[defaults]\nengine = "torch"\n[[grid]]\nspec = "qmoe-digits4-pca8"\n'
        'label = "x/../../../../escaped"\n'
    )
    (run,) = load_sweep(path).runs
    assert "/" not in run.name and not run.name.startswith(".")
    runs = (tmp_path / "out" / "runs").resolve()
    assert (runs / run.name).resolve().parent == runs


@pytest.mark.parametrize("damage", [b"", b'{"runs": [{"nam', b'{"runs": 3}', b"\xff\xfe"])
def test_a_damaged_results_json_is_refused_before_anything_trains(tmp_path, capsys, damage):
    """A damaged results.json used to be read as empty: every run trained again and the
    record of other sweeps in the directory was written over. Now: one line, exit 2."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "results.json").write_bytes(damage)
    assert main(["sweep", str(toy(tmp_path)), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "results.json" in err and "damaged" in err, err
    assert (out / "results.json").read_bytes() == damage  # untouched
    assert not (out / "runs").exists() or not any((out / "runs").iterdir())


@pytest.mark.parametrize("damage", [b"", b'{"runs": [{"nam', b'{"runs": 3}', b"[1]", b"\xff\xfe"])
def test_a_results_json_damaged_during_a_sweep_is_refused_at_the_next_save(tmp_path, damage):
    """write_results reads results.json once: a damaged one is still refused in one line and
    left as it is, not written over."""
    sweep = load_sweep(toy(tmp_path))
    out = tmp_path / "out"
    out.mkdir()
    (out / "results.json").write_bytes(damage)
    row = {"name": sweep.runs[0].name, "test_accuracy": 0.5}
    with pytest.raises(DamagedFileError) as error:
        write_results(out, sweep, {row["name"]: row})
    message = str(error.value)
    assert len(message.splitlines()) == 1 and "results.json" in message and "damaged" in message
    assert (out / "results.json").read_bytes() == damage


def test_saves_derive_each_runs_spec_digest_once(tmp_path, monkeypatch):
    """Every save compares the rows of runs not reached yet with their run: each run's spec is
    loaded once over the whole sweep, not once per save (saves were quadratic in the runs)."""
    from qmoe_qiskit.experiments import sweep as sweep_module
    from qmoe_qiskit.experiments.sweep_results import spec_digest

    sweep = load_sweep(toy(tmp_path))
    out = tmp_path / "out"
    out.mkdir()
    rows = {
        run.name: {
            "name": run.name,
            "test_accuracy": 0.5 + index / 100,
            "spec_sha256": spec_digest(run.model_spec()),
            "settings": json.loads(json.dumps(dict(run.settings))),
            "changes": json.loads(json.dumps(dict(run.changes))),
        }
        for index, run in enumerate(sweep.runs)
    }
    (out / "results.json").write_text(json.dumps({"runs": list(rows.values())}))
    loads = []
    real = sweep_module.SweepRun.model_spec

    def counted(run):
        loads.append(run.name)
        return real(run)

    monkeypatch.setattr(sweep_module.SweepRun, "model_spec", counted)
    finished: dict = {}
    for run in sweep.runs:  # one save per finished run, as run_sweep does
        finished[run.name] = {**rows[run.name], "test_accuracy": 0.9}
        write_results(out, sweep, finished)
        saved = {r["name"]: r for r in json.loads((out / "results.json").read_text())["runs"]}
        assert set(saved) == set(rows)  # pending rows kept at every save
        assert {n: r["test_accuracy"] for n, r in saved.items() if n not in finished} == {
            n: r["test_accuracy"] for n, r in rows.items() if n not in finished
        }
    assert len(sweep.runs) == 4
    assert sorted(loads) == sorted(run.name for run in sweep.runs[1:])  # the first never pending
