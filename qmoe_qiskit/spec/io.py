"""Specs from and to TOML: parsing with one-line errors, family-aware saving, loading."""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

from ..errors import SpecError
from .model import ModelSpec
from .presets import preset_text
from .sections import (
    EncoderSpec,
    ExpertsSpec,
    ReadoutSpec,
    RoutingSpec,
    _fail,
)
from .settings import FAMILY_TRAINING, DataSpec, TrainingSpec

__all__ = [
    "UNUSED_FIELDS",
    "load_spec",
    "spec_from_dict",
    "spec_to_dict",
    "spec_to_toml",
]


_SECTIONS = {
    "encoder": EncoderSpec,
    "routing": RoutingSpec,
    "experts": ExpertsSpec,
    "readout": ReadoutSpec,
    "training": TrainingSpec,
    "data": DataSpec,
}


def _build_section(name: str, cls: type, values: Any) -> Any:
    if not isinstance(values, Mapping):
        raise _fail(name, values, "expected a table")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise SpecError(
            f"{name}.{unknown[0]} is not a known key; allowed keys are {', '.join(sorted(known))}"
        )
    kwargs = dict(values)
    if cls is TrainingSpec and isinstance(kwargs.get("lr"), int):
        kwargs["lr"] = float(kwargs["lr"])
    if cls is EncoderSpec and isinstance(kwargs.get("scale"), int):
        kwargs["scale"] = float(kwargs["scale"])
    if cls is DataSpec and "classes" in kwargs:
        if not isinstance(kwargs["classes"], (list, tuple)):
            raise _fail("data.classes", kwargs["classes"], "expected a list of integers")
        kwargs["classes"] = tuple(kwargs["classes"])
    return cls(**kwargs)


def spec_from_dict(values: Mapping[str, Any]) -> ModelSpec:
    """Build and validate a :class:`ModelSpec` from a mapping (e.g. parsed TOML).

    Args:
        values: Top-level keys ``name``, ``kind``, ``classes`` and section tables.

    Returns:
        The validated spec.

    Raises:
        SpecError: For unknown keys or invalid values.
    """
    if not isinstance(values, Mapping):
        raise SpecError("a spec must be a table of keys")
    if "equal_budget_of" in values:
        return _equal_budget(values)
    top_keys = {"name", "kind", "classes"}
    unknown = sorted(set(values) - top_keys - set(_SECTIONS))
    if unknown:
        allowed = ", ".join(sorted(top_keys | set(_SECTIONS)))
        raise SpecError(f"{unknown[0]} is not a known key; allowed keys are {allowed}")
    if "name" not in values:
        raise SpecError("name is missing: every spec needs a name")
    kwargs: dict[str, Any] = {k: values[k] for k in top_keys if k in values}
    kind = kwargs.get("kind", "qmoe")
    for name, cls in _SECTIONS.items():
        if name in values:
            kwargs[name] = _build_section(name, cls, values[name])
    family = FAMILY_TRAINING.get(kind, {}) if isinstance(kind, str) else {}
    if family:
        given = values.get("training", {})
        defaults = {k: v for k, v in family.items() if k not in given}
        base = kwargs.get("training") or TrainingSpec()
        kwargs["training"] = dataclasses.replace(base, **defaults)

    if kwargs.get("kind") == "baseline" and "experts" in values:
        if "count" not in values["experts"]:
            kwargs["experts"] = dataclasses.replace(kwargs["experts"], count=1)
    elif kwargs.get("kind") == "baseline":
        kwargs["experts"] = ExpertsSpec(count=1)
    try:
        return ModelSpec(**kwargs)
    except TypeError as exc:  # pragma: no cover - guarded by the key checks above
        raise SpecError(str(exc)) from exc


def _equal_budget(values: Mapping[str, Any]) -> ModelSpec:
    from .budget import equal_budget_baseline

    extra = sorted(set(values) - {"name", "equal_budget_of"})
    if extra:
        raise SpecError(
            f"{extra[0]} cannot be set beside equal_budget_of: the baseline takes everything "
            "from the QMoE it is compared with (set it there)"
        )
    source = values["equal_budget_of"]
    if not isinstance(source, str):
        raise SpecError(f"equal_budget_of = {source!r} is invalid: expected a preset name or path")
    name = values.get("name")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise SpecError(f"name = {name!r} is invalid: expected a non-empty string")
    return equal_budget_baseline(load_spec(source), name)


