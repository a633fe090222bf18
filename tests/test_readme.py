"""The README's two set-up commands are what CI runs."""

from __future__ import annotations

import re

from tests.conftest import REPO


def test_ci_runs_the_readme_setup_commands_verbatim():
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Set-up", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```(?:bash|sh)\n(.*?)```", section, flags=re.S)
    commands = [c.strip() for c in commands]
    assert len(commands) == 2, commands
    ci = (REPO / ".ci" / "run").read_text()
    ci_lines = [line.strip() for line in ci.splitlines()]
    for command in commands:
        assert command in ci_lines, command
    assert "pip install torch==2.13.0" in commands[0] and "pytest" in commands[1]


def test_python_section_runs(tmp_path):
    """The README's Python example runs as written (paths moved into a temporary directory)."""
    readme = (REPO / "README.md").read_text()
    block = next(
        b for b in re.findall(r"```python\n(.*?)```", readme, flags=re.S) if "qm.submit(" in b
    )
    code = block.replace("/tmp/runs", str(tmp_path))
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102
    assert 0 <= namespace["result"].accuracy <= 1
    assert (tmp_path / "d4" / "checkpoint.pt").is_file()
    assert (tmp_path / "d4.qasm").is_file()
