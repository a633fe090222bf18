"""Property-based: every kind of file the command line reads, truncated or with a byte changed,
gives exit 0 or one line and exit 2, never a traceback (issue 26: "a test per file kind")."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qmoe_qiskit.cli import main
from qmoe_qiskit.hardware.ledger import Ledger

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--data", "digits", "--train-limit", "16", "--test-limit", "4", "--engine", "torch"]

#: file kind -> (file inside the pristine tree, command line with {tree} for the tree's copy)
KINDS = {
    "run.json": ("run/run.json", ["evaluate", "{tree}/run", "--quiet"]),
    "spec.toml (run)": ("run/spec.toml", ["evaluate", "{tree}/run", "--quiet"]),
    "checkpoint.pt": ("run/checkpoint.pt", ["evaluate", "{tree}/run", "--quiet"]),
    "metrics.json": ("run/metrics.json", ["routing", "{tree}/run", "--json"]),
    "sweep results.json": ("sweep/results.json", ["report", "{tree}/sweep", "-o", "{tree}/r"]),
    "job file": ("job.toml", ["run", "{tree}/job.toml", "-o", "{tree}/out", "--dry-run"]),
    "ledger": ("jobs.sqlite", ["jobs", "list", "--ledger", "{tree}/jobs.sqlite"]),
}

MUTATION = st.one_of(
    st.tuples(st.just("cut"), st.floats(min_value=0.0, max_value=1.0), st.just(0)),
    st.tuples(st.just("byte"), st.floats(min_value=0.0, max_value=1.0), st.integers(0, 255)),
)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    """One tree holding a file of every kind, each as the project writes it."""
    tree = tmp_path_factory.mktemp("pristine")
    argv = ["train", "qmoe-digits4-pca8", "--out", str(tree / "run"), *TINY, "--epochs", "1"]
    assert main([*argv, "--quiet"]) == 0
    (tree / "sweep").mkdir()
    shutil.copy(ROOT / "benchmarks/results/defaults-minimal/results.json", tree / "sweep")
    shutil.copy(ROOT / "jobs/digits4.toml", tree / "job.toml")
    ledger = Ledger(tree / "jobs.sqlite")
    row = ledger.begin(mode="local", backend="fake_x", primitive="estimator", labels=[0, 1])
    ledger.update(row.id, status="done", result={"accuracy": 0.5, "predictions": [0, 0]})
    for name in ("jobs.sqlite-wal", "jobs.sqlite-shm"):
        (tree / name).unlink(missing_ok=True)
    return tree


@settings(
    max_examples=70,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(kind=st.sampled_from(sorted(KINDS)), mutation=MUTATION)
def test_damaged_files_of_every_kind_fail_in_one_line(
    pristine, tmp_path_factory, capsys, kind, mutation
):
    tree = tmp_path_factory.mktemp("damaged")
    shutil.copytree(pristine, tree, dirs_exist_ok=True)
    relative, argv = KINDS[kind]
    path = tree / relative
    data = bytearray(path.read_bytes())
    how, where, value = mutation
    if how == "cut":
        data = data[: int(where * len(data))]
    elif data:
        data[min(int(where * len(data)), len(data) - 1)] = value
    path.write_bytes(bytes(data))
    capsys.readouterr()
    code = main([arg.replace("{tree}", str(tree)) for arg in argv])
    err = capsys.readouterr().err.strip()
    assert code in (0, 2), (kind, mutation, code, err)
    if code == 2:
        assert len(err.splitlines()) == 1 and "Traceback" not in err, (kind, mutation, err)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_kind_emptied_is_refused_in_one_line(pristine, tmp_path, capsys, kind):
    """The same files, empty: each is refused (exit 2, one line), none read as valid."""
    shutil.copytree(pristine, tmp_path, dirs_exist_ok=True)
    relative, argv = KINDS[kind]
    (tmp_path / relative).write_bytes(b"")
    capsys.readouterr()
    code = main([arg.replace("{tree}", str(tmp_path)) for arg in argv])
    err = capsys.readouterr().err.strip()
    if kind in ("ledger", "metrics.json"):  # an empty ledger is a new one; metrics are optional
        assert code in (0, 2), err
    else:
        assert code == 2, (kind, err)
    if code == 2:
        assert len(err.splitlines()) == 1 and "Traceback" not in err, (kind, err)
