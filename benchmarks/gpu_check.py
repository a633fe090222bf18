"""GPU check: the torch engine and Aer on a CUDA GPU against the CPU, on the same circuit.

Normally started by ``benchmarks/gpu.sh`` (which installs what is missing first). In order,
within a total time budget (``--budget`` seconds):

1. **Environment**: torch and its CUDA device, qiskit / qiskit-aer(-gpu) versions, and
   ``AerSimulator().available_devices()``.
2. **Correctness** on the benchmark model of ``benchmarks/engines.py`` (``model_for``) at the
   smallest ``--qubits``, ``CHECK_BATCH`` inputs, the same weights: outputs and the gradient of
   the ``weight`` parameter (cross-entropy on ``5 * outputs``) of every engine and device,
   compared pairwise (max abs difference against a tolerance): the torch engine (complex128,
   complex64) on CUDA vs the CPU, Aer GPU vs Aer CPU (``circuit_network_factory("aer", ...)``,
   i.e. :func:`qmoe_qiskit.engines.aer.build_torch_network`), Aer GPU vs torch on CUDA; and on
   the CPU complex64 vs complex128 and Aer vs torch.
3. **Step times**: one training step (forward, cross-entropy on ``5 * outputs``, backward, Adam
   step; ``benchmarks/peers/timing.py``'s ``time_steps``, CUDA synchronised after every Adam
   step) of ``torch-c128``, ``torch-c64`` and ``aer-batched`` on the CPU and the GPU at each
   ``--qubits``, batch ``--batch``; then GPU / CPU ratios. The cases run in one worker process
   (a fresh one after a kill or a crash). A case whose estimate (the previous size's step time,
   x2 per qubit; for the first size the check's forward and backward pass scaled to the batch)
   exceeds the budget left is skipped with the reason; one that fails (out of memory, say) is
   recorded with its one-line error and the larger sizes of that engine and device are
   skipped; a case still running when the budget runs out is killed (with its process) and
   recorded as such.
4. **Main job** (the README's ``qmoe run jobs/digits4.toml``): the job's steps with
   ``--device gpu`` added to ``train`` and ``evaluate`` (the job file has no device variable;
   ``--device auto``, the default, would take the GPU too when Aer lists one), then the same on
   the CPU if the budget allows; held-out test accuracy and wall time. The run directories are
   temporary. ``MAIN_JOB_SHARE`` of the budget is kept for it while the step times run.

``--cpu-only`` runs 1, the CPU half of 2 and 3: all that a machine without a GPU can check.
Writes ``OUT/gpu.json`` (after every record, so a run killed from outside keeps what it had)
and prints a table. Exit status 1 if a comparison exceeded its tolerance, else 0.

Usage::

    bash benchmarks/gpu.sh --wheels .whl --out "$OUT"          # installs, then runs this
    python benchmarks/gpu_check.py --out /tmp/gpu --qubits 10 12 14 --budget 300
    python benchmarks/gpu_check.py --out /tmp/cpu --cpu-only --qubits 6 8 --budget 120
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_threads, apply_threads, write_json  # noqa: E402
from engines import LOGIT_SCALE, inputs_for, model_for  # noqa: E402  (the benchmark model)
from peers.timing import WARMUP, time_steps  # noqa: E402

REPO = Path(__file__).resolve().parents[1]

#: Engines timed, with the names ``benchmarks/engines.py`` gives them.
ENGINES = ("torch-c128", "torch-c64", "aer-batched")
#: Devices in the project's vocabulary (``--device`` of ``qmoe train``).
DEVICES = ("cpu", "gpu")
#: Inputs of the correctness check (as ``benchmarks/engines.py`` checks outputs on 4 samples).
CHECK_BATCH = 4
#: Assumed growth of a step's time per added qubit, for the budget estimates.
GROWTH_PER_QUBIT = 2.0
#: Share of the budget kept for the main job while the step times run (not with --cpu-only).
MAIN_JOB_SHARE = 0.4
#: Smallest size: 2 routing qubits + 4 data qubits (4 classes are read from 4 data qubits).
MIN_QUBITS = 6
#: Max abs difference allowed between two configurations: complex64 on either side, or not.
TOL_C64 = 1e-4
TOL_C128 = 1e-9
#: The job file of the README's main job.
MAIN_JOB = REPO / "jobs" / "digits4.toml"
#: Prefix of the lines a worker process reports on (anything else on its stdout is ignored).
MARK = "@gpu_check "
#: Runs the ``qmoe`` command line with this interpreter (the project need not be installed).
QMOE = "import sys; from qmoe_qiskit.cli import main; sys.exit(main())"


def config_name(engine: str, device: str) -> str:
    """``engine/device``, e.g. ``torch-c64/gpu``."""
    return f"{engine}/{device}"


def one_line(exc: BaseException) -> str:
    """An exception as one line: its type and the first line of its message."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


