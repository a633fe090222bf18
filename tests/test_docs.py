"""The documentation builds without a warning, and its code blocks run as written.

``sphinx-build -W --keep-going -n`` fails on any warning, a broken cross-reference included,
and executes the tutorials (``docs/tutorials/*.md``, myst-nb). The Python blocks of the other
pages run here, each in a fresh temporary working directory; shell blocks name only ``qmoe``
subcommands that exist (``tests/test_readme.py`` checks that for every page and the README).
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

DOCS = REPO / "docs"
_MISSING = [
    name
    for name in ("sphinx", "myst_nb", "qiskit_sphinx_theme")
    if importlib.util.find_spec(name) is None
]
needs_sphinx = pytest.mark.skipif(
    bool(_MISSING),
    reason=f"docs requirements not installed ({', '.join(_MISSING)}): pip install sphinx "
    "qiskit-sphinx-theme myst-nb",
)


def doc_pages() -> list[Path]:
    """Markdown pages of the docs, without the executed tutorials (the build runs those)."""
    return sorted(
        p
        for p in DOCS.rglob("*.md")
        if "tutorials" not in p.parts and "_build" not in p.parts and "reports" not in p.parts
    )


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


@needs_sphinx
def test_docs_build_without_warnings(tmp_path):
    env = dict(os.environ, MPLBACKEND="Agg", OMP_NUM_THREADS="1")
    env.pop("QMOE_DOCS_INTERSPHINX", None)  # offline: no inventories to fetch
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-n", "-q", "-b", "html"]
        + ["-d", str(tmp_path / "doctrees"), str(DOCS), str(tmp_path / "html")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-6000:]
    assert (tmp_path / "html" / "index.html").is_file()
    assert (tmp_path / "html" / "how-to" / "spec.html").read_text().count("<tr") > 50


def test_docs_python_blocks_run(tmp_path, monkeypatch):
    """Every Python block of a docs page runs as written (those the README shares run there)."""
    readme_blocks = set(python_blocks((REPO / "README.md").read_text()))
    blocks = [
        (page, block)
        for page in doc_pages()
        for block in python_blocks(page.read_text())
        if block not in readme_blocks
    ]
    assert blocks, "no Python block found in the docs"
    for i, (page, block) in enumerate(blocks):
        workdir = tmp_path / str(i)
        workdir.mkdir()
        monkeypatch.chdir(workdir)
        code = block.replace("/tmp/runs", str(workdir))
        exec(compile(code, str(page.relative_to(REPO)), "exec"), {"__name__": "__docs__"})  # noqa: S102


def test_spec_reference_lists_every_field():
    """The generated spec reference covers every field of every spec dataclass."""
    import dataclasses

    sys.path.insert(0, str(DOCS / "_ext"))
    try:
        import spec_reference
    finally:
        sys.path.remove(str(DOCS / "_ext"))
    from qmoe_qiskit.spec import (
        DataSpec,
        EncoderSpec,
        ExpertsSpec,
        ReadoutSpec,
        RoutingSpec,
        TrainingSpec,
    )

    text = "\n".join(spec_reference.reference_lines())
    for cls in (EncoderSpec, RoutingSpec, ExpertsSpec, ReadoutSpec, TrainingSpec, DataSpec):
        attributes = spec_reference.docstring_attributes(cls)
        for field in dataclasses.fields(cls):
            assert f"``{field.name}``" in text, (cls.__name__, field.name)
            assert field.name in attributes, f"{cls.__name__}.{field.name} has no docstring entry"
