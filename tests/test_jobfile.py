"""Job files: every shipped job parses into valid ``qmoe`` command lines; ``qmoe run`` runs,
records and resumes them."""

from __future__ import annotations

import json

import pytest

from qmoe_qiskit.cli import build_parser, main
from qmoe_qiskit.jobfile import JobError, load_job
from tests.conftest import REPO

STEP_JOBS = sorted(p for p in (REPO / "jobs").glob("*.toml") if "[[step]]" in p.read_text())


def test_the_shipped_step_jobs_include_every_paper_study():
    names = {p.name for p in STEP_JOBS}
    assert {"qt-series.toml", "qt-classify.toml", "qt-rl.toml", "digits4.toml"} <= names


@pytest.mark.parametrize("path", STEP_JOBS, ids=lambda p: p.name)
def test_every_step_of_every_shipped_job_is_a_valid_command_line(path, tmp_path):
    job = load_job(path)
    variables = {**job.variables, "out": str(tmp_path)}
    parser = build_parser()
    for step in job.steps:
        argv = step.argv(variables)
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # argparse printed why
            pytest.fail(f"{path.name}: step {argv} does not parse (exit {exc.code})")
        assert args.command == step.command
        assert not any("{" in a for a in argv), argv


def _write_job(path, steps: str) -> None:
    path.write_text('description = "two presets"\n[vars]\nname = "qmoe-digits4"\n' + steps)


COMPILE_TWICE = """
[[step]]
command = "compile"
args = ["{name}", "--json"]

[[step]]
command = "presets"
args = []
"""


def test_run_executes_records_and_resumes(tmp_path, capsys):
    job = tmp_path / "job.toml"
    _write_job(job, COMPILE_TWICE)
    out = tmp_path / "out"
    assert main(["run", str(job), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "[1/2] qmoe compile qmoe-digits4 --json" in printed
    assert '"num_qubits": 6' in printed
    state = json.loads((out / "job-state.json").read_text())
    assert state["done"] == sorted(
        [json.dumps(["compile", "qmoe-digits4", "--json"]), json.dumps(["presets"])]
    )
    # A finished job is not rerun silently, and --resume skips what is done.
    assert main(["run", str(job), "--out", str(out)]) == 2
    assert "holds a started job: pass --resume" in capsys.readouterr().err
    assert main(["run", str(job), "--out", str(out), "--resume"]) == 0
    printed = capsys.readouterr().out
    assert printed.count("done already") == 2


def test_run_stops_at_a_failing_step_and_resume_goes_on_from_it(tmp_path, capsys):
    job = tmp_path / "job.toml"
    _write_job(job, COMPILE_TWICE.replace('"{name}"', '"no-such-preset"'))
    out = tmp_path / "out"
    assert main(["run", str(job), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "step 1 failed" in err and "--resume" in err
    assert not (out / "job-state.json").exists()  # nothing recorded as done
    # Fixed, the resumed job runs both steps.
    _write_job(job, COMPILE_TWICE)
    assert main(["run", str(job), "--out", str(out), "--resume"]) == 0
    assert len(json.loads((out / "job-state.json").read_text())["done"]) == 2


def test_dry_run_substitutes_vars_and_writes_nothing(tmp_path, capsys):
    job = tmp_path / "job.toml"
    _write_job(job, COMPILE_TWICE)
    out = tmp_path / "out"
    argv = ["run", str(job), "--out", str(out), "--dry-run", "--var", "name=hybrid-digits4"]
    assert main(argv) == 0
    assert capsys.readouterr().out.splitlines() == [
        "qmoe compile hybrid-digits4 --json",
        "qmoe presets",
    ]
    assert not out.exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("description = 'x'\n", "needs at least one [[step]] table"),
        ("[[step]]\nargs = ['a']\n", "step 1 needs command"),
        ("[[step]]\ncommand = 'compile'\nargs = [1]\n", "step 1 args must be a list of strings"),
        ("[[step\n", "not valid TOML"),
    ],
)
def test_bad_job_files_are_one_line_errors(tmp_path, capsys, text, message):
    job = tmp_path / "job.toml"
    job.write_text(text)
    with pytest.raises(JobError, match=message.replace("[", r"\[")):
        load_job(job)
    assert main(["run", str(job), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_a_placeholder_without_value_is_refused(tmp_path, capsys):
    job = tmp_path / "job.toml"
    job.write_text("[[step]]\ncommand = 'compile'\nargs = ['{spec}']\n")
    assert main(["run", str(job), "--out", str(tmp_path / "o")]) == 2
    assert "no value for placeholder {spec}" in capsys.readouterr().err
    assert main(["run", str(tmp_path / "missing.toml"), "--out", str(tmp_path / "o")]) == 2
    assert "job file not found" in capsys.readouterr().err


def test_job_outputs_stay_in_out_and_jobs_do_not_nest(tmp_path, capsys):
    from qmoe_qiskit.cli import main

    job = tmp_path / "job.toml"
    job.write_text(
        '[vars]\nname = "model"\n[[step]]\ncommand = "export"\n'
        'args = ["qmoe-digits4", "-o", "{out}/{name}.qasm"]\n'
    )
    out = tmp_path / "out"
    assert main(["run", str(job), "--out", str(out), "--var", "name=../../x", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "outside the job's --out" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.qasm").exists() and not out.exists()
    assert main(["run", str(job), "--out", str(out), "--dry-run"]) == 0  # inside: fine
    capsys.readouterr()
    job.write_text(f'[[step]]\ncommand = "run"\nargs = ["{job}", "--out", "{{out}}/again"]\n')
    assert main(["run", str(job), "--out", str(out)]) == 2
    assert "cannot nest jobs" in capsys.readouterr().err
    assert not (out / "again").exists()


def test_resume_continues_a_training_step_that_was_cut_short(tmp_path, capsys):
    """A Ctrl-C during a job's training step left a started run directory; --resume used to
    fail forever on it ('is not empty'); now it continues that run."""
    from qmoe_qiskit.cli import main

    job = tmp_path / "job.toml"
    step = ["qmoe-digits4-pca8", "--engine", "torch", "--train-limit", "64", "--test-limit",
            "8", "--epochs", "2", "--quiet", "--out", "{out}/run"]  # fmt: skip
    job.write_text(f'[[step]]\ncommand = "train"\nargs = {json.dumps(step)}\n')
    out = tmp_path / "out"
    cut_short = [a.replace("{out}", str(out)) for a in step]
    cut_short[cut_short.index("--epochs") + 1] = "1"  # the interrupted step: 1 epoch written
    assert main(["train", *cut_short]) == 0
    assert main(["run", str(job), "--out", str(out)]) == 2  # without --resume: refused
    assert main(["run", str(job), "--out", str(out), "--resume"]) == 0
    metrics = json.loads((out / "run" / "metrics.json").read_text())
    assert [row["epoch"] for row in metrics["epochs"]] == [1, 2]
    assert "--resume" in capsys.readouterr().out