# ---------------------------------------------------------------------------------------------
# 1. Environment


def distribution_version(name: str) -> str | None:
    """The installed version of distribution ``name``, or None."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def environment() -> dict[str, Any]:
    """Versions, the CUDA device torch sees and the devices Aer lists (errors recorded)."""
    env: dict[str, Any] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "executable": sys.executable,
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "cuda_available": torch.cuda.is_available(),
        "gpu": None,
    }
    if env["cuda_available"]:
        props = torch.cuda.get_device_properties(0)
        env["gpu"] = props.name
        env["gpu_memory_gib"] = round(props.total_memory / 2**30, 1)
        env["gpu_count"] = torch.cuda.device_count()
    for dist in ("qiskit", "qiskit-aer", "qiskit-aer-gpu", "qiskit-machine-learning", "numpy"):
        env[dist.replace("-", "_")] = distribution_version(dist)
    warnings = []
    if env["qiskit_aer"] and env["qiskit_aer_gpu"]:
        warnings.append(
            "qiskit-aer and qiskit-aer-gpu are both installed (one import name, qiskit_aer): "
            "pip uninstall -y qiskit-aer qiskit-aer-gpu, then install one"
        )
    try:
        from qiskit_aer import AerSimulator

        env["aer_devices"] = list(AerSimulator().available_devices())
    except Exception as exc:  # a broken qiskit-aer-gpu install is a finding
        env["aer_devices"] = None
        env["aer_error"] = one_line(exc)
    env["warnings"] = warnings
    return env


# ---------------------------------------------------------------------------------------------
# Worker side: runs in a fresh process, reports records as MARK-prefixed JSON lines


def report(record: dict[str, Any]) -> None:
    print(MARK + json.dumps(record), flush=True)


def build_network(engine: str, device: str, model, weights: np.ndarray) -> nn.Module:
    """The engine's module for ``model`` on ``device`` (``"cpu"`` or ``"gpu"``).

    Raises:
        DeviceError: If the device is not available to the engine.
        ValueError: For an unknown engine.
    """
    if engine == "aer-batched":
        from qmoe_qiskit.engines.network import circuit_network_factory

        # The project's Aer path: build_torch_network with the float64 weights kept exactly.
        return circuit_network_factory("aer", device)(model, weights)
    dtypes = {"torch-c128": torch.complex128, "torch-c64": torch.complex64}
    if engine not in dtypes:
        raise ValueError(f"unknown engine {engine!r}")
    from qmoe_qiskit.engines.devices import resolve_torch_device
    from qmoe_qiskit.engines.statevector import TorchStatevectorNetwork

    return TorchStatevectorNetwork(
        model, weights, device=resolve_torch_device(device), dtype=dtypes[engine]
    )


def torch_device(engine: str, device: str) -> torch.device:
    """Where the inputs of ``engine`` go: CUDA for the torch engine on the GPU, else the CPU."""
    return torch.device("cuda" if engine.startswith("torch") and device == "gpu" else "cpu")


def free_gpu() -> None:
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def outputs_and_gradient(
    engine: str, device: str, model, weights: np.ndarray, x: torch.Tensor, y: torch.Tensor
) -> tuple[np.ndarray, np.ndarray, float]:
    """Outputs and the weight gradient of ``cross_entropy(5 * outputs, y)``, in float64.

    Aer is read through the ``EstimatorQNN`` that :func:`build_network`'s ``TorchConnector``
    wraps (:func:`qmoe_qiskit.engines.aer.build_qnn`, same estimator and batched gradient):
    the connector returns float32, which alone differs from float64 by ~1e-8.

    Returns:
        ``(outputs, weight gradient, seconds of the forward and backward pass)``, the pass
        timed without building the module.
    """
    if engine == "aer-batched":
        from qmoe_qiskit.engines.aer import build_qnn

        qnn = build_qnn(model, device=device)
        start = time.perf_counter()
        out = qnn.forward(x.numpy(), weights)
        _, jacobian = qnn.backward(x.numpy(), weights)  # (batch, classes, weights)
        logits = torch.tensor(out, dtype=torch.float64, requires_grad=True)
        nn.functional.cross_entropy(LOGIT_SCALE * logits, y).backward()
        assert logits.grad is not None and jacobian is not None
        grad = np.einsum("bc,bcw->w", logits.grad.numpy(), jacobian)
        return np.asarray(out), grad, time.perf_counter() - start
    net = build_network(engine, device, model, weights)
    where = torch_device(engine, device)
    start = time.perf_counter()
    result = net(x.to(where)).to(torch.float64)
    nn.functional.cross_entropy(LOGIT_SCALE * result, y.to(where)).backward()
    weight = net.weight
    assert isinstance(weight, torch.Tensor) and weight.grad is not None
    outputs = result.detach().cpu().numpy()  # waits for the GPU
    seconds = time.perf_counter() - start
    return outputs, weight.grad.detach().cpu().to(torch.float64).numpy(), seconds


def check_config(
    task: dict[str, Any], engine: str, device: str, model, weights, x, y
) -> dict[str, Any]:
    """A ``check`` record's results: outputs and weight gradient (:func:`outputs_and_gradient`)
    and the seconds they took, with and without building the module."""
    start = time.perf_counter()
    out, grad, seconds = outputs_and_gradient(engine, device, model, weights, x, y)
    return {
        "outputs": out.tolist(),
        "weight_grad": grad.tolist(),
        "seconds": time.perf_counter() - start,
        "pass_seconds": seconds,
    }


def time_config(
    task: dict[str, Any], engine: str, device: str, model, weights, x, y
) -> dict[str, Any]:
    """A ``step`` record's results: one training step timed (see the module docstring) with
    ``task["repeats"]`` and ``task["measure"]``, and the peak GPU memory on CUDA."""
    from torch.optim.optimizer import register_optimizer_step_post_hook

    hook, net = None, None
    try:
        where = torch_device(engine, device)
        net = build_network(engine, device, model, weights)
        if where.type == "cuda":  # a step is timed to its end, not to its last launch
            hook = register_optimizer_step_post_hook(lambda *_: torch.cuda.synchronize())
            torch.cuda.reset_peak_memory_stats()
        wall, cpu, count = time_steps(
            net, x.to(where), y.to(where), task["repeats"], task["measure"], LOGIT_SCALE
        )
        results: dict[str, Any] = {"seconds": wall, "cpu_seconds": cpu, "repeats": count}
        if where.type == "cuda":
            results["peak_gpu_mib"] = torch.cuda.max_memory_allocated() / 2**20
        return results
    finally:
        net = None  # its states and optimizer go before the next case is built
        if hook is not None:
            hook.remove()


def worker_run(task: dict[str, Any], kind: str, measure: Callable[..., dict[str, Any]]) -> None:
    """Measure every configuration of ``task`` on the same model, inputs and weights and report
    one record each; a failure (out of memory, no GPU) is recorded and the others go on.

    Args:
        task: ``num_qubits``, ``batch``, ``configs`` (``"engine/device"`` names) and what
            ``measure`` reads.
        kind: The records' kind: ``"check"`` records name their ``config``; ``"step"`` records
            give the engine, device, qubits and batch, and after the results the seconds the
            whole case took and torch's threads.
        measure: ``(task, engine, device, model, weights, inputs, labels) -> results``
            (:func:`check_config` or :func:`time_config`).
    """
    model = model_for(task["num_qubits"])
    x, y = inputs_for(model, task["batch"])
    weights = model.initial_weights(0)
    for name in task["configs"]:
        engine, device = name.split("/")
        record: dict[str, Any] = {"kind": kind}
        if kind == "step":
            record.update(engine=engine, device=device, num_qubits=task["num_qubits"])
            record["batch"] = task["batch"]
        else:
            record["config"] = name
        start = time.perf_counter()
        try:
            record.update(measure(task, engine, device, model, weights, x, y))
        except Exception as exc:  # recorded; the other configurations go on
            record["error"] = one_line(exc)
        if kind == "step":
            record["case_seconds"] = time.perf_counter() - start
            record["torch_threads"] = torch.get_num_threads()
        free_gpu()
        report(record)


# ---------------------------------------------------------------------------------------------
# Driver side


class Budget:
    """Seconds left of the run's budget, with a share kept back for a later part."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self.clock = clock
        self.start = clock()

    def spent(self) -> float:
        return self.clock() - self.start

    def left(self, keep: float = 0.0) -> float:
        return self.seconds - keep - self.spent()


