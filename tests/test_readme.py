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


def _shell_blocks(text: str) -> list[str]:
    return re.findall(r"^```(?:bash|sh|shell|console)\n(.*?)^```", text, flags=re.S | re.M)


def _qmoe_subcommands() -> set[str]:
    from qmoe_qiskit.cli import build_parser

    parser = build_parser()
    actions = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
    return set(actions[0].choices)


def test_shell_blocks_name_existing_subcommands():
    """Every ``qmoe SUBCOMMAND`` in a shell block of the README or a docs page exists."""
    pages = [REPO / "README.md"] + sorted(
        p for p in (REPO / "docs").rglob("*.md") if "_build" not in p.parts
    )
    known = _qmoe_subcommands()
    named = 0
    for page in pages:
        for block in _shell_blocks(page.read_text()):
            for line in block.splitlines():
                for command in re.findall(r"(?:^|&&\s*|\|\s*|;\s*)qmoe\s+([a-z][a-z-]*)", line):
                    named += 1
                    assert command in known, f"{page.relative_to(REPO)}: qmoe {command}: {line}"
    assert named > 20
