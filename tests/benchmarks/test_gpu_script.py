"""``benchmarks/gpu.sh`` and ``benchmarks/gpu_check.py``: all that a machine without a GPU checks.

The argument handling and the install commands (as a dry run) of the shell script, the CPU half
of the driver end to end, its budget planning and skips, and the main job's commands. The GPU
half runs only on a GPU machine (``bash benchmarks/gpu.sh --out DIR``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.conftest import REPO

SCRIPT = REPO / "benchmarks" / "gpu.sh"
DRIVER = REPO / "benchmarks" / "gpu_check.py"


def gpu_sh(*args: str, cwd: Path, timeout: float = 60, **env: str):
    """``bash benchmarks/gpu.sh ARGS`` with this interpreter as ``$PYTHON``."""
    environ = dict(os.environ, PYTHON=sys.executable, **env)
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def load_driver():
    """``benchmarks/gpu_check.py`` as a module (it puts ``benchmarks/`` on ``sys.path``)."""
    if "gpu_check" not in sys.modules:
        spec = importlib.util.spec_from_file_location("gpu_check", DRIVER)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["gpu_check"] = module
        spec.loader.exec_module(module)
    return sys.modules["gpu_check"]


def commands(stdout: str) -> list[str]:
    lines = stdout.strip().splitlines()
    assert lines and all(line.startswith("+ ") for line in lines), stdout
    return [line[2:] for line in lines]


# --- the shell script: dry runs and bad arguments ---------------------------------------------


def test_dry_run_prints_the_offline_wheel_install_and_the_driver(tmp_path):
    wheels = tmp_path / "whl"
    wheels.mkdir()
    names = ["qiskit-2.6.1-cp39-abi3-manylinux_2_17_x86_64.whl", "qiskit_aer_gpu-0.18.2-cp312.whl"]
    for name in names:
        (wheels / name).write_text("")
    cwd, site, out = tmp_path / "cwd", tmp_path / "site", tmp_path / "out"
    cwd.mkdir()
    done = gpu_sh(
        "--dry-run", "--wheels", str(wheels), "--out", str(out), "--qubits", "10 12",
        cwd=cwd, QMOE_GPU_SITE=str(site), PYTHONPATH="",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    install, export, mkdir, driver = commands(done.stdout)
    assert install == (
        f"{sys.executable} -m pip install -q --no-index --no-deps --no-compile --no-cache-dir "
        f"--upgrade --target {site} {wheels / names[0]} {wheels / names[1]}"
    )
    assert export == f"export PYTHONPATH={site}:{REPO} PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1"
    assert mkdir == f"mkdir -p {out}"
    assert driver == (
        f"{sys.executable} {DRIVER} --out {out} --qubits 10 12 --budget 480 "
        f"2>&1 | tee {out / 'gpu.log'}"
    )
    # Nothing was created: not the output, not the install target, nothing in the cwd.
    assert not out.exists() and not site.exists() and list(cwd.iterdir()) == []


def test_dry_run_prints_the_online_install_with_qiskit_aer_uninstalled_first(tmp_path):
    done = gpu_sh(
        "--dry-run", "--pip", "--cpu-only", "--threads", "3", "--budget", "60", "--out", "o",
        "--", "--engines", "torch-c64", cwd=tmp_path, QMOE_TORCH_INDEX="https://example.org/cu12",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = commands(done.stdout)
    pip = f"{sys.executable} -m pip"
    assert lines[:4] == [
        f"{pip} install --upgrade --index-url https://example.org/cu12 torch",
        f"{pip} install -e {REPO}",
        f"{pip} uninstall -y qiskit-aer",
        f"{pip} install qiskit-aer-gpu",
    ]
    assert lines[-1] == (
        f"{sys.executable} {DRIVER} --out o --qubits 10 12 14 16 18 20 22 --budget 60 "
        "--threads 3 --cpu-only --engines torch-c64 2>&1 | tee o/gpu.log"
    )
    assert list(tmp_path.iterdir()) == []


def test_dry_run_without_an_install_option_installs_nothing(tmp_path):
    done = gpu_sh("--dry-run", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = commands(done.stdout)
    assert not any("pip" in line for line in lines)
    assert "--out OUT --qubits 10 12 14 16 18 20 22 --budget 480 2>&1" in lines[-1]
    assert list(tmp_path.iterdir()) == []


def test_help_lists_every_option(tmp_path):
    done = gpu_sh("--help", cwd=tmp_path)
    assert done.returncode == 0
    for option in ("--wheels", "--pip", "--out", "--qubits", "--budget", "--cpu-only", "--dry-run"):
        assert option in done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bogus"], "unknown argument '--bogus'"),
        (["--qubits", "10"], "--out DIR is required"),
        (["--out"], "--out needs a value"),
        (["--out", "o", "--qubits", "10 4"], "4 qubits: the model needs at least 6"),
        (["--out", "o", "--qubits", "10 x"], "'x' is not a whole number"),
        (["--out", "o", "--budget", "0"], "'0' is not a positive number"),
        (["--out", "o", "--budget", "ten"], "'ten' is not a positive number"),
        (["--out", "o", "--threads", "0"], "'0' is not a positive whole number"),
        (["--out", "o", "--pip", "--wheels", "."], "--wheels and --pip exclude each other"),
        (["--out", "o", "--wheels", "no-such-dir"], "no folder 'no-such-dir'"),
        (["--out", "o", "--wheels", "whl"], "holds qiskit-aer and qiskit-aer-gpu"),
    ],
)
def test_a_bad_argument_is_one_line_on_stderr_and_exit_2(tmp_path, args, message):
    (tmp_path / "whl").mkdir()
    for name in ("qiskit_aer-0.18.2-cp312.whl", "qiskit_aer_gpu-0.18.2-cp312.whl"):
        (tmp_path / "whl" / name).write_text("")
    done = gpu_sh(*args, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    assert len(done.stderr.splitlines()) == 1
    assert done.stderr.startswith("gpu.sh: error: ") and message in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["whl"]  # no output folder made


# --- the driver: the CPU half, end to end ------------------------------------------------------


@pytest.fixture(scope="module")
def cpu_run(tmp_path_factory):
    """``gpu.sh --cpu-only --qubits "6 8" --budget 120`` (torch engines timed; Aer checked)."""
    out = tmp_path_factory.mktemp("gpu-check")
    done = gpu_sh(
        "--cpu-only", "--qubits", "6 8", "--budget", "120", "--threads", "1", "--out", str(out),
        "--", "--engines", "torch-c128", "torch-c64",
        cwd=out, timeout=300,
    )  # fmt: skip
    return done, out


def test_cpu_only_run_writes_gpu_json_and_the_log(cpu_run):
    done, out = cpu_run
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert sorted(p.name for p in out.iterdir()) == ["gpu.json", "gpu.log"]
    data = json.loads((out / "gpu.json").read_text())
    assert data["benchmark"] == "gpu-check"
    assert data["settings"]["threads"] == 1 and data["settings"]["engines"] == [
        "torch-c128",
        "torch-c64",
    ]
    assert data["settings"]["qubits"] == [6, 8] and data["settings"]["cpu_only"] is True
    assert data["settings"]["batch"] == 32 and data["settings"]["check_qubits"] == 6
    env = data["environment"]
    assert env["torch"] == torch.__version__
    assert env["cuda_available"] is torch.cuda.is_available()
    assert "CPU" in env["aer_devices"] and env["qiskit"] and env["qiskit_aer"]
    assert 0 < data["budget"]["spent_seconds"] < 120
    log = (out / "gpu.log").read_text()
    assert log == done.stdout  # the log is what was printed
    assert "Seconds per training step (batch 32)" in log and "| torch-c64 | 8 |" in log


def test_cpu_only_run_compares_the_engines_on_the_same_circuit(cpu_run):
    _, out = cpu_run
    data = json.loads((out / "gpu.json").read_text())
    checks = {(c["config"], c["reference"]): c for c in data["checks"]}
    assert set(checks) == {
        ("torch-c64/cpu", "torch-c128/cpu"),
        ("aer-batched/cpu", "torch-c128/cpu"),
    }
    c64 = checks["torch-c64/cpu", "torch-c128/cpu"]
    assert 1e-9 < c64["max_abs_diff_outputs"] < 1e-5  # float32 arithmetic, but the same circuit
    assert c64["max_abs_diff_weight_grad"] < 1e-5 and c64["ok"] is True
    aer = checks["aer-batched/cpu", "torch-c128/cpu"]
    assert aer["max_abs_diff_outputs"] < 1e-10 and aer["max_abs_diff_weight_grad"] < 1e-10
    assert aer["ok"] is True and aer["num_qubits"] == 6 and aer["batch"] == 4
    runs = {r["config"]: r for r in data["check_runs"]}
    assert set(runs) == {"torch-c64/cpu", "torch-c128/cpu", "aer-batched/cpu"}
    assert all(r["seconds"] >= r["pass_seconds"] > 0 for r in runs.values())


def test_cpu_only_run_times_every_engine_and_size_on_the_cpu(cpu_run):
    _, out = cpu_run
    data = json.loads((out / "gpu.json").read_text())
    steps = {(r["engine"], r["device"], r["num_qubits"]): r for r in data["steps"]}
    assert set(steps) == {(e, "cpu", n) for e in ("torch-c128", "torch-c64") for n in (6, 8)}
    for record in steps.values():
        assert record["seconds"] > 0 and record["cpu_seconds"] > 0, record
        assert 1 <= record["repeats"] <= 5 and record["batch"] == 32
        assert record["torch_threads"] == 1
    assert data["ratios"] == []  # no GPU side
    assert data["main_job"] == [{"device": "gpu", "skipped": "--cpu-only"}]


@pytest.mark.slow
def test_cpu_only_run_with_aer_timed_keeps_to_its_budget(tmp_path):
    """The command as documented, Aer included (an Aer step at batch 32 takes about a minute
    on 2 busy cores): every case is timed, or skipped, killed or failed with the reason, and the
    run ends within its budget."""
    start = time.monotonic()
    done = gpu_sh(
        "--cpu-only", "--qubits", "6 8", "--budget", "120", "--threads", "1", "--out",
        str(tmp_path), cwd=tmp_path, timeout=600,
    )  # fmt: skip
    wall = time.monotonic() - start
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    data = json.loads((tmp_path / "gpu.json").read_text())
    assert data["budget"]["spent_seconds"] <= 120 + 15  # a kill and the report after it
    assert wall < 120 + 60  # + the imports before the budget starts
    steps = {(r["engine"], r["num_qubits"]): r for r in data["steps"]}
    assert len(steps) == 6
    for record in steps.values():
        outcome = [k for k in ("seconds", "skipped", "killed", "error") if k in record]
        assert len(outcome) == 1 and record[outcome[0]], record
    assert all(steps[e, n]["seconds"] > 0 for e in ("torch-c128", "torch-c64") for n in (6, 8))
    aer = steps["aer-batched", 8]
    if "skipped" in aer:
        assert aer["skipped"].startswith("estimated ") and "of budget left" in aer["skipped"]
    checks = {c["config"]: c for c in data["checks"]}
    assert checks["aer-batched/cpu"]["max_abs_diff_outputs"] < 1e-10


# --- the driver: budget planning, skips, kills, the main job's commands ------------------------


def test_planned_steps_mirror_time_steps():
    gpu_check = load_driver()
    assert gpu_check.planned_steps(0.01, measure=10, repeats=5) == 7  # 2 warm-up + 5
    assert gpu_check.planned_steps(4.0, measure=10, repeats=5) == 3  # over after the first timed
    assert gpu_check.planned_steps(20.0, measure=10, repeats=5) == 1  # one step, kept alone


def test_a_case_over_the_budget_left_is_skipped_with_its_estimate():
    gpu_check = load_driver()
    basis = {
        "torch-c128/cpu": {"step": 0.01, "num_qubits": 6, "source": "6 qubits"},
        "aer-batched/cpu": {"step": 10.0, "num_qubits": 6, "source": "6 qubits"},
        "torch-c64/cpu": {"step": 2.0, "num_qubits": 6, "source": "6 qubits"},
    }
    blocked = {"aer-batched/gpu": "failed at 6 qubits: out of memory"}
    configs = ["torch-c128/cpu", "aer-batched/cpu", "aer-batched/gpu", "torch-c64/cpu", "new/cpu"]
    run, skipped = gpu_check.plan_size(8, configs, basis, blocked, 30.0, measure=10, repeats=5)
    # torch-c128: 0.04 s/step x 7 steps; torch-c64: 8 s/step x 3 = 24 s, within 30 - 0.28 s;
    # a configuration without an estimate runs; aer: 40 s/step, one step, over the 30 s left.
    assert run == ["torch-c128/cpu", "torch-c64/cpu", "new/cpu"]
    assert skipped == {
        "aer-batched/cpu": "estimated 40.0 s (40 s/step from 6 qubits, x2 per qubit) "
        "> 29.7 s of budget left",
        "aer-batched/gpu": "failed at 6 qubits: out of memory",
    }
    # A tiny budget: everything is skipped, with the reason.
    run, skipped = gpu_check.plan_size(8, configs, basis, {}, 0.5, measure=10, repeats=5)
    assert run == ["torch-c128/cpu", "aer-batched/gpu", "new/cpu"]  # the last two: no estimate
    assert (
        skipped["torch-c64/cpu"].startswith("estimated 24.0 s")
        and "0.2 s of budget" in (skipped["torch-c64/cpu"])
    )
    run, skipped = gpu_check.plan_size(8, configs, basis, {}, -1.0, measure=10, repeats=5)
    assert run == [] and set(skipped.values()) == {"no budget left"}


def test_a_tiny_budget_records_every_case_as_skipped_with_the_reason(tmp_path):
    gpu_check = load_driver()
    args = gpu_check.build_parser().parse_args(
        ["--out", str(tmp_path), "--cpu-only", "--qubits", "6", "8", "--budget", "0.001"]
    )
    args.threads = 1
    assert gpu_check.Run(args).run() == 0
    data = json.loads((tmp_path / "gpu.json").read_text())
    assert {r["config"]: r["skipped"] for r in data["check_runs"]} == {
        "torch-c64/cpu": "no budget left",
        "torch-c128/cpu": "no budget left",
        "aer-batched/cpu": "no budget left",
    }
    assert [c["error"] for c in data["checks"]] == [
        "torch-c64/cpu: skipped: no budget left; torch-c128/cpu: skipped: no budget left",
        "aer-batched/cpu: skipped: no budget left; torch-c128/cpu: skipped: no budget left",
    ]
    assert len(data["steps"]) == 6  # 3 engines x 2 sizes, none timed
    assert {r["skipped"] for r in data["steps"]} == {"no budget left"}
    assert not any("seconds" in r for r in data["steps"])


def test_unfinished_cases_of_a_killed_or_dead_worker():
    gpu_check = load_driver()
    configs = ["a/cpu", "b/cpu", "c/cpu"]
    assert gpu_check.unfinished(configs, {"a/cpu": {}}, None, killed=True) == {
        "b/cpu": {"killed": "the budget ran out while it ran"},
        "c/cpu": {"skipped": "the budget ran out while b/cpu ran"},
    }
    assert gpu_check.unfinished(configs, {}, "Segmentation fault", killed=False)["a/cpu"] == {
        "error": "the worker process died: Segmentation fault"
    }
    assert gpu_check.unfinished(configs, dict.fromkeys(configs), None, killed=False) == {}


def test_a_worker_past_its_time_is_killed():
    gpu_check = load_driver()
    worker = gpu_check.Worker(threads=1)
    error, killed = worker.run({"task": "steps"}, 0.2, lambda record: None)  # still importing
    assert (error, killed) == (None, True)
    assert not worker.alive() and worker.proc is None


def test_main_job_commands_are_the_job_files_on_the_device(tmp_path):
    gpu_check = load_driver()
    from qmoe_qiskit.jobfile import load_job

    job = load_job(REPO / "jobs" / "digits4.toml")
    got = gpu_check.main_job_commands(tmp_path, "gpu", threads=2)
    expected = [step.argv({"out": str(tmp_path)}) for step in job.steps]
    assert [c[0] for c in got] == ["compile", "train", "evaluate"]
    assert got[0] == expected[0]
    assert got[1] == expected[1] + ["--device", "gpu", "--threads", "2"]
    assert got[2] == expected[2] + ["--device", "gpu"]
    assert got[1][1] == "qmoe-digits4-pca8" and "digits" in got[1]