class Worker:
    """A worker process (this script with ``--worker``) that runs the tasks sent to it.

    Tasks go as JSON lines on its stdin; it reports records as ``MARK``-prefixed JSON lines and
    ``{"kind": "done"}`` after each task. It is started when a task needs it, and killed (with
    its children) when a task runs past its time; the next task starts a fresh one.
    """

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self.proc: subprocess.Popen[str] | None = None
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stderr: Any = None
        #: Seconds the last start took (imports), to plan with before a start.
        self.startup = 0.0

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def run(
        self, task: dict[str, Any], timeout: float, on_record: Callable[[dict], None]
    ) -> tuple[str | None, bool]:
        """Run ``task``, passing each record to ``on_record``, for at most ``timeout`` seconds.

        Returns:
            ``(error, killed)``: the worker's last stderr line if it died, and whether it was
            killed for running past ``timeout``.
        """
        deadline = time.monotonic() + max(timeout, 0.0)
        if not self.alive():
            self.start()
            started = time.monotonic()
            outcome = self.wait(deadline, on_record)
            self.startup = time.monotonic() - started
            if outcome != "ready":
                return self.fail(outcome)
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(task) + "\n")
        self.proc.stdin.flush()
        outcome = self.wait(deadline, on_record)
        return (None, False) if outcome == "done" else self.fail(outcome)

    def start(self) -> None:
        self.stderr = tempfile.TemporaryFile("w+")
        command = [sys.executable, __file__, "--worker", "--threads", str(self.threads)]
        self.proc = subprocess.Popen(
            command, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr,
            text=True, start_new_session=True,
        )  # fmt: skip
        self.lines = lines = queue.Queue[str | None]()

        def read(stream) -> None:
            for line in stream:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=read, args=(self.proc.stdout,), daemon=True).start()

    def wait(self, deadline: float, on_record: Callable[[dict], None]) -> str:
        """Pass on records until ``ready`` or ``done`` (returned), the end of the output
        (``"ended"``) or the deadline (``"timeout"``)."""
        while True:
            try:
                line = self.lines.get(timeout=max(deadline - time.monotonic(), 0.0))
            except queue.Empty:
                return "timeout"
            if line is None:
                return "ended"
            if not line.startswith(MARK):
                continue
            record = json.loads(line[len(MARK) :])
            if record.get("kind") in ("ready", "done"):
                return record["kind"]
            on_record(record)

    def fail(self, outcome: str) -> tuple[str | None, bool]:
        """Kill the worker after ``outcome`` (``"timeout"`` or ``"ended"``); ``(error, killed)``."""
        assert self.proc is not None
        killed = outcome == "timeout"
        if killed:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:  # it ended just now
                pass
        self.proc.wait()
        error = None
        if not killed:
            self.stderr.seek(0)
            tail = [t for t in self.stderr.read().strip().splitlines() if t.strip()]
            error = tail[-1] if tail else f"exit status {self.proc.returncode}"
        self.close()
        return error, killed

    def close(self) -> None:
        """End the worker (its stdin closed: it returns) and forget it."""
        if self.proc is not None:
            if self.proc.poll() is None:
                assert self.proc.stdin is not None
                self.proc.stdin.close()
                try:
                    self.proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                    self.proc.wait()
            self.proc = None
        if self.stderr is not None:
            self.stderr.close()
            self.stderr = None


