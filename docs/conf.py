"""Sphinx configuration of the qmoe-qiskit documentation.

Build (what ``tests/test_docs.py`` runs; warnings, broken cross-references included, fail)::

    sphinx-build -W --keep-going -n -b html docs docs/_build/html

Intersphinx links to Qiskit, qiskit-machine-learning, qiskit-ibm-runtime, PyTorch, NumPy and
Python need their ``objects.inv`` from the web, so they are on only when
``QMOE_DOCS_INTERSPHINX=1`` (a machine with a network, e.g. a docs deploy). Offline (the
default, and CI here), references to those packages are left as plain text: ``-n`` ignores
them by the ``nitpick_ignore_regex`` below, and nothing else.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))

import qmoe_qiskit  # noqa: E402

project = "qmoe-qiskit"
author = "qmoe-qiskit contributors"
copyright = "qmoe-qiskit contributors"  # noqa: A001
release = qmoe_qiskit.__version__
version = ".".join(release.split(".")[:2])
language = "en"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "myst_nb",
    "qiskit_sphinx_theme",
    "spec_reference",
    "qmoe_refs",
]

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb"}
root_doc = "index"
exclude_patterns = ["_build", "jupyter_execute", "**/.ipynb_checkpoints"]
templates_path = ["_templates"]

# -- Theme (the Qiskit ecosystem's) -----------------------------------------------------------
html_theme = "qiskit-ecosystem"
html_title = f"qmoe-qiskit {release}"
html_static_path: list[str] = []
html_last_updated_fmt = None

# -- API reference: autosummary + autodoc + napoleon (Google docstrings) ---------------------
autosummary_generate = True
autosummary_generate_overwrite = True
autosummary_imported_members = True
autodoc_default_options = {"members": True, "show-inheritance": False}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented_params"
autodoc_typehints_format = "short"
autoclass_content = "class"
autodoc_inherit_docstrings = False  # torch.nn.Module's docstrings are not ours to check
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
napoleon_attr_annotations = True
add_module_names = False

# -- MyST / myst-nb: markdown pages and executed tutorials -----------------------------------
myst_enable_extensions = ["colon_fence", "dollarmath", "deflist"]
myst_heading_anchors = 3
nb_execution_mode = "force"  # every build runs every tutorial
nb_execution_in_temp = True  # a tutorial's working directory is a temporary one
nb_execution_timeout = 120  # per cell, seconds
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True
nb_kernel_rgx_aliases = {".*": "python3"}

# -- Cross-references ---------------------------------------------------------------------------
nitpicky = True
nitpick_ignore = [
    # Type aliases (``Callable[...]`` and numpy's ``ArrayLike``), shown by name in signatures;
    # the functions that take them say what they are.
    ("py:class", "ArrayLike"),
    ("py:class", "CircuitNetworkFactory"),
    ("py:class", "ProbabilityFactory"),
    # Internal helpers that docstrings of the documented API name, left out of the reference
    # on purpose (they are not for users); listed one by one so any other broken name fails.
    ("py:func", "export_circuit"),
    ("py:class", "qmoe_qiskit.training.runs.LoadedRun"),
    ("py:attr", "last_routing"),
    ("py:func", "make_service"),
    ("py:func", "qmoe_qiskit.hardware.service.as_backend_handle"),
    ("py:data", "qmoe_qiskit.hardware.primitives.MITIGATIONS"),
    ("py:data", "qmoe_qiskit.hardware.primitives.DEFAULT_MITIGATION"),
    ("py:data", "qmoe_qiskit.training.runs.CHANGEABLE"),
    ("py:class", "qmoe_qiskit.training.loop.FitOptions"),
    ("py:func", "load_profile"),
    ("py:func", "qmoe_qiskit.hardware.noise.noisy_expectations"),
    ("py:func", "shift_rule_report"),
    ("py:class", "qmoe_qiskit.hardware.primitives.PubPrice"),
    ("py:func", "qmoe_qiskit.hardware.primitives.mitigation_settings"),
    ("py:func", "qmoe_qiskit.engines.aer.budget.rows_per_call"),
]
suppress_warnings = [
    # `docs/release-notes.md` is written by towncrier; the index lists it with a glob so the
    # build passes before the file exists. Only an empty glob is silenced, nothing else.
    "toc.empty_glob",
]

intersphinx_mapping = {
    "python": ("https://docs.python.org/3", None),
    "numpy": ("https://numpy.org/doc/stable", None),
    "torch": ("https://docs.pytorch.org/docs/stable", None),
    "qiskit": ("https://quantum.cloud.ibm.com/docs/api/qiskit", None),
    "qiskit_ibm_runtime": ("https://quantum.cloud.ibm.com/docs/api/qiskit-ibm-runtime", None),
    "qiskit_machine_learning": ("https://qiskit-community.github.io/qiskit-machine-learning", None),
}
intersphinx_timeout = 10
INTERSPHINX = os.environ.get("QMOE_DOCS_INTERSPHINX", "") == "1"
if not INTERSPHINX:
    # Offline: fetching an inventory would fail (a warning, so -W fails). Keep the mapping
    # above for online builds, fetch nothing, and let -n ignore only the packages it covers.
    intersphinx_mapping = {}
    nitpick_ignore_regex = [
        (r"py:.*", r"(qiskit|qiskit_aer|qiskit_ibm_runtime|qiskit_machine_learning)(\..*)?"),
        (r"py:.*", r"(torch|numpy|np|sklearn|ray|matplotlib)(\..*)?"),
        # qiskit / qiskit-machine-learning types that annotations name without their module
        (
            r"py:class",
            r"Options|DerivativeType|BasePassManager|BaseEstimatorV2|BaseSamplerV2|QuantumCircuit"
            r"|SparsePauliOp|Backend|BackendV2|PassManager",
        ),
        (r"py:.*", r"(nn|pathlib|collections|os|typing|dataclasses|concurrent)(\..*)?|Path"),
    ]


# -- A property's docstring "Total qubits: routing + data." is prose, not "type: description" --
_PROSE = re.compile(r"^[A-Z][^:`|\[\]]*\s[^:`|\[\]]*$")


def _prose_not_type(app, what, name, obj, options, lines):  # noqa: ANN001, ANN201
    """Undo napoleon's reading of ``"X: y"`` on a property's first line as type ``X``.

    Our docstrings use that form as prose; text with a space that starts with a capital letter
    is no type, so the ``:type:`` napoleon made of it goes back in front of the description.
    """
    if what not in ("property", "attribute", "data"):
        return
    for i, line in enumerate(lines):
        if line.startswith(":type: ") and _PROSE.match(line[len(":type: ") :]):
            prose = line[len(":type: ") :]
            del lines[i]
            if i and not lines[i - 1].strip():
                del lines[i - 1]
            lines[0] = f"{prose}: {lines[0]}" if lines else prose
            return


def _skip_sklearn_requests(app, what, name, obj, skip, options):  # noqa: ANN001, ANN201
    """scikit-learn generates ``set_{method}_request`` on every estimator: its docs, not ours."""
    if re.fullmatch(r"set_\w+_request", name):
        return True
    return None


def setup(app):  # noqa: ANN001, ANN201
    app.connect("autodoc-skip-member", _skip_sklearn_requests)
    # after napoleon (priority 500) has turned the docstring into reST
    app.connect("autodoc-process-docstring", _prose_not_type, priority=600)
