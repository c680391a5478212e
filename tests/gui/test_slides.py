"""vgviz slides --out DIR: the lecture set at 1920×1080 on one colour range; a bad DIR is one line."""
from __future__ import annotations

import os

from PySide6 import QtGui

from vgviz.cli import main
from vgviz.gui.network_view import NetworkView
from vgviz.slides import RUNS, slide_names

from tests.cli_errors import one_line_error


def test_slides_writes_the_set_on_one_colour_range(capsys, tmp_path, repo_presets, monkeypatch):
    ranges = []
    real = NetworkView.reapply_range

    def reapply_range(self):                      # the range each diagram is drawn on, once chosen
        real(self)
        ranges.append((self.scene.mode, self.color_range()))

    monkeypatch.setattr(NetworkView, "reapply_range", reapply_range)
    out = tmp_path / "slides"                      # made by the command
    assert main(["slides", "--out", str(out), "--steps", "2"]) == 0
    _, err = capsys.readouterr()
    names = slide_names()
    assert sorted(os.listdir(out)) == names        # no temporary file left behind
    for name in names:
        image = QtGui.QImage(str(out / name))
        assert (image.width(), image.height()) == (1920, 1080), name
    # progress on stderr: one line per slide written, the last one says all are done
    written = [line for line in err.splitlines() if line.startswith("vgviz: slides: ") and line.endswith(".png")]
    assert len(written) == len(names) and written[-1].startswith(f"vgviz: slides: {len(names)}/{len(names)} ")
    # every feed-forward diagram and both sides of the compare slide: one range
    assert len(ranges) == len(RUNS) + 2 and len(set(ranges)) == 1, ranges
    mode, (lo, hi) = ranges[0]
    assert mode == "shared"                        # the app's shared range mode, one code path
    assert 0 < lo < hi


def test_a_bad_out_dir_is_one_line(capsys, tmp_path):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    one_line_error(capsys, ["slides", "--out", str(a_file)], "is a file, not a folder")
    one_line_error(capsys, ["slides", "--out", str(a_file / "deeper")], "cannot make the folder")
    one_line_error(capsys, ["slides", "--out", str(tmp_path), "--steps", "0"], "--steps")
    assert os.listdir(tmp_path) == ["notes.txt"]     # nothing made
    if os.geteuid() != 0:                           # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o555)
        one_line_error(capsys, ["slides", "--out", str(locked)], "permission denied")