def serve() -> None:
    """The worker's loop: one task per stdin line (see :class:`Worker`)."""
    tasks = {"check": ("check", check_config), "steps": ("step", time_config)}  # record kinds
    report({"kind": "ready"})
    for line in sys.stdin:
        task = json.loads(line)
        worker_run(task, *tasks[task["task"]])
        report({"kind": "done"})


def unfinished(
    configs: list[str], done: dict[str, Any], error: str | None, killed: bool
) -> dict[str, dict[str, str]]:
    """Why each configuration of a task has no record: the first one was running when the
    worker was killed (``killed``) or died (``error``); the others did not start."""
    missing = [name for name in configs if name not in done]
    if not missing:
        return {}
    if killed:
        first = {"killed": "the budget ran out while it ran"}
        rest = f"the budget ran out while {missing[0]} ran"
    else:
        first = {"error": f"the worker process died: {error}"}
        rest = f"the worker process died in {missing[0]}"
    return {missing[0]: first} | {name: {"skipped": rest} for name in missing[1:]}


def planned_steps(step: float, measure: float, repeats: int) -> int:
    """How many steps ``time_steps(..., repeats, measure)`` runs when each takes ``step`` s."""
    if step > measure:
        return 1  # the first step is over the measuring time: kept alone
    spent, count = 0.0, 0
    for i in range(repeats + WARMUP):
        spent += step
        count += 1
        if i >= WARMUP and spent > measure:
            break
    return count


def estimate_case(
    step: float, from_qubits: int, to_qubits: int, measure: float, repeats: int
) -> tuple[float, float]:
    """``(step seconds, case seconds)`` at ``to_qubits`` from a step of ``step`` s at
    ``from_qubits`` (x ``GROWTH_PER_QUBIT`` per qubit)."""
    grown = step * GROWTH_PER_QUBIT ** max(to_qubits - from_qubits, 0)
    return grown, grown * planned_steps(grown, measure, repeats)


