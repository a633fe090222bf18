"""Property-based: whatever a spec file holds, ``qmoe compile`` ends in exit 0 or one line and
exit 2, never a traceback (hypothesis over mutated shipped presets and truncated files)."""

from __future__ import annotations

import tomllib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qmoe_qiskit.cli import main
from qmoe_qiskit.spec import available_presets, preset_text, spec_to_dict

PRESETS = [
    p for p in available_presets() if "diffqas" not in p and not p.startswith("fair-baseline")
]
FIELD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.lists(st.integers(min_value=-3, max_value=70), max_size=5),
    st.sampled_from(["binary", "onehot", "rx+ry", "all", "within", "trainable", "fixed", "none"]),
)
FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _toml_value(value: object) -> str:
    if value is None:
        return '""'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value != value:
            return "nan"
        if value in (float("inf"), float("-inf")):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return '"' + value.encode("unicode_escape").decode().replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return str(value)


def _assert_clean(argv: list[str], capsys) -> None:
    code = main(argv)  # an exception other than the one-line ones fails the test
    err = capsys.readouterr().err.strip()
    assert code in (0, 2), (code, err)
    if code == 2:
        assert len(err.splitlines()) == 1 and "Traceback" not in err, err


@FUZZ
@given(
    preset=st.sampled_from(PRESETS),
    section=st.sampled_from(["encoder", "routing", "experts", "readout", "training", "data"]),
    index=st.integers(min_value=0, max_value=20),
    value=FIELD_VALUES,
)
def test_mutated_presets_compile_or_fail_in_one_line(
    tmp_path_factory, capsys, preset, section, index, value
):
    values = tomllib.loads(preset_text(preset))
    table = values.setdefault(section, {})
    from qmoe_qiskit import load_spec

    fields = sorted(spec_to_dict(load_spec(preset)).get(section, {})) or ["unknown_key"]
    table[fields[index % len(fields)]] = value
    lines = [f"{k} = {_toml_value(v)}" for k, v in values.items() if not isinstance(v, dict)]
    for name, entries in values.items():
        if isinstance(entries, dict):
            lines.append(f"[{name}]")
            lines += [f"{k} = {_toml_value(v)}" for k, v in entries.items()]
    path = tmp_path_factory.mktemp("fuzz") / "spec.toml"
    path.write_text("\n".join(lines) + "\n")
    _assert_clean(["compile", str(path), "--json"], capsys)


@FUZZ
@given(preset=st.sampled_from(PRESETS), cut=st.floats(min_value=0.0, max_value=1.0))
def test_truncated_spec_files_compile_or_fail_in_one_line(tmp_path_factory, capsys, preset, cut):
    text = preset_text(preset).encode()
    path = tmp_path_factory.mktemp("cut") / "spec.toml"
    path.write_bytes(text[: int(cut * len(text))])
    _assert_clean(["compile", str(path), "--json"], capsys)


@pytest.mark.parametrize("garbage", [b"\xff\xfe\x00binary", b"[[[", b"name = \x00"])
def test_garbage_spec_files_fail_in_one_line(tmp_path, capsys, garbage):
    path = tmp_path / "spec.toml"
    path.write_bytes(garbage)
    _assert_clean(["compile", str(path)], capsys)
