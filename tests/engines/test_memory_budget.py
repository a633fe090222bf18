"""The torch engine's memory budget: sliced, recomputed passes give the unbounded gradients and
keep the peak near the budget."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from qmoe_qiskit.engines.network import circuit_network_factory
from qmoe_qiskit.engines.statevector import TorchStatevectorNetwork
from qmoe_qiskit.errors import EngineError
from qmoe_qiskit.models import compile_model
from tests.conftest import make_spec
from tests.engines.test_statevector import random_spec


def _step(network: TorchStatevectorNetwork, x: np.ndarray, labels: torch.Tensor):
    """Outputs, the weight gradient and the input gradient of a cross-entropy step."""
    inputs = torch.tensor(x, requires_grad=True)
    network.weight.grad = None
    out = network(inputs)
    torch.nn.functional.cross_entropy(5 * out, labels).backward()
    assert network.weight.grad is not None and inputs.grad is not None
    return out.detach().numpy(), network.weight.grad.numpy().copy(), inputs.grad.numpy()


@pytest.mark.parametrize("seed", [0, 2, 7])
def test_sliced_passes_give_the_unbounded_outputs_and_gradients(seed):
    model = compile_model(random_spec(seed, max_qubits=6))
    weights = model.initial_weights(seed)
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, np.pi, (7, model.num_inputs))
    labels = torch.as_tensor(rng.integers(0, model.num_classes, 7))
    whole = TorchStatevectorNetwork(model, weights)
    per_row = whole.stored_bytes_per_row()
    sliced = TorchStatevectorNetwork(model, weights, memory_gb=2.5 * per_row / 1e9)
    assert whole.rows_per_pass() is None and sliced.rows_per_pass() == 2  # 7 rows: 4 slices
    for a, b in zip(_step(whole, x, labels), _step(sliced, x, labels), strict=True):
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-12)
    with torch.no_grad():  # evaluation passes are sliced too (3 states a row)
        tight = TorchStatevectorNetwork(model, weights, memory_gb=per_row / 1e9)
        assert tight.rows_per_pass(training=False) == (len(tight.plan.steps) + 2) // 3
        np.testing.assert_allclose(
            tight(torch.tensor(x)).numpy(), whole(torch.tensor(x)).numpy(), rtol=0, atol=1e-12
        )


def test_a_row_that_alone_exceeds_the_budget_still_runs_one_at_a_time():
    model = compile_model(make_spec())
    network = TorchStatevectorNetwork(model, memory_gb=1e-9)
    assert network.rows_per_pass() == 1 and network.rows_per_pass(training=False) == 1
    x = torch.rand(3, model.num_inputs, dtype=torch.float64)
    network(x).sum().backward()
    assert network.weight.grad is not None and torch.isfinite(network.weight.grad).all()


@pytest.mark.parametrize("value", [0.0, -1.0, float("nan"), float("inf")])
def test_a_bad_budget_is_refused(value):
    with pytest.raises(EngineError, match="memory_gb must be a positive number of GB"):
        TorchStatevectorNetwork(compile_model(make_spec()), memory_gb=value)


def test_the_training_setting_reaches_the_torch_engine():
    model = compile_model(make_spec())
    network = circuit_network_factory("torch", "cpu", memory_gb=0.25)(
        model, model.initial_weights(0)
    )
    assert isinstance(network, TorchStatevectorNetwork) and network.memory_gb == 0.25


_PEAK = """
import sys
import torch
torch.set_num_threads(1)
from qmoe_qiskit.engines.statevector import TorchStatevectorNetwork
from qmoe_qiskit.models import compile_model
from tests.conftest import make_spec

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024

budget = None if sys.argv[1] == "none" else float(sys.argv[1])
model = compile_model(make_spec(**{"experts.data_qubits": 10}))
network = TorchStatevectorNetwork(model, retain_memory=False, memory_gb=budget)
x = torch.rand(64, model.num_inputs, dtype=torch.float64)
network(x[:17]).sum().backward()  # one-time costs (the first checkpointed pass imports modules)
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # resets the peak (VmHWM) to the current resident size
before = status("VmRSS")
network(x).sum().backward()
print(status("VmHWM") - before, network.stored_bytes_per_row())
"""


def test_the_budget_bounds_the_measured_peak_of_a_training_step():
    """12 qubits, batch 64: unbounded, a step keeps every block's states (about 160 MB); with
    a 20 MB budget it takes 8 rows at a time and its measured peak stays near the budget.

    Measured with glibc's mmap threshold fixed at 128 kB, so that freed tensors leave the
    resident set: with its default dynamic threshold, tensors under 32 MB (here a slice's
    states are 0.5 MB) come from the heap, which can keep freed slices resident (measured: a
    peak of 82 MB instead of 15 MB). States of the sizes a budget is for (20 qubits: 16.8 MB a
    row) are mapped and unmapped either way."""
    if not os.access("/proc/self/clear_refs", os.W_OK):
        pytest.skip("needs Linux /proc/self/clear_refs to measure a peak")
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072"}

    def peak(budget: str) -> tuple[int, int]:
        out = subprocess.run(
            [sys.executable, "-c", _PEAK, budget], capture_output=True, text=True, check=True,
            env=env,
        )  # fmt: skip
        measured, per_row = out.stdout.split()[-2:]
        return int(measured), int(per_row)

    unbounded, per_row = peak("none")
    bounded, _ = peak("0.02")
    assert unbounded > 0.5 * 64 * per_row  # most of the kept states are really held
    assert bounded < 0.25 * unbounded and bounded < 0.02e9 + 2 * per_row, (
        bounded,
        unbounded,
    )