def plan_size(
    num_qubits: int,
    configs: list[str],
    basis: dict[str, dict[str, Any]],
    blocked: dict[str, str],
    left: float,
    measure: float,
    repeats: int,
) -> tuple[list[str], dict[str, str]]:
    """Which configurations to time at ``num_qubits`` within ``left`` seconds.

    Args:
        num_qubits: The size.
        configs: Configurations, in the order they would run.
        basis: Per configuration, what its estimate starts from: ``{"step": seconds,
            "num_qubits": size, "source": text}`` (absent: no estimate, it runs).
        blocked: Configurations not to run at all, with the reason.
        left: Seconds of budget left.
        measure: Measuring seconds of a case (``time_steps``' budget).
        repeats: Timed steps wanted per case.

    Returns:
        ``(configurations to run, {configuration: reason} of those skipped)``; the estimates
        of the cases kept add up to at most ``left``.
    """
    run, skipped = [], {}
    total = 0.0
    for name in configs:
        if name in blocked:
            skipped[name] = blocked[name]
            continue
        if left <= 0:
            skipped[name] = "no budget left"
            continue
        base = basis.get(name)
        if base is None:
            run.append(name)
            continue
        step, case = estimate_case(base["step"], base["num_qubits"], num_qubits, measure, repeats)
        if total + case > left:
            skipped[name] = (
                f"estimated {case:.1f} s ({step:.3g} s/step from {base['source']}, "
                f"x{GROWTH_PER_QUBIT:g} per qubit) > {max(left - total, 0.0):.1f} s of budget left"
            )
            continue
        total += case
        run.append(name)
    return run, skipped


def not_run(record: dict[str, Any]) -> str:
    """Why a record has no result."""
    for key in ("error", "killed", "skipped"):
        if key in record:
            return f"{key}: {record[key]}" if key != "error" else record[key]
    return "did not run"


def max_abs_diff(a: list, b: list) -> float:
    return float(np.max(np.abs(np.asarray(a, dtype=float) - np.asarray(b, dtype=float))))


def check_pairs(cpu_only: bool) -> list[tuple[str, str]]:
    """The comparisons: ``(configuration, reference)``."""
    pairs = [
        ("torch-c64/cpu", "torch-c128/cpu"),
        ("aer-batched/cpu", "torch-c128/cpu"),
    ]
    if not cpu_only:
        pairs += [
            ("torch-c128/gpu", "torch-c128/cpu"),
            ("torch-c64/gpu", "torch-c64/cpu"),
            ("aer-batched/gpu", "aer-batched/cpu"),
            ("aer-batched/gpu", "torch-c128/gpu"),
        ]
    return pairs


def compare(pairs: list[tuple[str, str]], runs: dict[str, dict], num_qubits: int) -> list[dict]:
    """Max abs differences of outputs and weight gradients of each pair, against tolerance."""
    checks = []
    for name, reference in pairs:
        tol = TOL_C64 if "c64" in name + reference else TOL_C128
        record: dict[str, Any] = {
            "config": name,
            "reference": reference,
            "num_qubits": num_qubits,
            "batch": CHECK_BATCH,
            "tolerance": tol,
        }
        missing = [n for n in (name, reference) if "outputs" not in runs.get(n, {})]
        if missing:
            why = [f"{n}: {not_run(runs.get(n, {}))}" for n in missing]
            record["error"] = "; ".join(why)
        else:
            a, b = runs[name], runs[reference]
            record["max_abs_diff_outputs"] = max_abs_diff(a["outputs"], b["outputs"])
            record["max_abs_diff_weight_grad"] = max_abs_diff(a["weight_grad"], b["weight_grad"])
            record["ok"] = (
                max(record["max_abs_diff_outputs"], record["max_abs_diff_weight_grad"]) <= tol
            )
        checks.append(record)
    return checks


def add_ratios(steps: list[dict]) -> list[dict]:
    """GPU / CPU step-time ratio per engine and size, where both were timed."""
    timed = {(r["engine"], r["device"], r["num_qubits"]): r for r in steps if "seconds" in r}
    ratios = []
    for (engine, device, n), gpu in timed.items():
        cpu = timed.get((engine, "cpu", n))
        if device == "gpu" and cpu is not None:
            ratios.append(
                {
                    "engine": engine,
                    "num_qubits": n,
                    "gpu_seconds": gpu["seconds"],
                    "cpu_seconds": cpu["seconds"],
                    "gpu_over_cpu": gpu["seconds"] / cpu["seconds"],
                }
            )
    return ratios


def main_job_commands(run_dir: Path, device: str, threads: int) -> list[list[str]]:
    """The main job's ``qmoe`` commands (``jobs/digits4.toml``) on ``device``."""
    from qmoe_qiskit.jobfile import load_job

    job = load_job(MAIN_JOB)
    commands = []
    for step in job.steps:
        argv = step.argv(job.variables | {"out": str(run_dir)})
        if step.command in ("train", "evaluate"):
            argv += ["--device", device]
        if step.command == "train":
            argv += ["--threads", str(threads)]
        commands.append(argv)
    return commands


