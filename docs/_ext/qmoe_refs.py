"""Resolve references to qmoe_qiskit objects by the name the API reference documents them under.

The API reference documents the curated API where users import it (``qmoe_qiskit.ModelSpec``,
``qmoe_qiskit.spec.RoutingSpec``), while type hints and docstrings name an object by where it is
defined (``qmoe_qiskit.spec.model.ModelSpec``) or by its bare name (``ModelSpec``). When such a
reference is not found as written, this looks for the one documented ``qmoe_qiskit`` object with
the same last name component (the shortest documented path wins) and links to it. A name that
no page documents still fails the ``-n`` build.
"""

from __future__ import annotations

from docutils import nodes
from sphinx.util.nodes import make_refnode


def _resolve(app, env, node, contnode):  # noqa: ANN001, ANN202
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "")
    if target.startswith("~"):
        target = target[1:]
    import qmoe_qiskit

    public = {defined: name for name, defined in qmoe_qiskit._ALIASES.items()}
    last = target.rsplit(".", 1)[-1]
    if last in public:  # e.g. submit_evaluation, importable as qmoe_qiskit.submit
        target = "qmoe_qiskit." + public[last]
    if target.startswith("qmoe_qiskit."):
        suffix = "." + target.rsplit(".", 1)[-1]  # defined elsewhere than documented
    else:
        suffix = "." + target  # a bare or class-relative name: ``ModelSpec``, ``Cls.method``
    domain = env.get_domain("py")
    matches = [
        (name, obj)
        for name, obj in domain.objects.items()
        if name.startswith("qmoe_qiskit.") and name.endswith(suffix)
    ]
    if not matches:
        return None
    name, obj = min(matches, key=lambda item: (item[0].count("."), item[0]))
    if isinstance(contnode, nodes.Element) and not contnode.astext():
        contnode = nodes.literal(name, name)
    return make_refnode(app.builder, node["refdoc"], obj.docname, obj.node_id, contnode, name)


def setup(app):  # noqa: ANN001, ANN201
    app.connect("missing-reference", _resolve)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
