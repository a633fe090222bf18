"""Helpers shared by the benchmark scripts (not part of the package)."""

from __future__ import annotations

import dataclasses
import json
import os
import platform
from pathlib import Path

from qmoe_qiskit import load_spec
from qmoe_qiskit.cli.common import add_threads_option, available_cores, set_threads


def add_threads(parser) -> None:
    """``--threads N`` as the CLI has it (more threads than free cores was measured 10-25x
    slower, so every benchmark sets the count explicitly)."""
    add_threads_option(parser, f"the cores available, here {available_cores()}")


def apply_threads(args) -> int:
    """Set torch's thread count from ``args.threads``, and keep freed memory for reuse as the
    command line does (``QMOE_RETAIN_FREED_MEMORY=1`` unless set; inherited by the processes a
    benchmark starts); returns the thread count."""
    os.environ.setdefault("QMOE_RETAIN_FREED_MEMORY", "1")
    return set_threads(args.threads)


def qmoe_spec(qubits: int, classes: int = 4, count: int = 4, operators: str = "rx+ry"):
    """The benchmark QMoE: 2 routing qubits + (qubits - 2) data qubits, 4 experts, 64 inputs."""
    base = load_spec("qmoe-digits4")
    return dataclasses.replace(
        base,
        name=f"qmoe-{qubits}q",
        experts=dataclasses.replace(
            base.experts, count=count, data_qubits=qubits - 2, operators=operators
        ),
    )


def machine() -> dict:
    """What the numbers were measured on."""
    import qiskit
    import qiskit_aer
    import qiskit_machine_learning
    import torch

    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "qiskit": qiskit.__version__,
        "qiskit_aer": qiskit_aer.__version__,
        "qiskit_machine_learning": qiskit_machine_learning.__version__,
        "torch": torch.__version__,
    }


def write_json(path: str | Path, data: dict) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