def run_main_job(device: str, threads: int, timeout: float) -> dict[str, Any]:
    """Run the main job's steps on ``device`` in a temporary directory, within ``timeout``."""
    record: dict[str, Any] = {"device": device}
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="qmoe-main-job-") as tmp:
        commands = main_job_commands(Path(tmp), device, threads)
        record["commands"] = [" ".join(["qmoe", *c]).replace(tmp, "TMP") for c in commands]
        for argv in commands:
            left = timeout - (time.monotonic() - start)
            step_start = time.monotonic()
            try:
                done = subprocess.run(
                    [sys.executable, "-c", QMOE, *argv], cwd=tmp, capture_output=True,
                    text=True, timeout=max(left, 0.001),
                )  # fmt: skip
            except subprocess.TimeoutExpired:
                record["killed"] = (
                    f"budget ran out after {time.monotonic() - start:.0f} s, in qmoe {argv[0]}"
                )
                return record
            record[f"{argv[0]}_seconds"] = time.monotonic() - step_start
            if done.returncode != 0:
                tail = [t for t in done.stderr.strip().splitlines() if t.strip()]
                record["error"] = tail[-1] if tail else f"exit status {done.returncode}"
                return record
            if argv[0] == "evaluate":
                record["test_accuracy"] = json.loads(done.stdout.strip().splitlines()[-1])[
                    "test_accuracy"
                ]
            if argv[0] == "train":
                out = Path(argv[argv.index("--out") + 1])
                metrics = json.loads((out / "metrics.json").read_text())
                record["epoch_seconds"] = [e.get("seconds") for e in metrics.get("epochs", [])]
    record["wall_seconds"] = time.monotonic() - start
    return record