#: Fields each family leaves unused, per section (``"*"``: the whole section). They are left
#: out of :func:`spec_to_dict`, so a saved ``spec.toml`` holds only what its family reads.
UNUSED_FIELDS: dict[str, dict[str, tuple[str, ...]]] = {
    "qmoe": {"routing": ("kind", "hidden"), "experts": ("kind",)},
    "baseline": {"routing": ("*",), "experts": ("kind", "count", "construction")},
    "hybrid": {
        "readout": ("*",),
        "encoder": ("rotations", "entangle", "scale"),
        "routing": (
            "encoding",
            "operators",
            "aggregation",
            "reupload",
            "entangler",
            "hadamard",
            "execution",
            "features",
            "couplings",
            "qubits",
        ),
        "experts": (
            "data_qubits",
            "operators",
            "layers",
            "entangler",
            "construction",
            "reupload",
            "hadamard",
            "features",
            "reupload_layers",
            "extra_rotations",
        ),
    },
}


def _unused(spec: ModelSpec, section: str) -> set[str]:
    unused = set(UNUSED_FIELDS.get(spec.kind, {}).get(section, ()))
    if spec.kind == "hybrid" and section == "routing":
        if spec.routing.kind != "mlp":
            unused.add("hidden")
        if spec.routing.kind == "linear":
            unused.add("layers")
    return unused


def spec_to_dict(spec: ModelSpec) -> dict[str, Any]:
    """The spec as plain TOML-compatible data (the inverse of :func:`spec_from_dict`).

    Fields the spec's family does not use (:data:`UNUSED_FIELDS`) are left out.
    """
    out = dataclasses.asdict(spec)
    out["data"]["classes"] = list(spec.data.classes)
    for section in _SECTIONS:
        unused = _unused(spec, section)
        if "*" in unused:
            del out[section]
            continue
        for key in unused:
            out[section].pop(key, None)
    return out


def spec_to_toml(spec: ModelSpec) -> str:
    """Render a spec as TOML text that :func:`load_spec` reads back to an equivalent spec."""

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return repr(v)

    data = spec_to_dict(spec)
    lines = [f"{k} = {value(data[k])}" for k in ("name", "kind", "classes")]
    for section in _SECTIONS:
        if section not in data:
            continue
        lines.append("")
        lines.append(f"[{section}]")
        lines.extend(f"{k} = {value(v)}" for k, v in data[section].items())
    return "\n".join(lines) + "\n"


#: The defaults of qmoe-qiskit 0.1 where they differ from today's, for ``qmoe`` and
#: ``baseline`` specs: a ``spec.toml`` saved in a run directory by an earlier version may leave
#: these out (the field did not exist yet, or its section was not written), and means them.
LEGACY_DEFAULTS: dict[str, dict[str, Any]] = {
    "encoder": {"entangle": True, "scale": 1.0},
    "routing": {"reupload": False},
    "readout": {"head": "none"},
    "training": {"lr": 0.002, "class_routing": 0.0},
}


def load_saved_spec(path: str | Path) -> ModelSpec:
    """Load the ``spec.toml`` a run directory holds, with the defaults of the version that
    wrote it: fields it leaves out take :data:`LEGACY_DEFAULTS` (a file written by this
    version lists every field, so nothing is filled in).

    Raises:
        SpecError: If the file is missing, not TOML, or any field is invalid.
    """
    path = Path(path)
    try:
        values = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SpecError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path}: not valid TOML: {exc}") from None
    if values.get("kind", "qmoe") in ("qmoe", "baseline") and "equal_budget_of" not in values:
        for section, defaults in LEGACY_DEFAULTS.items():
            if section == "routing" and values.get("kind") == "baseline":
                continue
            if section == "training" and values.get("kind") == "baseline":
                defaults = {k: v for k, v in defaults.items() if k != "class_routing"}
            given = values.get(section, {})
            if isinstance(given, Mapping):
                values[section] = {**defaults, **given}
    try:
        return spec_from_dict(values)
    except SpecError as exc:
        raise SpecError(f"{path}: {exc}") from None


def load_spec(source: str | Path | Mapping[str, Any] | ModelSpec) -> ModelSpec:
    """Load and validate a model spec.

    Args:
        source: A path to a TOML file, the name of a shipped preset (see
            :func:`available_presets`), a mapping, or an existing spec.

    Returns:
        The validated spec.

    Raises:
        SpecError: If the file is missing, not TOML, or any field is invalid.
    """
    if isinstance(source, ModelSpec):
        return source
    if isinstance(source, Mapping):
        return spec_from_dict(source)
    path = Path(source)
    if path.is_file():
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise SpecError(f"{path}: not a TOML spec (not UTF-8 text)") from None
        except OSError as exc:
            raise SpecError(f"{path}: cannot be read: {exc.strerror or exc}") from None
        origin = str(path)
    elif path.is_dir():
        raise SpecError(f"{path} is a directory, not a spec file (a run's spec is spec.toml)")
    else:
        text = preset_text(str(source))
        origin = f"preset {source}"
    try:
        values = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{origin}: not valid TOML: {exc}") from exc
    try:
        return spec_from_dict(values)
    except SpecError as exc:
        raise SpecError(f"{origin}: {exc}") from exc
