"""Hostile config files, preset paths and shell situations: one line on stderr, never a
traceback or a hang (each subprocess has a timeout, so a hang fails the test)."""
import json
import os
import subprocess
import sys

import pytest

from vgviz.cli import main, run_report
from vgviz.core.config import RunConfig
from vgviz.core.presets import PresetError, load_config_file, load_preset

TIMEOUT = 60


def vgviz(*args, stdout=subprocess.PIPE):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    return subprocess.run([sys.executable, "-m", "vgviz.cli", *args], stdout=stdout, stderr=subprocess.PIPE,
                          text=True, timeout=TIMEOUT, env=env)


def one_error_line(proc, folder=None):
    """The one line of stderr; short, not counting the test's temporary folder (whose name grows)."""
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("vgviz: error: "), proc.stderr
    assert len(lines[0].replace(str(folder), "") if folder else lines[0]) < 400
    return lines[0]


DEPTH = 100_000


def hostile_files(tmp_path):
    """name -> (path, a word the message must hold)"""
    files = {
        "nested.toml": ("[" + ".".join(["a"] * DEPTH) + "]\n", "cannot be parsed"),
        "nested.json": ('{"a":' * DEPTH + "1" + "}" * DEPTH, "nested too deeply"),
        "nested-array.toml": ("depth = " + "[" * DEPTH + "]" * DEPTH + "\n", "nested too deeply"),
        "digits.toml": ("depth = " + "9" * 5000 + "\n", "cannot be parsed"),
        "digits.json": ('{"depth": ' + "9" * 5000 + "}", "cannot be parsed"),
        "huge-key.toml": ("k" * 5_000_000 + " = 1\n", "too large"),
        "long-key.toml": ("k" * 500_000 + " = 1\n", "unknown field"),
        "long-value.toml": ('dataset = "' + "a\\n" * 200_000 + '"\n', "must be one of"),
    }
    paths = {}
    for name, (text, word) in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
        paths[name] = (tmp_path / name, word)
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "fifo.toml")
        paths["fifo.toml"] = (tmp_path / "fifo.toml", "not a regular file")
    if sys.platform.startswith("linux"):
        paths["/dev/zero"] = ("/dev/zero", "not a regular file")
    return paths


def test_hostile_config_files_in_process(tmp_path):
    for name, (path, word) in hostile_files(tmp_path).items():
        with pytest.raises(PresetError) as info:
            load_config_file(path)
        text = str(info.value)
        assert word in text and "\n" not in text and len(text) < 400, (name, text[:500])


def test_hostile_config_files_on_the_command_line(tmp_path):
    for name, (path, word) in hostile_files(tmp_path).items():
        proc = vgviz("report", "--steps", "1", "--config", str(path))
        assert proc.returncode == 2 and proc.stdout == "", name
        assert word in one_error_line(proc, tmp_path), name


def test_config_file_size_is_capped(tmp_path):
    big = tmp_path / "big.toml"
    big.write_text("# padding\n" * 300_000 + "depth = 3\n", encoding="utf-8")
    with pytest.raises(PresetError, match="too large"):
        load_config_file(big)
    # the longest report (a full loss series, pretty-printed) is still a config file
    report = tmp_path / "report.json"
    series = {"loss": [0.6931471805599453] * 20_000, "loss_steps": list(range(9_990_000, 10_010_000))}
    report.write_text(json.dumps({"config": {"depth": 3}, **series}, indent=4), encoding="utf-8")
    assert load_config_file(report).depth == 3


@pytest.mark.parametrize("name", ["/tmp/x", "../deep-sigmoid", "deep-sigmoid.toml", "sub/deep-sigmoid",
                                  "sub\\deep-sigmoid"])
def test_preset_must_be_a_name(name, tmp_path, capsys):
    with pytest.raises(PresetError, match="--config FILE"):
        load_preset(name)
    assert main(["report", "--preset", name]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--config FILE" in err


def test_preset_path_is_not_read(tmp_path, capsys):
    f = tmp_path / "mine.toml"
    f.write_text("[config]\ndepth = 2\n", encoding="utf-8")
    assert main(["report", "--steps", "1", "--preset", str(tmp_path / "mine")]) == 2
    assert "not a preset name" in capsys.readouterr().err


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("command", [["report", "--preset", "shallow-sigmoid", "--steps", "2"], ["presets"]])
def test_stdout_on_a_full_device(command):
    with open("/dev/full", "w") as full:
        proc = vgviz(*command, stdout=full)
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == ["vgviz: error: cannot write the output: No space left on device"]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX pipes")
@pytest.mark.parametrize("command", [["report", "--preset", "shallow-sigmoid", "--steps", "2"], ["presets"]])
def test_pipe_closed_early(command):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader has gone before vgviz writes a byte (`| head -c 0`)
    try:
        proc = subprocess.run([sys.executable, "-m", "vgviz.cli", *command], stdout=write_end,
                              stderr=subprocess.PIPE, text=True, timeout=TIMEOUT, env=env)
    finally:
        os.close(write_end)
    assert proc.returncode == 1
    assert proc.stderr == ""


def test_report_loss_series_is_bounded():
    """The loss series keeps at most `loss_points` points, on an even grid of steps, and each is
    exactly the loss of the step it names (the window's History policy)."""
    from vgviz.core.tasks import make_trainer

    config = RunConfig(depth=2, width=4, steps=64, batch_size=16, eval_every=1000)
    doc = run_report(config, loss_points=8)
    assert doc["steps"] == 64
    assert 4 <= len(doc["loss"]) == len(doc["loss_steps"]) <= 8
    stride = doc["loss_steps"][1] - doc["loss_steps"][0]
    assert stride > 1 and doc["loss_steps"] == list(range(0, 64, stride))[: len(doc["loss"])]
    trainer = make_trainer(config, capture_edges=False)
    every_loss = [trainer.step().loss for _ in range(64)]
    assert doc["loss"] == [every_loss[s] for s in doc["loss_steps"]]
    json.dumps(doc)
