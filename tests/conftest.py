"""Shared fixtures and independent reference implementations for the tests."""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from qiskit import QuantumCircuit

from qmoe_qiskit import load_spec

REPO = Path(__file__).resolve().parents[1]


def load_module(path: Path, name: str) -> ModuleType:
    """A script outside the package (an example, a benchmark) imported as module ``name``."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SHARED_DATA = REPO.parent / "shared" / "data"


def make_spec(**changes):
    """The digits preset with dotted-path changes, e.g. ``make_spec(**{"experts.count": 2})``."""
    spec = load_spec("qmoe-digits4")
    sections: dict[str, dict] = {}
    top: dict = {}
    for key, value in changes.items():
        if "." in key:
            section, field = key.split(".")
            sections.setdefault(section, {})[field] = value
        else:
            top[key] = value
    for section, values in sections.items():
        top[section] = dataclasses.replace(getattr(spec, section), **values)
    if "classes" in top and "data" not in sections:
        top["data"] = dataclasses.replace(spec.data, classes=tuple(range(top["classes"])))
    return dataclasses.replace(spec, **top)


def train_tiny_run(out: Path, *, test_limit: int) -> Path:
    """A 2-expert, 1-layer digits model trained for one epoch on 16 images, written to ``out``."""
    from qmoe_qiskit.training import RunConfig, train

    spec = make_spec(**{"experts.count": 2, "experts.layers": 1})
    config = RunConfig.from_spec(
        spec, epochs=1, train_limit=16, test_limit=test_limit, batch_size=16
    )
    train(spec, out, config, progress=False, log=lambda _: None)
    return out


def reference_expert(num_qubits, weights, operators, layers, entangler) -> QuantumCircuit:
    """Expert k written out gate by gate, independently of qmoe_qiskit.circuits."""
    qc = QuantumCircuit(num_qubits)
    i = 0
    for _ in range(layers):
        for q in range(num_qubits):
            for op in operators:
                {"rx": qc.rx, "ry": qc.ry, "rz": qc.rz}[op](float(weights[i]), q)
                i += 1
        for q in range(num_qubits - 1):
            qc.cx(q, q + 1)
        if entangler == "cnot-ring" and num_qubits >= 3:
            qc.cx(num_qubits - 1, 0)
    return qc


def expert_weights(model, weights, k) -> np.ndarray:
    """Expert k's weights, selected by parameter *name* (``expert{k}[i]``)."""
    by_name = {p.name: w for p, w in zip(model.weight_params, weights, strict=True)}
    count = sum(1 for p in model.weight_params if p.name.startswith(f"expert{k}["))
    return np.array([by_name[f"expert{k}[{i}]"] for i in range(count)])


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def shared_data() -> Path:
    if not (SHARED_DATA / "mnist" / "t10k-labels-idx1-ubyte.gz").is_file():
        pytest.skip(f"real MNIST files not found at {SHARED_DATA} (synthetic IDX tests still run)")
    return SHARED_DATA
