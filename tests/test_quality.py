"""Code quality checks that CI runs through pytest: ruff (lint and format) and mypy.

Each check runs its tool as a subprocess with the settings in ``pyproject.toml`` and prints the
tool's output when it fails.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

BIN = Path(sys.executable).parent


def _run(*command: str, timeout: int) -> subprocess.CompletedProcess[str]:
    tool = BIN / command[0]
    if not tool.exists():
        pytest.fail(
            f"{command[0]} is not installed beside {sys.executable}: pip install -e '.[test]'"
        )
    return subprocess.run(
        [str(tool), *command[1:]],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _assert_clean(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}{result.stderr}"


def test_ruff_check():
    _assert_clean(_run("ruff", "check", ".", timeout=120))


def test_ruff_format():
    _assert_clean(_run("ruff", "format", "--check", ".", timeout=120))


def test_mypy_on_the_package():
    """``mypy qmoe_qiskit`` with ``[tool.mypy]``; a cold run takes 40-90 s on 2 busy cores."""
    result = _run("mypy", "qmoe_qiskit", timeout=600)
    _assert_clean(result)
    assert "Success" in result.stdout
