"""The top-level command line: `vgviz --preset`, `gui --config/--set`, --version, the wrapped
presets table, and the config fields in --help."""
from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import version

import pytest

from tests.cli_errors import one_line_error
from vgviz.cli import main
from vgviz.core.config import CHOICES, FLOAT_RANGES, INT_RANGES, RunConfig
from vgviz.core.presets import list_presets, load_preset


def run_module(*args, **env_vars):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", **env_vars)
    return subprocess.run([sys.executable, "-m", "vgviz.cli", *args], capture_output=True, text=True,
                          timeout=120, env=env)


@pytest.fixture
def opened(monkeypatch):
    """The keyword arguments each window would have opened with (no window opens)."""
    import vgviz.gui.app as app

    calls = []
    monkeypatch.setattr(app, "run_app", lambda **kw: calls.append(kw) or 0)
    return calls


def test_version_is_the_installed_package_metadata():
    proc = run_module("--version")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"vgviz {version('vgviz')}"


def test_preset_at_the_top_level_opens_the_app_on_it(opened):
    assert main(["--preset", "deep-relu-he"]) == 0
    assert opened == [{"preset": "deep-relu-he", "config": None}]


def test_gui_config_and_set_give_the_first_run(opened, tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('activation = "tanh"\ndepth = 5\n', encoding="utf-8")
    assert main(["gui", "--preset", "deep-relu-he", "--config", str(path), "--set", "width=9"]) == 0
    assert main(["--set", "lr=0.5"]) == 0                  # top level too, from the default preset
    base = load_preset("deep-relu-he").config
    assert opened == [{"preset": "deep-relu-he", "config": base.replace(activation="tanh", depth=5, width=9)},
                      {"preset": None, "config": RunConfig(**{**load_preset("deep-sigmoid").config.to_dict(),
                                                              "lr": 0.5})}]


@pytest.mark.parametrize("argv, needles", [
    (["gui", "--set", "lr=nan"], ["lr", "> 0"]),
    (["--set", "depth=0"], ["depth", "1 to 100"]),
    (["gui", "--set", "colour=red"], ["colour", "unknown field"]),
    (["gui", "--config", "/nonexistent/run.toml"], ["/nonexistent/run.toml"]),
    (["--preset", "nope"], ["nope", "deep-sigmoid"]),
    (["--bogus"], ["--bogus"]),
])
def test_bad_gui_options_are_one_line_before_any_window(capsys, opened, argv, needles):
    one_line_error(capsys, argv, *needles)
    assert opened == []


def test_bad_gui_set_in_a_fresh_process_is_exit_2_and_one_line():
    proc = run_module("gui", "--set", "width=-3")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.splitlines() == ["vgviz: error: width: must be an integer from 1 to 512; got -3"]


@pytest.mark.parametrize("columns", [50, 80, 132])
def test_presets_table_wraps_to_the_terminal_width(columns):
    proc = run_module("presets", COLUMNS=str(columns))
    assert proc.returncode == 0 and proc.stderr == ""
    lines = proc.stdout.splitlines()
    assert max(len(line) for line in lines) < columns
    presets = list_presets()
    names = [line.split()[0] for line in lines if not line.startswith(" ")]
    assert names == [p.name for p in presets]              # one row a preset, continuations indented
    text = " ".join(proc.stdout.split())
    for p in presets:
        assert " ".join(f"{p.name} {p.title}: {p.description}".split()) in text


@pytest.mark.parametrize("command", ["report", "train", "gui", "render"])
def test_help_lists_every_config_field_with_its_values(command):
    proc = run_module(command, "--help", COLUMNS="200")
    assert proc.returncode == 0, proc.stderr
    rows = {line.split()[0]: line for line in proc.stdout.splitlines() if line.startswith("  ") and line.split()}
    for name in RunConfig.field_names():
        assert name in rows, f"{command} --help does not list {name}"
    assert ", ".join(CHOICES["activation"]) in rows["activation"]
    lo, hi = INT_RANGES["depth"]
    assert f"from {lo} to {hi}" in rows["depth"]
    assert f"≤ {FLOAT_RANGES['lr'][1]:g}" in rows["lr"] and "> 0" in rows["lr"]
    assert "true or false" in rows["residual"]
