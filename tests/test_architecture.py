"""The package's shape: wings import one way, no cycles, one curated public API."""

from __future__ import annotations

import ast
import filecmp
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

import qmoe_qiskit
from tests.conftest import REPO

PACKAGE = REPO / "qmoe_qiskit"


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), i.e. import cycles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.find_modules_directly_imported_by(node):
            if nxt not in graph.modules:
                continue
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def test_cycle_finder_finds_a_planted_cycle():
    graph = grimp.ImportGraph()
    for a, b in (("p.a", "p.b"), ("p.b", "p.c"), ("p.c", "p.a"), ("p.c", "p.d")):
        graph.add_import(importer=a, imported=b)
    assert _cycles(graph) == [["p.a", "p.b", "p.c"]]


def test_no_import_cycles_between_modules():
    """Every import statement counts: module level, inside functions, under TYPE_CHECKING."""
    graph = grimp.build_graph("qmoe_qiskit", cache_dir=None)
    assert _cycles(graph) == []


def test_import_contracts_are_kept():
    """pyproject.toml's import-linter contracts: the wing layers, independent families and
    engines, acyclic siblings."""
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint), "--config", "pyproject.toml", "--no-cache"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 kept, 0 broken" in result.stdout


def test_engine_names_are_compared_only_inside_engines():
    """No ``engine == "aer"`` outside ``qmoe_qiskit/engines``: engines are chosen in one place."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if "engines" in path.relative_to(PACKAGE).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Compare):
                continue
            values = [node.left, *node.comparators]
            if any(isinstance(v, ast.Constant) and v.value in ("aer", "torch") for v in values):
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert offenders == []


def test_wings_are_folders_of_small_modules():
    wings = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
    assert {
        "circuits", "models", "engines", "training", "hardware", "experiments", "data", "cli",
    } <= wings  # fmt: skip
    too_long = {
        str(p.relative_to(REPO)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > 450
    }
    assert too_long == {}


def test_public_api_is_curated_and_resolves():
    required = {
        "load_spec", "compile_model", "build_network", "train", "load_run", "transpile_model",
        "submit", "export_model", "QmoeError",
    }  # fmt: skip
    assert required <= set(qmoe_qiskit.__all__)
    for name in qmoe_qiskit.__all__:
        assert getattr(qmoe_qiskit, name) is not None
    from qmoe_qiskit.hardware.submit import submit_evaluation

    assert qmoe_qiskit.submit is submit_evaluation
    with pytest.raises(AttributeError):
        qmoe_qiskit.not_a_name  # noqa: B018


def test_every_user_error_derives_from_qmoe_error():
    from qmoe_qiskit import errors

    classes = [getattr(errors, n) for n in errors.__all__]
    assert all(issubclass(c, errors.QmoeError) for c in classes)
    raised = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and any(
                isinstance(b, ast.Name) and b.id.endswith(("Error", "Failure")) for b in node.bases
            ):
                raised.add((path.name, node.name, tuple(b.id for b in node.bases)))
    # Error classes are defined in errors.py (and the CLI's CommandError on QmoeError) only.
    assert {(f, n) for f, n, _ in raised} - {(f, n) for f, n, _ in raised if f == "errors.py"} <= {
        ("common.py", "CommandError")
    }


def test_transpile_profiles_have_one_source_of_truth():
    """The repository's transpile/ folder is the user-editable copy of the package data."""
    shipped = PACKAGE / "transpile_profiles"
    editable = REPO / "transpile"
    names = sorted(p.name for p in shipped.glob("*.toml"))
    assert names == sorted(p.name for p in editable.glob("*.toml"))
    match, mismatch, errors = filecmp.cmpfiles(shipped, editable, names, shallow=False)
    assert (mismatch, errors) == ([], [])
