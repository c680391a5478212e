"""The command line: presets, report (JSON schema and numbers), one-line errors with exit code 2."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from tests.cli_errors import one_line_error
from vgviz.cli import main
from vgviz.core.config import RunConfig
from vgviz.core.presets import list_presets, load_preset

LAYER_KEYS = {"grad_mean_abs", "grad_l2", "delta_l2", "bias_grad_l2", "grad_max_abs", "activation_std"}


def strict_json(text: str):
    def no_constants(name):
        raise AssertionError(f"report JSON contains {name}, which JSON does not allow")
    return json.loads(text, parse_constant=no_constants)


def report(capsys, *args):
    code = main(["report", *args])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert err == ""
    return strict_json(out)


def test_presets_lists_names_titles_descriptions(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "1000")   # wide enough for one line a preset
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    presets = list_presets()
    assert len(lines) == len(presets) >= 15
    for line, p in zip(lines, presets):
        assert line.startswith(p.name + " ")
        assert p.title in line and p.description in line
    assert [line.split()[0] for line in lines][:3] == ["deep-sigmoid", "deep-relu-he", "shallow-sigmoid"]
    # descriptions start in one column, however long the names
    starts = {line.index(p.title) for line, p in zip(lines, presets)}
    assert len(starts) == 1


def test_report_schema_and_numbers(capsys):
    from vgviz.core.tasks import make_trainer

    doc = report(capsys, "--preset", "deep-sigmoid", "--steps", "5")
    config = load_preset("deep-sigmoid").config.replace(steps=5)
    assert {"config", "steps", "loss", "layers"} <= set(doc)
    assert list(doc["config"]) == list(RunConfig.field_names())
    assert doc["config"] == config.to_dict()
    assert doc["steps"] == 5
    assert len(doc["loss"]) == 5 and all(isinstance(v, float) for v in doc["loss"])
    assert doc["diverged"] is False

    names = [layer["name"] for layer in doc["layers"]]
    assert names == [f"hidden{i}" for i in range(1, 9)] + ["output"]
    for layer in doc["layers"]:
        assert set(layer) == {"name", "initial", "final"}
        for key in ("initial", "final"):
            assert set(layer[key]) == LAYER_KEYS
            forward = layer[key].pop("activation_std")
            assert forward is None if layer["name"] == "output" else forward > 0
            assert all(isinstance(v, float) and v > 0 for v in layer[key].values())
            layer[key]["activation_std"] = forward

    # "initial" is exactly what the trainer measures on the first batch ...
    trainer = make_trainer(config)
    first = trainer.measure()
    assert doc["loss"][0] == first.loss
    linears = [m for m in trainer.model.modules() if isinstance(m, torch.nn.Linear)]
    columns = [(first.param_names.index(f"{i}.weight"), first.param_names.index(f"{i}.bias"))
               for i in range(0, 2 * len(linears), 2)]
    for i, layer in enumerate(doc["layers"]):
        assert layer["initial"] == first.layer_dict(i, *columns[i])
        # ... and the bias gradient (Nielsen's δ summed over the batch) and the largest
        # |dL/dW| are autograd's
        assert layer["initial"]["bias_grad_l2"] == pytest.approx(float(linears[i].bias.grad.norm()), rel=1e-5)
        assert layer["initial"]["grad_max_abs"] == pytest.approx(float(linears[i].weight.grad.abs().max()), rel=1e-5)
        if i < len(linears) - 1:
            assert layer["initial"]["activation_std"] == pytest.approx(float(first.activation_std[i]), rel=1e-6)
    # the losses are the five steps' losses; "final" is the fifth step's measurement
    losses = [trainer.step().loss for _ in range(4)]
    last = trainer.step()
    assert last.step == 4
    assert doc["loss"] == losses + [last.loss]
    for i, layer in enumerate(doc["layers"]):
        assert layer["final"] == last.layer_dict(i, *columns[i])
    assert doc["final"]["train_loss"] == last.loss
    assert doc["final"]["test_loss"] == trainer.evaluate()[0]

    # the point of the preset: the first layer's gradient has vanished
    assert doc["layers"][0]["initial"]["grad_mean_abs"] < doc["layers"][-2]["initial"]["grad_mean_abs"] / 100


def test_report_options_apply_in_order(capsys, tmp_path):
    cfg = tmp_path / "run.toml"
    cfg.write_text('[config]\ndepth = 3\nwidth = 6\nactivation = "tanh"\nsteps = 4\nseed = 5\n', encoding="utf-8")
    doc = report(capsys, "--preset", "deep-relu-he", "--config", str(cfg),
                 "--set", "width=5", "--set", "steps=3", "--set", "seed=6", "--steps", "2", "--seed", "7")
    c = doc["config"]
    assert c["init"] == "he" and c["lr"] == 0.05            # from the preset
    assert c["depth"] == 3 and c["activation"] == "tanh"    # from the file
    assert c["width"] == 5                                   # --set beats the file
    assert c["steps"] == 2 and c["seed"] == 7                # --steps/--seed beat --set
    assert doc["steps"] == 2 and len(doc["loss"]) == 2
    assert [layer["name"] for layer in doc["layers"]] == ["hidden1", "hidden2", "hidden3", "output"]


def test_seed_changes_the_numbers(capsys):
    a = report(capsys, "--preset", "shallow-sigmoid", "--steps", "1")
    b = report(capsys, "--preset", "shallow-sigmoid", "--steps", "1")
    c = report(capsys, "--preset", "shallow-sigmoid", "--steps", "1", "--seed", "1")
    assert a == b
    assert a["loss"] != c["loss"] and c["config"]["seed"] == 1


def test_report_output_is_a_config_file(capsys, tmp_path):
    doc = report(capsys, "--preset", "shallow-sigmoid", "--steps", "1", "--set", "width=3")
    f = tmp_path / "report.json"
    f.write_text(json.dumps(doc), encoding="utf-8")
    again = report(capsys, "--config", str(f))
    assert again == doc


def test_diverged_report_is_valid_json(capsys):
    doc = report(capsys, "--preset", "deep-relu-he", "--set", "lr=10", "--steps", "15")
    assert doc["diverged"] is True
    assert doc["steps"] == len(doc["loss"]) < 15  # stops at the first diverged step


@pytest.mark.parametrize("argv, needles", [
    (["report", "--set", "depth=0"], ["depth", "1 to 100"]),
    (["report", "--set", "width=-3"], ["width", "1 to 512"]),
    (["report", "--set", "lr=nan"], ["lr", "> 0"]),
    (["report", "--set", "lr=0"], ["lr", "> 0"]),
    (["report", "--set", "activation=swish"], ["activation", "sigmoid, tanh, relu"]),
    (["report", "--set", "depth=four"], ["depth", "integer"]),
    (["report", "--set", "colour=red"], ["colour", "unknown field"]),
    (["report", "--set", "depth"], ["KEY=VALUE", "depth"]),
    (["report", "--steps", "0"], ["steps", "1 to"]),
    (["report", "--steps", "many"], ["--steps", "many"]),
    (["report", "--seed", "-1"], ["seed", "0 to"]),
    (["report", "--preset", "nope"], ["nope", "deep-sigmoid"]),
    (["report", "--config", "/nonexistent/run.toml"], ["/nonexistent/run.toml", "cannot read"]),
    (["report", "--bogus"], ["--bogus"]),
    (["frobnicate"], ["frobnicate"]),
])
def test_bad_input_exits_2_with_one_line(capsys, argv, needles):
    one_line_error(capsys, argv, *needles)


def test_bad_config_file_contents(capsys, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("depth = = 1\n", encoding="utf-8")
    one_line_error(capsys, ["report", "--config", str(bad)], "bad.toml", "cannot be parsed")
    wrong = tmp_path / "wrong.json"
    wrong.write_text('{"config": {"depth": 0}}', encoding="utf-8")
    one_line_error(capsys, ["report", "--config", str(wrong)], "wrong.json", "depth")


def run_module(*args, **env_vars):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", **env_vars)
    return subprocess.run([sys.executable, "-m", "vgviz.cli", *args], capture_output=True, text=True,
                          timeout=120, env=env)


def test_console_entry_report():
    proc = run_module("report", "--preset", "shallow-sigmoid", "--steps", "2", "--indent", "2")
    assert proc.returncode == 0, proc.stderr
    doc = strict_json(proc.stdout)
    assert doc["steps"] == 2 and [layer["name"] for layer in doc["layers"]] == ["hidden1", "hidden2", "output"]
    assert "\n  " in proc.stdout  # --indent applied


def test_console_entry_presets_and_errors():
    proc = run_module("presets", COLUMNS="1000")
    assert proc.returncode == 0 and len(proc.stdout.splitlines()) == len(list_presets())
    proc = run_module("report", "--set", "width=-3")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.splitlines() == [proc.stderr.strip()] and "width" in proc.stderr
    # a bad preset for the GUI fails before any window or Qt import
    proc = run_module("gui", "--preset", "nope")
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.splitlines()) == 1 and "nope" in proc.stderr


def test_a_run_too_big_for_the_memory_is_refused_before_training(capsys, monkeypatch):
    import vgviz.core.memory as memory
    import vgviz.core.tasks as tasks

    def no_training(*args, **kwargs):
        raise AssertionError("trained before checking the memory")

    monkeypatch.setattr(tasks, "make_trainer", no_training)
    big = ["--preset", "lstm-T50", "--set", "depth=4", "--set", "width=512", "--set", "seq_len=1000",
           "--set", "batch_size=4096"]
    for command in (["report"], ["render", "--view", "loss", "--out", os.devnull + ".png"]):
        assert main([*command, *big]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "GB of memory but" in err and "--ignore-memory-check" in err
    # --shallower trains a second run: it is checked too
    shallow = load_preset("deep-sigmoid").config.replace(depth=2)
    monkeypatch.setattr(memory, "available_bytes", lambda: memory.estimate(shallow).total + 1)
    assert main(["report", "--set", "depth=2", "--shallower", "60"]) == 2
    assert "of memory but" in capsys.readouterr().err


def test_ignore_memory_check_trains_anyway(capsys, monkeypatch):
    import vgviz.core.memory as memory

    monkeypatch.setattr(memory, "available_bytes", lambda: 1000)   # a machine with 1 kB free
    small = ["--set", "depth=2", "--set", "width=4", "--steps", "3"]
    assert main(["report", *small]) == 2
    assert "of memory but 1 MB is available" in capsys.readouterr().err
    assert report(capsys, *small, "--ignore-memory-check")["steps"] == 3
