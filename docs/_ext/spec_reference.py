"""``.. spec-reference::``: the model-spec reference, generated from the spec dataclasses.

For every section of a spec (the top-level keys, then ``[encoder]``, ``[routing]``,
``[experts]``, ``[readout]``, ``[training]``, ``[data]``) it walks the dataclass's fields and
writes one table: the key, its type, its default, the families that read it (from
:data:`qmoe_qiskit.spec.UNUSED_FIELDS`) and the field's entry in the class docstring's
``Attributes:`` section. Family defaults that differ from the dataclass defaults
(:data:`~qmoe_qiskit.spec.FAMILY_TRAINING`, :data:`~qmoe_qiskit.spec.FAMILY_READOUT`) are
listed under the table. Nothing here is written by hand, so the page cannot drift from the code.

Use it in a reStructuredText page (the descriptions are reST)::

    .. spec-reference::
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import typing

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective

_FAMILIES = ("qmoe", "baseline", "hybrid")
_SECTIONS = ("encoder", "routing", "experts", "readout", "training", "data")


def docstring_attributes(cls: type) -> dict[str, str]:
    """The ``Attributes:`` entries of a Google-style class docstring, one string per name."""
    doc = inspect.cleandoc(cls.__doc__ or "")
    lines = doc.splitlines()
    try:
        start = lines.index("Attributes:") + 1
    except ValueError:
        return {}
    entries: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in lines[start:]:
        if line and not line.startswith(" "):
            break  # the section ends at the first unindented line
        match = re.match(r"^ {4}(\w+): ?(.*)$", line)
        if match:
            current = entries.setdefault(match.group(1), [])
            current.append(match.group(2))
        elif current is not None and line.strip():
            current.append(line.strip())
    return {name: " ".join(words) for name, words in entries.items()}


def _default_text(field: dataclasses.Field) -> str:
    if field.default is not dataclasses.MISSING:
        value = field.default
    elif field.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        value = field.default_factory()  # type: ignore[misc]
        if dataclasses.is_dataclass(value):
            return "(a table)"
    else:
        return "required"
    if value is None:
        return "the family's"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, tuple):
        return "[" + ", ".join(map(str, value)) + "]" if value else "``0 .. classes-1``"
    return repr(value)


def _families(section: str, name: str) -> str:
    from qmoe_qiskit.spec import UNUSED_FIELDS

    readers = []
    for family in _FAMILIES:
        unused = UNUSED_FIELDS.get(family, {}).get(section, ())
        if "*" not in unused and name not in unused:
            readers.append(family)
    return ", ".join(readers) if len(readers) < len(_FAMILIES) else "all"


def section_table(section: str, cls: type) -> list[str]:
    """reST lines: the heading and list-table of one spec section."""
    attributes = docstring_attributes(cls)
    title = "Top-level keys" if section == "" else f"``[{section}]``"
    summary = inspect.cleandoc(cls.__doc__ or "").split("\n\n", 1)[0].replace("\n", " ")
    lines = [
        title,
        "-" * len(title),
        "",
        f"{summary} (:class:`~qmoe_qiskit.spec.{cls.__name__}`)",
        "",
    ]
    lines += [
        ".. list-table::",
        "   :header-rows: 1",
        "   :widths: 14 12 12 12 50",
        "",
        "   * - key",
        "     - type",
        "     - default",
        "     - read by",
        "     - meaning",
    ]
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        if section == "" and field.name in _SECTIONS:
            continue  # each section has its own table below
        type_name = str(hints[field.name]).replace("typing.", "")
        type_name = getattr(hints[field.name], "__name__", type_name)
        if type_name == "tuple":
            type_name = "list of int"
        elif "|" in str(hints[field.name]):
            type_name = str(hints[field.name]).replace(" | ", " or ")
        lines += [
            f"   * - ``{field.name}``",
            f"     - {type_name}",
            f"     - {_default_text(field)}",
            f"     - {_families(section, field.name) if section else 'all'}",
            f"     - {attributes.get(field.name, '')}"
            if attributes.get(field.name)
            else "     - \\ ",
        ]
    lines.append("")
    return lines


def family_defaults() -> list[str]:
    """reST lines: what a spec that leaves out ``[readout]`` or ``[training]`` keys gets."""
    from qmoe_qiskit.spec import FAMILY_READOUT, FAMILY_TRAINING

    lines = [
        "Family defaults",
        "---------------",
        "",
        "A spec that leaves out ``[readout]``, or some ``[training]`` keys, gets its family's "
        "validated defaults instead of the dataclass defaults above "
        "(:data:`~qmoe_qiskit.spec.FAMILY_READOUT`, :data:`~qmoe_qiskit.spec.FAMILY_TRAINING`):",
        "",
        ".. list-table::",
        "   :header-rows: 1",
        "",
        "   * - family",
        "     - ``readout.head``",
        "     - ``[training]`` keys that differ",
    ]
    for family in _FAMILIES:
        training = FAMILY_TRAINING.get(family, {})
        keys = ", ".join(f"``{k} = {v!r}``" for k, v in training.items()) or "none"
        lines += [
            f"   * - ``{family}``",
            f'     - ``"{FAMILY_READOUT[family]}"``',
            f"     - {keys}",
        ]
    lines.append("")
    return lines


def reference_lines() -> list[str]:
    from qmoe_qiskit.spec import (
        DataSpec,
        EncoderSpec,
        ExpertsSpec,
        ModelSpec,
        ReadoutSpec,
        RoutingSpec,
        TrainingSpec,
    )

    lines: list[str] = []
    for section, cls in (
        ("", ModelSpec),
        ("encoder", EncoderSpec),
        ("routing", RoutingSpec),
        ("experts", ExpertsSpec),
        ("readout", ReadoutSpec),
        ("training", TrainingSpec),
        ("data", DataSpec),
    ):
        lines += section_table(section, cls)
    return lines + family_defaults()


class SpecReference(SphinxDirective):
    """Insert the generated spec reference."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        container = nodes.section()
        container.document = self.state.document
        source = self.get_source_info()[0]
        text = StringList()
        for i, line in enumerate(reference_lines()):
            text.append(line, source, i)
        self.state.nested_parse(text, self.content_offset, container, match_titles=True)
        return container.children


def setup(app):  # noqa: ANN001, ANN201
    app.add_directive("spec-reference", SpecReference)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
