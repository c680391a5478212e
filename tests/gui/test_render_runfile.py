"""vgviz render --run RUN: pictures drawn from a run file equal those of the run trained live."""
from __future__ import annotations

import os

import numpy as np
import pytest
from PySide6 import QtGui

from vgviz.cli import main

MLP = ["--preset", "deep-sigmoid", "--set", "depth=3", "--set", "width=8", "--set", "eval_every=2", "--steps", "6"]
LSTM = ["--preset", "lstm-T50", "--set", "seq_len=5", "--set", "width=5", "--set", "batch_size=8",
        "--set", "eval_every=2", "--steps", "6"]


def ok(capsys, *argv) -> str:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def fails(capsys, tmp_path, argv, *needles) -> str:
    before = set(os.listdir(tmp_path))
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("vgviz: error: "), err
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert set(os.listdir(tmp_path)) == before
    return lines[0]


def pixels(path) -> np.ndarray:
    image = QtGui.QImage(str(path)).convertToFormat(QtGui.QImage.Format.Format_RGB888)
    data = np.frombuffer(image.constBits(), np.uint8, image.sizeInBytes())
    return data.reshape(image.height(), image.bytesPerLine())[:, : image.width() * 3].reshape(
        image.height(), image.width(), 3).copy()


@pytest.fixture
def recorded(capsys, tmp_path):
    def record(args) -> str:
        path = tmp_path / "run.vgviz"
        ok(capsys, "train", *args, "--out", str(path))
        return str(path)
    return record


@pytest.mark.parametrize("args", [MLP, LSTM], ids=["mlp", "lstm"])
def test_the_diagram_from_a_file_is_the_live_one(capsys, tmp_path, recorded, args):
    run = recorded(args)
    ok(capsys, "render", "--run", run, "--view", "diagram", "--out", str(tmp_path / "file.png"))
    ok(capsys, "render", *args, "--view", "diagram", "--out", str(tmp_path / "live.png"))
    image = pixels(tmp_path / "file.png")
    assert image.shape == (700, 1200, 3)
    assert image[3, 3].min() > 240                                   # the lecture theme's background
    colourful = (image.max(axis=2).astype(int) - image.min(axis=2)) > 80
    assert colourful.mean() > 0.01                                   # the colour-mapped edges and nodes
    np.testing.assert_array_equal(image, pixels(tmp_path / "live.png"))


def test_a_frame_of_the_backprop_pass_from_the_final_weights(capsys, tmp_path, recorded):
    run = recorded(MLP)
    ok(capsys, "render", "--run", run, "--view", "diagram", "--frame", "7", "--out", str(tmp_path / "file.png"))
    ok(capsys, "render", *MLP, "--view", "diagram", "--frame", "7", "--out", str(tmp_path / "live.png"))
    np.testing.assert_array_equal(pixels(tmp_path / "file.png"), pixels(tmp_path / "live.png"))


def test_an_earlier_step_plots_and_timelapse(capsys, tmp_path, recorded):
    run = recorded(MLP)
    out = ok(capsys, "render", "--run", run, "--step", "4", "--view", "grad-norms", "--out", str(tmp_path / "g.png"))
    assert out.strip() == f"wrote {tmp_path / 'g.png'}"
    out = ok(capsys, "render", "--run", run, "--view", "loss", "--every", "2", "--out", f"{tmp_path / 'frames'}/")
    assert "(4 frames of" in out                                     # steps 0, 2, 4 and the last, 5
    frames = sorted(os.listdir(tmp_path / "frames"))
    assert len(frames) == 4 and all(name.endswith(".png") for name in frames)


def test_step_k_is_the_run_after_k_steps_as_the_live_render_captions_it(capsys, tmp_path, recorded, captions):
    """--step K draws the run after K steps: its caption says step K, as `render --steps K` would,
    and the last one, K = 6, is the picture a live 6-step render draws."""
    run = recorded(MLP)
    ok(capsys, "render", "--run", run, "--step", "6", "--view", "diagram", "--caption", "--out", str(tmp_path / "f.png"))
    ok(capsys, "render", *MLP, "--view", "diagram", "--caption", "--out", str(tmp_path / "live.png"))
    ok(capsys, "render", "--run", run, "--step", "2", "--view", "loss", "--caption", "--out", str(tmp_path / "l.png"))
    assert captions[0].endswith("step 6") and captions[0] == captions[1], captions
    assert captions[2].endswith("step 2"), captions[2]
    np.testing.assert_array_equal(pixels(tmp_path / "f.png"), pixels(tmp_path / "live.png"))


def test_render_run_refusals_are_one_line_before_drawing(capsys, tmp_path, recorded):
    run = recorded(MLP)
    out = str(tmp_path / "x.png")
    fails(capsys, tmp_path, ["render", "--run", run, "--step", "7", "--view", "diagram", "--out", out],
          "--step must be from 0 to 6")
    fails(capsys, tmp_path, ["render", "--run", run, "--step", "3", "--frame", "1", "--view", "diagram", "--out", out],
          "weights at step 3", "0, 1, 4, 6")
    fails(capsys, tmp_path, ["render", "--run", run, "--frame", "99", "--view", "diagram", "--out", out],
          "--frame must be from 1 to 9")
    fails(capsys, tmp_path, ["render", "--run", run, "--steps", "3", "--view", "diagram", "--out", out],
          "leave out --steps")
    fails(capsys, tmp_path, ["render", *MLP, "--step", "3", "--view", "diagram", "--out", out], "use it with --run")


def test_a_file_without_config_draws_the_diagram_but_not_the_backprop_pass(capsys, tmp_path, recorded):
    import sqlite3

    run = recorded(MLP)
    with sqlite3.connect(run) as db:
        db.execute("UPDATE meta SET value = 'null' WHERE key = 'config'")
    ok(capsys, "render", "--run", run, "--view", "diagram", "--out", str(tmp_path / "d.png"))
    assert pixels(tmp_path / "d.png").shape == (700, 1200, 3)
    fails(capsys, tmp_path, ["render", "--run", run, "--frame", "1", "--view", "diagram",
                             "--out", str(tmp_path / "f.png")], "no config", "backprop pass")
