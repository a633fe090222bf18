"""Bad input ends in one line on stderr and exit status 2, never a traceback or a silent error."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from qmoe_qiskit import QmoeError, build_network, compile_model
from qmoe_qiskit.cli import main
from qmoe_qiskit.errors import EngineError, TrainingError
from qmoe_qiskit.training import RunConfig, train
from qmoe_qiskit.training.checkpoints import load_checkpoint

TINY = ["--data", "digits", "--train-limit", "16", "--test-limit", "4", "--engine", "torch"]


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err and len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("--lr", "-1", "--lr: expected a number > 0"),
        ("--epochs", "0", "--epochs: expected a number >= 1"),
        ("--batch-size", "x", "--batch-size: expected a number"),
        ("--train-limit", "-3", "--train-limit: expected a number >= 0"),
        ("--memory-gb", "0", "--memory-gb: expected a number > 0"),
        ("--threads", "0", "--threads: expected a number >= 1"),
    ],
)
def test_bad_train_option_creates_nothing(tmp_path, capsys, option, value, expected):
    out = tmp_path / "run"
    assert main(["train", "qmoe-digits4", "--out", str(out), *TINY, option, value]) == 2
    assert expected in one_line_error(capsys)
    assert not out.exists()


def test_bad_settings_from_python_create_nothing(tmp_path):
    config = RunConfig.from_spec(compile_model("qmoe-digits4").spec, lr=-1.0)
    with pytest.raises(TrainingError, match="lr = -1.0 is invalid: expected a positive number"):
        train("qmoe-digits4", tmp_path / "run", config, progress=False, log=lambda _: None)
    assert not (tmp_path / "run").exists()


def test_unavailable_device_is_one_line(tmp_path, capsys):
    if torch.cuda.device_count() > 3:
        pytest.skip("this machine has a cuda:3")
    out = tmp_path / "run"
    argv = ["train", "qmoe-digits4", "--out", str(out), *TINY, "--device", "cuda:3"]
    assert main(argv) == 2
    assert "cuda:3" in one_line_error(capsys)
    assert not out.exists()


@pytest.mark.parametrize("engine", ["torch", "aer"])
def test_wrong_input_width_names_the_expected_width(engine):
    model = compile_model("qmoe-digits4-pca8")
    network = build_network(model, engine=engine)
    with pytest.raises(EngineError, match=r"shape \(batch, 8\) \(8 features\), got shape \(3, 5\)"):
        network(torch.zeros(3, 5, dtype=torch.float64))
    hybrid = build_network(compile_model("hybrid-moons-linear"), engine=engine)
    with pytest.raises(EngineError, match=r"\(batch, 2\)"):
        hybrid(torch.zeros(4, 3, dtype=torch.float64))


@pytest.fixture
def finished_run(tmp_path):
    out = tmp_path / "run"
    argv = ["train", "qmoe-digits4-pca8", "--out", str(out), *TINY, "--epochs", "1", "--quiet"]
    assert main(argv) == 0
    return out


@pytest.mark.parametrize(
    ("option", "value", "named"),
    [
        ("--lr", "0.5", "lr"),
        ("--batch-size", "4", "batch-size"),
        ("--data", "moons", "data"),
        ("--seed", "7", "seed"),
    ],
)
def test_resume_refuses_changed_settings(finished_run, capsys, option, value, named):
    capsys.readouterr()
    argv = ["train", "qmoe-digits4-pca8", "--out", str(finished_run), "--resume", option, value]
    assert main([*argv, "--quiet"]) == 2
    err = one_line_error(capsys)
    assert f"trained with {named} " in err and "may change on resume" in err
    assert "--memory-gb may change" in err and "memory_gb" not in err  # the flag's spelling


def test_resume_may_extend_epochs_and_refuses_another_spec(finished_run, capsys):
    argv = ["train", "qmoe-digits4-pca8", "--out", str(finished_run), "--resume", "--quiet"]
    assert main([*argv, "--epochs", "2", "--memory-gb", "0.5"]) == 0
    assert json.loads((finished_run / "run.json").read_text())["memory_gb"] == 0.5
    assert len(json.loads((finished_run / "metrics.json").read_text())["epochs"]) == 2
    capsys.readouterr()
    argv[1] = "qmoe-digits4"
    assert main(argv) == 2
    assert "was trained with spec 'qmoe-digits4-pca8'" in one_line_error(capsys)


def test_interrupted_train_says_how_to_resume(tmp_path, capsys, monkeypatch):
    import qmoe_qiskit.training as training

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(training, "train", interrupted)
    out = tmp_path / "run"
    assert main(["train", "qmoe-digits4", "--out", str(out)]) == 130
    err = one_line_error(capsys)
    assert f"resume with: qmoe train qmoe-digits4 --out {out} --resume" in err


def test_run_stopped_before_its_first_checkpoint(tmp_path, capsys):
    """A directory with settings but no checkpoint: --resume starts it from scratch."""
    reference = tmp_path / "reference"
    argv = ["train", "qmoe-digits4-pca8", *TINY, "--epochs", "2", "--quiet"]
    assert main([*argv, "--out", str(reference)]) == 0
    out = tmp_path / "killed"
    assert main([*argv, "--out", str(out)]) == 0
    for name in ("checkpoint.pt", "metrics.json", "training_curve.png"):
        (out / name).unlink()  # what a kill -9 during epoch 1 leaves behind
    capsys.readouterr()
    assert main([*argv, "--out", str(out)]) == 2
    assert "is not empty: choose a new --out or pass --resume" in one_line_error(capsys)
    assert main([*argv, "--out", str(out), "--resume"]) == 0
    a = load_checkpoint(out / "checkpoint.pt")["weights"]
    b = load_checkpoint(reference / "checkpoint.pt")["weights"]
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--shots", "0"], "--shots: expected a number >= 1, got 0"),
        (["--limit", "-3"], "--limit: expected a number >= 1, got -3"),
        (["--precision", "0"], "--precision: expected a number > 0"),
        (["--chunk", "0"], "--chunk: expected a number >= 1"),
    ],
)
def test_bad_submit_options(finished_run, tmp_path, capsys, argv, expected):
    ledger = tmp_path / "jobs.sqlite"
    capsys.readouterr()
    base = ["submit", str(finished_run), "--backend", "fake_nairobi", "--ledger", str(ledger)]
    assert main([*base, *argv]) == 2
    assert expected in one_line_error(capsys)
    assert not ledger.exists()


def test_export_into_missing_directory(capsys, tmp_path):
    target = tmp_path / "missing" / "c.qasm"
    assert main(["export", "qmoe-digits4", "--format", "qasm3", "-o", str(target)]) == 2
    assert "does not exist" in one_line_error(capsys)
    assert not target.parent.exists()


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["compile", "qmoe-digit4"], "did you mean qmoe-digits4"),
        (["evaluate", "/nonexistent/run"], "not a training run"),
        (["transpile", "qmoe-digits4", "--backend", "fake_nowhere"], "no fake backend"),
        (["transpile", "qmoe-digits4", "--backend", "fake_nairobi", "--profile", "x"], "x"),
        (["train", "qmoe-digits4"], "the following arguments are required: -o/--out/--output"),
        (["presets", "hybrid-moon-quantum"], "did you mean hybrid-moons-quantum"),
    ],
)
def test_other_mistakes_are_one_line(capsys, argv, expected):
    assert main(argv) == 2
    assert expected in one_line_error(capsys)


def test_errors_derive_from_one_base():
    with pytest.raises(QmoeError):
        compile_model("no-such-preset")


def test_abbreviations_are_refused_and_every_output_flag_is_spelled_alike(tmp_path, capsys):
    """``--outp`` is no longer taken for ``--output`` (it overwrote an unrelated file), and
    ``-o``, ``--out`` and ``--output`` mean the same on every command that writes."""
    from qmoe_qiskit.cli import build_parser

    victim = tmp_path / "notes.txt"
    victim.write_text("mine")
    assert main(["compile", "qmoe-digits4", "--dra", str(victim)]) == 2
    assert "unrecognized arguments: --dra" in capsys.readouterr().err
    assert victim.read_text() == "mine"
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    writers = 0
    for name, command in sub.choices.items():
        parsers = [command] + [
            p for a in command._actions if a.dest == "action" or a.choices
            for p in (a.choices.values() if isinstance(a.choices, dict) else [])
        ]  # fmt: skip
        for p in parsers:
            assert not p.allow_abbrev, name
            for action in p._actions:
                flags = set(action.option_strings)
                if flags & {"-o", "--out", "--output"}:
                    writers += 1
                    assert flags == {"-o", "--out", "--output"}, (name, flags)
    assert writers >= 15


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "qmoe-digits4-pca8", "--engine", "torch", "--epochs", "1"],
        ["sweep", "jobs/defaults-minimal.toml", "--sequential"],
        ["run", "jobs/digits4.toml"],
    ],
    ids=["train", "sweep", "run"],
)
def test_an_output_directory_that_is_a_file_is_one_line(tmp_path, capsys, argv):
    from tests.conftest import REPO

    target = tmp_path / "taken"
    target.write_text("a file the user keeps")
    argv = [str(REPO / a) if a.startswith("jobs/") else a for a in argv]
    assert main([*argv, "--out", str(target)]) == 2
    assert "is a file, not a directory" in one_line_error(capsys)
    assert target.read_text() == "a file the user keeps"


def test_a_damaged_job_state_is_one_line(tmp_path, capsys):
    from tests.conftest import REPO

    out = tmp_path / "job"
    out.mkdir()
    (out / "job-state.json").write_text('{"done": ["step-1"')  # killed mid-write by an old version
    argv = ["run", str(REPO / "jobs" / "digits4.toml"), "--out", str(out), "--resume"]
    assert main(argv) == 2
    assert "job-state.json cannot be read" in one_line_error(capsys)


def test_a_submit_to_an_unknown_backend_creates_no_ledger(finished_run, tmp_path, capsys):
    ledger = tmp_path / "state" / "jobs.sqlite"
    capsys.readouterr()
    argv = ["submit", str(finished_run), "--backend", "fake_nowhere", "--ledger", str(ledger)]
    assert main(argv) == 2
    assert "no fake backend" in one_line_error(capsys)
    assert not ledger.exists() and not ledger.parent.exists()


def test_a_batch_size_above_the_training_split_is_said(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "qmoe-digits4-pca8", "--out", str(out), *TINY, "--epochs", "1"]
    assert main([*argv, "--batch-size", "1000000", "--quiet"]) == 0
    said = capsys.readouterr().out
    assert "batch size 1000000 is more than the" in said and "full-batch" in said