class Run:
    """One check run: its records, written to ``OUT/gpu.json`` after every change."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.path = args.out / "gpu.json"
        self.budget = Budget(args.budget)
        self.devices = ("cpu",) if args.cpu_only else DEVICES
        self.configs = [config_name(e, d) for e in args.engines for d in self.devices]
        self.worker = Worker(args.threads)
        self.data: dict[str, Any] = {
            "benchmark": "gpu-check",
            "command": [Path(sys.argv[0]).name, *sys.argv[1:]],
            "timed": "one training step: forward, cross-entropy(5 * outputs), backward, Adam "
            "step (CUDA synchronised after it); median wall seconds after two untimed warm-up "
            "steps (one step only when it is longer than the measuring time); all cases in one "
            "worker process, a fresh one after a kill or a crash",
            "model": "benchmarks/engines.py model_for(N): 2 routing qubits (binary, 4 experts) + "
            "N-2 data qubits, rx+ry, 2 layers, 4 classes, 64 features",
            "settings": {
                "qubits": args.qubits,
                "batch": args.batch,
                "budget_seconds": args.budget,
                "cpu_only": args.cpu_only,
                "engines": list(args.engines),
                "repeats": args.repeats,
                "measure_seconds": args.measure,
                "threads": args.threads,
                "check_qubits": min(args.qubits),
                "check_batch": CHECK_BATCH,
                "growth_per_qubit": GROWTH_PER_QUBIT,
                "main_job": self.main_job_wanted(),
            },
            "environment": {},
            "check_runs": [],
            "checks": [],
            "steps": [],
            "ratios": [],
            "main_job": [],
        }

    def main_job_wanted(self) -> bool:
        return not (self.args.cpu_only or self.args.no_main_job)

    def save(self) -> None:
        self.data["budget"] = {
            "seconds": self.args.budget,
            "spent_seconds": round(self.budget.spent(), 1),
        }
        write_json(self.path, self.data)

    def log(self, text: str) -> None:
        print(f"[{self.budget.spent():6.1f} s] {text}", flush=True)

    def keep(self) -> float:
        """Seconds kept back for the main job while checks and step times run."""
        return MAIN_JOB_SHARE * self.args.budget if self.main_job_wanted() else 0.0

    def run(self) -> int:
        self.data["environment"] = env = environment()
        self.save()
        self.log(
            f"torch {env['torch']} (CUDA {env['torch_cuda']}, GPU: {env['gpu']}), "
            f"qiskit {env['qiskit']}, qiskit-aer {env['qiskit_aer']}, "
            f"qiskit-aer-gpu {env['qiskit_aer_gpu']}, Aer devices {env['aer_devices']}"
        )
        for warning in env["warnings"]:
            self.log(f"warning: {warning}")
        try:
            runs = self.correctness()
            self.step_times(runs)
        finally:
            self.worker.close()  # its GPU memory too, before the main job
        if self.main_job_wanted():
            self.main_job()
        else:
            reason = "--cpu-only" if self.args.cpu_only else "--no-main-job"
            self.data["main_job"].append({"device": "gpu", "skipped": reason})
        self.save()
        print_report(self.data)
        failed = [c for c in self.data["checks"] if c.get("ok") is False]
        return 1 if failed else 0

    def correctness(self) -> dict[str, dict]:
        n = min(self.args.qubits)
        pairs = check_pairs(self.args.cpu_only)
        configs = list(dict.fromkeys(name for pair in pairs for name in pair))
        runs: dict[str, dict] = {}
        left = self.budget.left(self.keep())
        if left <= 0:
            for name in configs:
                runs[name] = {"kind": "check", "config": name, "skipped": "no budget left"}
                self.data["check_runs"].append(runs[name])
        else:

            def got(record: dict) -> None:
                runs[record["config"]] = record
                summary = {k: v for k, v in record.items() if k not in ("outputs", "weight_grad")}
                self.data["check_runs"].append(summary)
                self.save()
                self.log(f"check {record['config']}: {record.get('error', 'ran')}")

            task = {"task": "check", "num_qubits": n, "batch": CHECK_BATCH, "configs": configs}
            error, killed = self.worker.run(task, left, got)
            for name, why in unfinished(configs, runs, error, killed).items():
                runs[name] = {"kind": "check", "config": name, **why}
                self.data["check_runs"].append(runs[name])
        self.data["checks"] = compare(pairs, runs, n)
        self.save()
        return runs

    def step_times(self, runs: dict[str, dict]) -> None:
        args = self.args
        first = min(args.qubits)
        basis: dict[str, dict[str, Any]] = {}
        blocked: dict[str, str] = {}
        for name in self.configs:  # first size: the check's pass scaled to the batch
            run = runs.get(name, {})
            if "pass_seconds" in run:
                basis[name] = {
                    "step": run["pass_seconds"] * args.batch / CHECK_BATCH,
                    "num_qubits": first,
                    "source": f"the check at {CHECK_BATCH} inputs x {args.batch / CHECK_BATCH:g}",
                }
            elif "error" in run:
                blocked[name] = f"failed in the correctness check: {run['error']}"
        for n in sorted(args.qubits):
            left = self.budget.left(self.keep())
            start = 0.0 if self.worker.alive() else self.worker.startup  # a start to plan for
            todo, skipped = plan_size(
                n, self.configs, basis, blocked, left - start, args.measure, args.repeats
            )
            records: dict[str, dict] = {}
            for name, reason in skipped.items():
                records[name] = self.step_record(name, n, skipped=reason)
                self.log(f"{name} at {n} qubits: skipped: {reason}")
            if todo:
                task = {
                    "task": "steps", "num_qubits": n, "batch": args.batch, "configs": todo,
                    "repeats": args.repeats, "measure": args.measure,
                }  # fmt: skip

                def got(record: dict, n: int = n, records: dict = records) -> None:
                    name = config_name(record["engine"], record["device"])
                    records[name] = record
                    self.log(f"{name} at {n} qubits: " + describe_step(record))

                error, killed = self.worker.run(task, left, got)
                for name, why in unfinished(todo, records, error, killed).items():
                    records[name] = self.step_record(name, n, **why)
                    self.log(f"{name} at {n} qubits: " + describe_step(records[name]))
                    if "skipped" not in why:
                        blocked[name] = f"{next(iter(why))} at {n} qubits"
            for name in self.configs:  # in the planned order
                record = records[name]
                self.data["steps"].append(record)
                if "seconds" in record:
                    basis[name] = {
                        "step": record["seconds"],
                        "num_qubits": n,
                        "source": f"{n} qubits",
                    }
                elif "error" in record and name not in blocked:
                    blocked[name] = f"failed at {n} qubits: {record['error']}"
            self.data["ratios"] = add_ratios(self.data["steps"])
            self.save()

    def step_record(self, name: str, n: int, **why: str) -> dict[str, Any]:
        engine, device = name.split("/")
        return {
            "kind": "step", "engine": engine, "device": device, "num_qubits": n,
            "batch": self.args.batch, **why,
        }  # fmt: skip

    def main_job(self) -> None:
        jobs = self.data["main_job"]
        gpu_wall = None
        for device in ("gpu", "cpu"):
            left = self.budget.left()
            if left <= 0:
                jobs.append({"device": device, "skipped": "no budget left"})
                continue
            if device == "cpu" and gpu_wall is not None and gpu_wall > left:
                jobs.append(
                    {
                        "device": device,
                        "skipped": f"estimated {gpu_wall:.0f} s (the GPU run's wall time) "
                        f"> {left:.0f} s of budget left",
                    }
                )
                continue
            self.log(f"main job on {device} ({left:.0f} s left)")
            record = run_main_job(device, self.args.threads, left)
            jobs.append(record)
            self.log(f"main job on {device}: " + describe_main_job(record))
            if device == "gpu" and "wall_seconds" in record:
                gpu_wall = record["wall_seconds"]
            self.save()


def describe_step(record: dict[str, Any]) -> str:
    """A step record in a few words: its time, or why there is none."""
    if "seconds" in record:
        return f"{record['seconds']:.4g} s/step ({record['repeats']} timed)"
    for key in ("skipped", "killed", "error"):
        if key in record:
            return f"{key}: {record[key]}"
    return "?"


def describe_main_job(record: dict[str, Any]) -> str:
    if "test_accuracy" in record:
        return (
            f"test accuracy {record['test_accuracy']:.4f}, {record['wall_seconds']:.0f} s "
            f"(train {record.get('train_seconds', 0):.0f} s)"
        )
    for key in ("skipped", "killed", "error"):
        if key in record:
            return f"{key}: {record[key]}"
    return "?"


def print_report(data: dict[str, Any]) -> None:
    """The environment, the comparisons, the step times and ratios, the main job: tables."""
    env = data["environment"]
    print("\n## Environment\n")
    for key in ("platform", "python", "torch", "torch_cuda", "cuda_available", "gpu"):
        print(f"- {key}: {env.get(key)}")
    for key in ("qiskit", "qiskit_aer", "qiskit_aer_gpu", "qiskit_machine_learning"):
        print(f"- {key}: {env.get(key)}")
    print(
        f"- aer_devices: {env.get('aer_devices')}"
        + (f" ({env['aer_error']})" if env.get("aer_error") else "")
    )
    print("\n## Same circuit, same weights: max abs difference\n")
    print("| configuration | reference | N | outputs | weight grad | tolerance | ok |")
    print("|---|---|---|---|---|---|---|")
    for c in data["checks"]:
        if "error" in c:
            print(f"| {c['config']} | {c['reference']} | {c['num_qubits']} | {c['error']} | | | |")
            continue
        print(
            f"| {c['config']} | {c['reference']} | {c['num_qubits']} "
            f"| {c['max_abs_diff_outputs']:.2e} | {c['max_abs_diff_weight_grad']:.2e} "
            f"| {c['tolerance']:.0e} | {'yes' if c['ok'] else 'NO'} |"
        )
    print(f"\n## Seconds per training step (batch {data['settings']['batch']})\n")
    print("| engine | N | CPU s | GPU s | GPU / CPU |")
    print("|---|---|---|---|---|")
    steps = {(r["engine"], r["device"], r["num_qubits"]): r for r in data["steps"]}
    notes: list[str] = []

    def cell(record: dict[str, Any] | None) -> str:
        if record is None:
            return "-"
        if "seconds" in record:
            return f"{record['seconds']:.4g}"
        for key in ("skipped", "killed", "error"):
            if key in record:
                notes.append(
                    f"{record['engine']}/{record['device']} at {record['num_qubits']}: "
                    f"{key}: {record[key]}"
                )
                return f"{key} [{len(notes)}]"
        return "?"

    ratios = {(r["engine"], r["num_qubits"]): r["gpu_over_cpu"] for r in data["ratios"]}
    for engine in data["settings"]["engines"]:
        for n in sorted(data["settings"]["qubits"]):
            ratio = ratios.get((engine, n))
            print(
                f"| {engine} | {n} | {cell(steps.get((engine, 'cpu', n)))} "
                f"| {cell(steps.get((engine, 'gpu', n)))} "
                f"| {'-' if ratio is None else f'{ratio:.3g}'} |"
            )
    for i, note in enumerate(notes, 1):
        print(f"[{i}] {note}")
    print("\n## Main job (jobs/digits4.toml)\n")
    for record in data["main_job"]:
        print(f"- {record['device']}: {describe_main_job(record)}")
    spent = data.get("budget", {}).get("spent_seconds")
    print(f"\n{spent} s of {data['settings']['budget_seconds']:g} s budget spent")


def qubit_count(text: str) -> int:
    value = int(text)
    if value < MIN_QUBITS:
        raise argparse.ArgumentTypeError(f"{value} qubits: the model needs at least {MIN_QUBITS}")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text}: must be > 0")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="folder for gpu.json (required)")
    parser.add_argument(
        "--qubits", type=qubit_count, nargs="+", default=[10, 12, 14, 16, 18, 20, 22]
    )
    parser.add_argument("--batch", type=int, default=32, help="inputs per training step")
    parser.add_argument("--budget", type=positive_float, default=480.0, help="total seconds")
    parser.add_argument("--cpu-only", action="store_true", help="only what needs no GPU")
    parser.add_argument("--no-main-job", action="store_true", help="skip the main job")
    parser.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES))
    parser.add_argument("--repeats", type=int, default=5, help="timed steps per case (at most)")
    parser.add_argument(
        "--measure",
        type=positive_float,
        default=10.0,
        help="measuring seconds per case: timing stops after this (a first step longer than "
        "it is timed alone)",
    )
    add_threads(parser)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)  # internal
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.threads = apply_threads(args)  # the workers get the same count
    if args.worker:
        serve()
        return 0
    if args.out is None:
        parser.error("--out is required")
    args.qubits = sorted(set(args.qubits))
    return Run(args).run()


if __name__ == "__main__":
    sys.exit(main())
