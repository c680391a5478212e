"""vgviz render: pictures without a display; one-line errors with exit code 2 and no file left."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from PySide6 import QtGui

from vgviz.cli import main
from vgviz.render import use_offscreen_if_headless

SMALL = ["--set", "depth=3", "--set", "width=8", "--set", "eval_every=2", "--steps", "3"]
TRACE_FRAMES = 9          # 4 Linear layers forward, the loss, 4 backward


def render(capsys, *args):
    code = main(["render", *SMALL, *args])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def fails(capsys, tmp_path, argv, *needles):
    before = set(os.listdir(tmp_path))
    code = main(["render", *argv])
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("vgviz: error: ")
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert set(os.listdir(tmp_path)) == before           # no file, partial or whole
    return lines[0]


def test_render_in_a_fresh_process_without_a_display(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    out = tmp_path / "slide.png"
    proc = subprocess.run([sys.executable, "-m", "vgviz.cli", "render", *SMALL, "--view", "diagram",
                           "--theme", "lecture", "--scale", "2", "--size", "600x350", "--caption", "--out", str(out)],
                          env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""                          # no Qt platform noise, only vgviz's own lines
    assert f"wrote {out}" in proc.stdout
    image = QtGui.QImage(str(out))
    assert image.width() == 1200 and image.height() > 700            # 2× and a caption band
    corner = image.pixelColor(4, 4)
    assert corner.lightness() > 240                                   # the lecture theme is light
    # an error from `python -m vgviz.cli` is one line and exit code 2 too (not a traceback)
    proc = subprocess.run([sys.executable, "-m", "vgviz.cli", "render", "--view", "window", "--out",
                           str(tmp_path / "w.svg")], env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == ["vgviz: error: SVG is for the diagram and the plots; export the window as PNG"]


def test_offscreen_only_when_there_is_no_display():
    env = {}
    assert use_offscreen_if_headless(env, "linux") and env["QT_QPA_PLATFORM"] == "offscreen"
    for env in ({"DISPLAY": ":0"}, {"WAYLAND_DISPLAY": "wayland-0"}, {"QT_QPA_PLATFORM": "xcb"}):
        before = dict(env)
        assert not use_offscreen_if_headless(env, "linux") and env == before
    assert not use_offscreen_if_headless({}, "darwin") and not use_offscreen_if_headless({}, "win32")


def test_render_each_view_png_and_svg(capsys, tmp_path):
    sizes = {"diagram": (500, 300), "loss": (400, 260), "grad-norms": (400, 260), "grad-flow": (400, 260)}
    for view, (w, h) in sizes.items():
        render(capsys, "--view", view, "--size", f"{w}x{h}", "--theme", "dark", "--out", str(tmp_path / f"{view}.png"))
        image = QtGui.QImage(str(tmp_path / f"{view}.png"))
        assert (image.width(), image.height()) == (w, h)
        assert image.pixelColor(3, 3).lightness() < 60             # the dark theme
    render(capsys, "--view", "grad-flow", "--out", str(tmp_path / "flow.svg"))
    assert (tmp_path / "flow.svg").read_text(encoding="utf-8").count("<path") >= 4        # one bar per layer


def test_render_a_frame_and_the_whole_pass(capsys, tmp_path):
    from PIL import Image

    render(capsys, "--view", "diagram", "--frame", str(TRACE_FRAMES), "--size", "500x300",
           "--out", str(tmp_path / "last.png"))
    assert QtGui.QImage(str(tmp_path / "last.png")).width() == 500
    out = render(capsys, "--view", "window", "--theme", "dark", "--size", "1300x800",
                 "--out", str(tmp_path / "pass.gif"))
    assert f"{TRACE_FRAMES} frames" in out and "drawn at" not in out
    with Image.open(tmp_path / "pass.gif") as gif:
        assert gif.n_frames == TRACE_FRAMES and gif.size == (1300, 800)
    out = render(capsys, "--view", "window", "--size", "600x400", "--out", str(tmp_path / "small.png"))
    assert "the smallest this view can be" in out


def test_render_a_timelapse_folder(capsys, tmp_path):
    render(capsys, "--view", "loss", "--every", "1", "--size", "400x260", "--out", str(tmp_path / "lapse") + os.sep)
    assert sorted(os.listdir(tmp_path / "lapse")) == [f"frame-{i:04d}.png" for i in range(1, 5)]


@pytest.mark.parametrize("argv, needles", [
    (["--view", "pie", "--out", "x.png"], ("--view", "invalid choice: 'pie'")),
    (["--view", "diagram", "--scale", "3", "--out", "x.png"], ("--scale", "invalid choice: 3")),
    (["--view", "diagram", "--out", "x.jpg"], ("unknown picture format '.jpg'",)),
    (["--view", "window", "--out", "x.svg"], ("SVG is for the diagram and the plots",)),
    (["--view", "diagram", "--frame", "2", "--out", "x.gif"], ("--frame picks one picture",)),
    (["--view", "loss", "--frame", "2", "--out", "x.png"], ("not on loss",)),
    (["--view", "loss", "--out", "x.gif"], ("use --every K",)),
    (["--view", "diagram", "--every", "2", "--out", "x.png"], ("--every makes a time-lapse",)),
    (["--view", "diagram", "--size", "12", "--out", "x.png"], ("--size", "WIDTHxHEIGHT")),
    (["--view", "diagram", "--set", "depth=0", "--out", "x.png"], ("depth: must be an integer from 1 to 100",)),
])
def test_bad_options(capsys, tmp_path, monkeypatch, argv, needles):
    monkeypatch.chdir(tmp_path)
    fails(capsys, tmp_path, argv, *needles)


def test_unwritable_targets(capsys, tmp_path):
    blocker = tmp_path / "notes.txt"
    blocker.write_text("x")
    for out, needle in ((blocker / "d.png", "is a file, not a folder"), (tmp_path / "no" / "d.png", "does not exist"),
                        (tmp_path, "it is a folder"), (str(tmp_path) + os.sep, "the folder holds other files"),
                        (str(blocker) + os.sep, "it is a file, not a folder")):
        fails(capsys, tmp_path, [*SMALL, "--view", "diagram", "--out", str(out)], needle)


def test_read_only_folder(capsys, tmp_path, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):     # root writes anywhere: let the check see what a user would
            import vgviz.gui.export as ex
            monkeypatch.setattr(ex.os, "access", lambda path, mode: os.path.abspath(path) != str(locked))
        fails(capsys, locked, [*SMALL, "--view", "diagram", "--out", str(locked / "d.png")], "permission denied")
    finally:
        locked.chmod(0o700)


def test_frame_out_of_range(capsys, tmp_path, monkeypatch):
    def no_training(*args, **kwargs):
        raise AssertionError("trained before checking --frame")

    monkeypatch.setattr("vgviz.core.tasks.trainer.Trainer.__init__", no_training)
    for k in (0, TRACE_FRAMES + 1):
        fails(capsys, tmp_path, [*SMALL, "--view", "diagram", "--frame", str(k), "--out", str(tmp_path / "f.png")],
              f"--frame must be from 1 to {TRACE_FRAMES}", f"got {k}")


def test_a_gif_too_large_is_refused_before_training(capsys, tmp_path, monkeypatch):
    def no_training(*args, **kwargs):
        raise AssertionError("trained before checking the GIF's size")

    monkeypatch.setattr("vgviz.core.tasks.trainer.Trainer.__init__", no_training)
    fails(capsys, tmp_path, [*SMALL, "--steps", "100000", "--every", "1", "--view", "loss", "--scale", "4",
                             "--out", str(tmp_path / "lapse.gif")], "the GIF would be too large (100001 frames")
    fails(capsys, tmp_path, [*SMALL, "--view", "diagram", "--size", "8000x8000", "--scale", "4",
                             "--out", str(tmp_path / "pass.gif")],
          f"the GIF would be too large ({TRACE_FRAMES} frames of 32000×32000)")


def _render_on_a_full_disk(out, limit=16_384):
    """`vgviz render` in a process whose files cannot grow past ``limit`` bytes (writes fail
    with EFBIG, as on a full disk; ffmpeg inherits the limit)."""
    import resource
    import signal

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run([sys.executable, "-m", "vgviz.cli", "render", *SMALL, "--view", "diagram",
                           "--size", "500x300", "--out", str(out)],
                          env=env, capture_output=True, text=True, timeout=180, preexec_fn=small_files)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_FSIZE as a full disk: Linux")
@pytest.mark.parametrize("name", ["old.mp4", "old.png"])
def test_a_full_disk_keeps_the_old_file(tmp_path, name):
    """The writers that write themselves (ffmpeg) and through Python; GIF, SVG and PNG frames
    on a full disk: test_export.py."""
    from vgviz.gui import export as ex

    if name.endswith(".mp4") and not ex.mp4_available():
        pytest.skip("imageio-ffmpeg is not installed")
    out = tmp_path / name
    old = os.urandom(50_000)                                   # the user's file, larger than the limit
    out.write_bytes(old)
    proc = _render_on_a_full_disk(out, limit=4096)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"vgviz: error: cannot write {out}"), proc.stderr
    assert "too large for the device" in lines[0]
    assert out.read_bytes() == old                             # byte for byte
    assert os.listdir(tmp_path) == [name]                      # and no temporary file left


def test_the_caption_names_the_steps_completed(capsys, tmp_path, captions):
    """`render --steps 200` trains 200 steps: its caption says step 200 (not the last stats' index 199)."""
    out = tmp_path / "d.png"
    assert main(["render", "--set", "depth=2", "--set", "width=4", "--steps", "200", "--view", "diagram",
                 "--size", "400x300", "--caption", "--out", str(out)]) == 0, capsys.readouterr().err
    assert out.exists() and len(captions) == 1
    assert "step 200" in captions[0] and "199" not in captions[0], captions[0]
