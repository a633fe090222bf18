"""The model presets shipped inside the package."""

from __future__ import annotations

from importlib import resources

from ..errors import SpecError

__all__ = [
    "available_presets",
    "preset_description",
    "preset_text",
]


def available_presets() -> list[str]:
    """Names of the model presets shipped inside the package."""
    folder = resources.files("qmoe_qiskit") / "presets"
    return sorted(p.name[: -len(".toml")] for p in folder.iterdir() if p.name.endswith(".toml"))


def _unknown_preset(name: str) -> SpecError:
    import difflib

    close = difflib.get_close_matches(str(name), available_presets(), n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(close)}?" if close else "; list them with: qmoe presets"
    return SpecError(f"spec {str(name)!r} is neither a file nor a preset{hint}")


def preset_text(name: str) -> str:
    """The TOML text of a shipped preset.

    Raises:
        SpecError: No such preset (with the closest names).
    """
    preset = resources.files("qmoe_qiskit") / "presets" / f"{name}.toml"
    if not preset.is_file():
        raise _unknown_preset(name)
    return preset.read_text(encoding="utf-8")


def preset_description(name: str) -> str:
    """A preset's one-line description: its leading comment lines, joined."""
    words = []
    for line in preset_text(name).splitlines():
        if not line.startswith("#"):
            break
        words.append(line.lstrip("# ").strip())
    return " ".join(w for w in words if w)
