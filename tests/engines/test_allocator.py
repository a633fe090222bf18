"""The engine's allocator setting: applied on glibc, once, and only when asked for."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from qmoe_qiskit import compile_model
from qmoe_qiskit.engines.statevector import TorchStatevectorNetwork, network


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_freed_memory_is_reused_without_page_faults():
    # A fresh process: allocate and free four 64 MiB tensors, then count the minor page faults
    # four more cost, with and without the setting.
    code = (
        "import resource, sys, torch;"
        "from qmoe_qiskit.engines.statevector import retain_freed_memory;"
        "applied = retain_freed_memory() if sys.argv[1] == '1' else None;"
        "x = [torch.ones(2**23, dtype=torch.float64) for _ in range(4)]; del x;"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt;"
        "y = [torch.ones(2**23, dtype=torch.float64) for _ in range(4)];"
        "print(applied, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)"
    )
    faults = {}
    for flag in ("0", "1"):
        out = subprocess.run([sys.executable, "-c", code, flag], capture_output=True, text=True)
        applied, count = out.stdout.split()
        faults[flag] = int(count)
        assert applied == ("True" if flag == "1" else "None")
    assert faults["0"] > 4 * 16_000  # 4 x 64 MiB = 65,536 pages faulted in again
    assert faults["1"] < 2 * 16_400  # at most one tensor's pages new, the rest reused


def test_network_applies_it_only_when_asked(monkeypatch):
    from qmoe_qiskit.cli import RETAIN_ENV as CLI_ENV
    from qmoe_qiskit.engines.statevector.allocator import RETAIN_ENV

    assert CLI_ENV == RETAIN_ENV
    calls = []
    monkeypatch.setattr(network, "retain_freed_memory", lambda: calls.append(1))
    monkeypatch.delenv(RETAIN_ENV, raising=False)
    model = compile_model("qmoe-digits4")
    TorchStatevectorNetwork(model)  # a library call: the caller's allocator is left alone
    TorchStatevectorNetwork(model, retain_memory=False)
    assert calls == []
    TorchStatevectorNetwork(model, retain_memory=True)
    assert calls == [1]
    monkeypatch.setenv(RETAIN_ENV, "1")  # what the command line sets
    TorchStatevectorNetwork(model)
    assert calls == [1, 1]


def test_the_command_line_asks_for_it_and_respects_an_opt_out(monkeypatch, capsys):
    import os

    from qmoe_qiskit.cli import RETAIN_ENV, main

    monkeypatch.delenv(RETAIN_ENV, raising=False)
    assert main(["presets", "qmoe-digits4"]) == 0
    assert os.environ[RETAIN_ENV] == "1"
    monkeypatch.setenv(RETAIN_ENV, "0")
    assert main(["presets", "qmoe-digits4"]) == 0
    assert os.environ[RETAIN_ENV] == "0"
    capsys.readouterr()
