"""The command line a person can guess: presets, help with defaults, drawings, no stray files."""

from __future__ import annotations

import argparse
import json
import os

import pytest

from qmoe_qiskit.cli import build_parser, main
from qmoe_qiskit.spec import available_presets


def test_presets_lists_every_preset_with_a_description(capsys):
    assert main(["presets"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(available_presets())
    by_name = {line.split()[0]: line for line in lines}
    assert "Two Moons" in by_name["hybrid-moons-quantum"]
    assert all(len(line.split(None, 1)) == 2 for line in lines)
    assert main(["presets", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert all(row["description"] for row in rows)
    assert main(["presets", "qmoe-digits4"]) == 0
    assert 'name = "qmoe-digits4"' in capsys.readouterr().out


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_every_option_states_its_default_and_choices():
    missing = []
    for name, sub in _subparsers(build_parser()).items():
        help_text = sub.format_help()
        for action in sub._actions:
            if not action.option_strings or isinstance(action, argparse._HelpAction):
                continue
            rendered = sub._get_formatter()._expand_help(action) if action.help else ""
            if action.required:
                continue
            if "default" not in rendered:
                missing.append(f"{name} {action.option_strings[-1]}")
            if action.choices:
                assert "{" + ",".join(map(str, action.choices)) + "}" in help_text
    assert missing == []


def test_positional_names_are_consistent():
    names = {}
    for name, sub in _subparsers(build_parser()).items():
        for action in sub._actions:
            if not action.option_strings and action.dest not in ("help",):
                names[name] = action.metavar or action.dest
    assert names["compile"] == names["transpile"] == names["export"] == "SPEC|RUN"
    assert names["evaluate"] == names["submit"] == "RUN"
    assert names["train"] == "SPEC"


@pytest.mark.parametrize("suffix", [".png", ".txt"])
def test_draw_shows_the_stages(tmp_path, capsys, suffix):
    path = tmp_path / f"circuit{suffix}"
    assert main(["compile", "qmoe-digits4-pca8", "--draw", str(path)]) == 0
    assert path.is_file() and path.stat().st_size > 1000
    if suffix == ".txt":
        text = path.read_text()
        for stage in ("encoder", "routing", "experts"):
            assert stage in text


def test_transpile_of_a_spec_writes_nothing_to_the_current_directory(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["transpile", "qmoe-digits4-pca8", "--backend", "fake_nairobi"]) == 0
    assert "not saved" in capsys.readouterr().out
    assert os.listdir(tmp_path) == []
    target = tmp_path / "isa.qpy"
    argv = ["transpile", "qmoe-digits4-pca8", "--backend", "fake_nairobi", "-o", str(target)]
    assert main(argv) == 0
    assert target.is_file()


def test_training_curve_has_held_out_accuracy_per_epoch(tmp_path):
    out = tmp_path / "run"
    argv = ["train", "qmoe-digits4-pca8", "--out", str(out), "--data", "digits"]
    argv += ["--train-limit", "32", "--test-limit", "8", "--epochs", "2", "--engine", "torch"]
    assert main([*argv, "--quiet"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert all(0 <= row["test_accuracy"] <= 1 for row in metrics["epochs"])
    assert metrics["epochs"][-1]["test_accuracy"] == metrics["test_accuracy"]
    assert (out / "training_curve.png").stat().st_size > 10_000
