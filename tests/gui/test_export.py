"""Pictures of the views: PNG scales, SVG vectors, the lecture theme, animations, errors (offscreen)."""
from __future__ import annotations

import errno
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import pyqtgraph as pg
from PySide6 import QtGui

from vgviz.core.config import RunConfig
from vgviz.core import files
from vgviz.gui import animation_writers as aw
from vgviz.gui import export as ex
from vgviz.gui.animate import OffscreenViews, timelapse_frame_count, timelapse_frames, trace_frames, train
from vgviz.gui.theme import DARK, LECTURE, ThemeError, get_theme

SMALL = RunConfig(depth=3, width=8, steps=4, eval_every=2)     # 4 Linear layers, 160 edges, a 9-frame pass
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def run():
    """Stats of a small run and the backprop pass recorded after it."""
    stats = []
    trainer = train(SMALL, on_stats=stats.append)
    return stats, trainer.trace()


def make_views(qtbot, run, theme=DARK, size=(600, 360)):
    stats, _ = run
    views = OffscreenViews(theme, diagram_size=size, plot_size=(420, 300))
    qtbot.addWidget(views.network)
    views.start(stats[0])
    for s in stats[1:]:
        views.add(s)
    views.refresh_plots()
    return views


@pytest.fixture
def views(qtbot, run):
    v = make_views(qtbot, run)
    yield v
    v.close()


def pixels(image: QtGui.QImage) -> np.ndarray:
    img = image.convertToFormat(QtGui.QImage.Format.Format_RGB32)
    arr = np.frombuffer(img.constBits(), dtype=np.uint32, count=img.bytesPerLine() // 4 * img.height())
    return arr.reshape(img.height(), img.bytesPerLine() // 4)[:, : img.width()]


def distinct(image: QtGui.QImage) -> int:
    return len(np.unique(pixels(image)))


def light(image: QtGui.QImage) -> np.ndarray:
    """Per-pixel lightness 0..255 (mean of r, g, b)."""
    p = pixels(image)
    return (((p >> 16) & 255) + ((p >> 8) & 255) + (p & 255)) / 3.0


def files_in(folder) -> set[str]:
    return set(os.listdir(folder))


# -- PNG -----------------------------------------------------------------------------------
@pytest.mark.parametrize("view", ["diagram", "loss", "grad-norms", "grad-flow"])
def test_png_scale_2_is_exactly_twice_scale_1_and_not_blank(views, tmp_path, view):
    widget = views.widget(view)
    one = ex.export_picture(widget, tmp_path / "one.png", view=view, scale=1)
    two = ex.export_picture(widget, tmp_path / "two.png", view=view, scale=2)
    a, b = QtGui.QImage(str(one)), QtGui.QImage(str(two))
    assert (a.width(), a.height()) == (widget.width(), widget.height())
    assert (b.width(), b.height()) == (2 * a.width(), 2 * a.height())
    assert distinct(a) > (50 if view == "diagram" else 10)
    assert distinct(b) > distinct(a) * 0.8             # re-drawn with more pixels, not a blank upscale


@pytest.mark.parametrize("view", ["diagram", "grad-norms"])
def test_scale_4_keeps_the_line_weight(views, view):
    """Lines are as heavy at 4× as at 1×, relative to the picture: diagram edges are 1 point
    wide (not one device pixel) and pyqtgraph's cosmetic curve pens are widened for the export
    (a hairline would cover about a quarter as much)."""
    widget = views.widget(view)
    one, four = ex.render_image(widget, 1), ex.render_image(widget, 4)
    if view == "diagram":
        def cover(img):
            return (pixels(img) != pixels(img)[2, 2]).mean()
    else:                                   # the output layer's curve: pixels near its colour
        col = views.theme.layer_colors(4)[-1]

        def cover(img):
            p = pixels(img)
            dist = abs(((p >> 16) & 255) - col.red()) + abs(((p >> 8) & 255) - col.green()) + abs((p & 255) - col.blue())
            return (dist < 60).mean()
    assert cover(four) > 0.7 * cover(one)


def test_caption_adds_a_band_under_the_picture(views):
    net = views.network
    plain = ex.render_image(net, 1)
    text = ex.caption_text(SMALL.summary(), 3, 4, 9, "B1 backward · layer 4 (output)")
    assert text == f"{SMALL.summary()} · step 3 · frame 4 of 9: B1 backward · layer 4 (output)"
    captioned = ex.render_image(net, 2, text)
    assert captioned.width() == 2 * plain.width()
    assert captioned.height() > 2 * plain.height()
    band = pixels(captioned)[2 * plain.height():]
    assert len(np.unique(band)) > 5                     # text was drawn in the band


# -- SVG -------------------------------------------------------------------------------------
def test_diagram_svg_is_xml_with_every_edge_a_vector(views, tmp_path, run):
    path = ex.export_picture(views.network, tmp_path / "d.svg", view="diagram")
    root = ET.parse(path).getroot()
    assert root.tag == SVG + "svg"
    assert root.get("width") == str(views.network.width())
    shapes = [e for e in root.iter() if e.tag in (SVG + "path", SVG + "polyline", SVG + "line")]
    n_edges = sum(e.size for e in run[0][-1].edge_abs)
    assert views.network.drawn_edge_count() == n_edges == 160
    assert len(shapes) >= n_edges
    texts = " ".join(e.text or "" for e in root.iter(SVG + "text"))
    assert "hidden1" in texts and "output" in texts    # labels stay text
    assert "Sans Serif" not in open(path, encoding="utf-8").read()  # a real family and a generic fallback


def test_plot_svg_curves_are_in_pixel_coordinates(views, tmp_path):
    path = ex.export_picture(views.widget("grad-norms"), tmp_path / "n.svg", view="grad-norms")
    root = ET.parse(path).getroot()
    lines = list(root.iter(SVG + "polyline")) + list(root.iter(SVG + "path"))
    # every layer's curve (4 layers, 5 measurements each) is a line through its points,
    # beside the two-point grid and tick lines
    curves = [e for e in lines if len((e.get("points") or "").split()) >= 4
              or ((e.get("d") or "").count("L") >= 3 and "Z" not in e.get("d"))]   # open lines, not boxes
    assert len(curves) >= 4 and len(lines) > len(curves)
    # no stretched group with a cosmetic stroke left: renderers ignoring vector-effect would smear it
    for g in root.iter(SVG + "g"):
        tr = g.get("transform", "")
        if tr and not tr.startswith("matrix(1,0,0,1,"):
            assert not any(k.get("vector-effect") for k in g), tr
    assert not list(root.iter(SVG + "image"))          # background and symbols are vectors too


def test_window_svg_is_refused(views, tmp_path):
    with pytest.raises(ex.ExportError, match="SVG is for the diagram and the plots"):
        ex.export_picture(views.network, tmp_path / "w.svg", view="window")
    assert files_in(tmp_path) == set()


# -- theme -------------------------------------------------------------------------------------
def test_lecture_theme_background_is_light_and_dark_theme_dark(qtbot, run):
    lecture = make_views(qtbot, run, LECTURE)
    dark = make_views(qtbot, run, DARK)
    try:
        for view in ("diagram", "loss"):
            lit = light(ex.render_image(lecture.widget(view)))
            dim = light(ex.render_image(dark.widget(view)))
            assert np.median(lit) > 230 and lit[:4, :4].min() > 240      # mostly white
            assert np.median(dim) < 50
        style = lecture.network.diagram_style()
        assert style.edge_width > 1 and QtGui.QColor(style.background).lightnessF() > 0.9
        # on white the colour map runs dark-for-strong: the strongest bucket is the darkest
        strongest, weakest = (lecture.network.bucket_color(b) for b in (lecture.network.scene.n_buckets - 1, 0))
        assert strongest.lightnessF() < weakest.lightnessF()
        assert lecture.network.font().pointSizeF() > dark.network.font().pointSizeF()
        assert all(c.lightnessF() < 0.5 for c in LECTURE.layer_colors(9))
    finally:
        lecture.close()
        dark.close()


def test_unknown_theme_and_colour_map():
    assert get_theme("lecture") is LECTURE
    with pytest.raises(ThemeError, match="unknown theme 'beamer'"):
        get_theme("beamer")
    with pytest.raises(ThemeError, match="unknown colour map 'jet'"):
        LECTURE.diagram_style("jet")
    for name in ("heat", "blue"):      # the lecture theme takes each family's map that starts at white
        assert pg.colormap.get(LECTURE.diagram_style(name).colormap).map(0.0, mode="qcolor").lightnessF() > 0.9


# -- animations ------------------------------------------------------------------------------------
def _trace_frames(views, trace, scale=1, caption=None):
    return trace_frames(len(trace), lambda i: views.network.show_frame(trace.display(i)),
                        views.network, scale, caption)


def test_gif_has_one_frame_per_trace_frame(views, run, tmp_path):
    from PIL import Image

    trace = run[1]
    assert len(trace) == 9
    n = aw.write_animation(_trace_frames(views, trace), tmp_path / "pass.gif", fps=2)
    assert n == 9
    with Image.open(tmp_path / "pass.gif") as gif:
        assert gif.n_frames == len(trace)
        assert gif.size == (views.network.width(), views.network.height())
        gif.seek(len(trace) - 1)
        last = np.asarray(gif.convert("RGB"))
        assert len(np.unique(last.reshape(-1, 3), axis=0)) > 30
        assert gif.info["duration"] > 0
    assert files_in(tmp_path) == {"pass.gif"}


def test_png_frames_folder_numbered_and_replaceable(views, run, tmp_path):
    trace = run[1]
    target = tmp_path / "frames"
    assert aw.write_animation(_trace_frames(views, trace), str(target) + os.sep) == 9
    names = sorted(os.listdir(target))
    assert names == [f"frame-{i:04d}.png" for i in range(1, 10)]
    assert aw.write_animation(_trace_frames(views, trace), str(target) + os.sep) == 9   # a re-export replaces
    assert sorted(os.listdir(target)) == names
    assert files_in(tmp_path) == {"frames"}
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(ex.ExportError, match="holds other files"):
        aw.write_animation(_trace_frames(views, trace), str(tmp_path / "mine") + os.sep)
    assert files_in(tmp_path / "mine") == {"notes.txt"}
    assert files_in(tmp_path) == {"frames", "mine"}


def test_mp4_when_available(views, run, tmp_path):
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
    trace = run[1]
    path = tmp_path / "pass.mp4"
    assert aw.write_animation(_trace_frames(views, trace), path, fps=2, hold_last=2) == 9
    frames, _ = imageio_ffmpeg.count_frames_and_secs(str(path))
    assert frames == 9 + 1                               # the last frame held twice as long
    assert files_in(tmp_path) == {"pass.mp4"}
    data = path.read_bytes()
    aw._verify_mp4(str(path), "pass.mp4")                # what a full MP4 is: ftyp, moov, mdat
    for cut in (len(data) - 1, len(data) // 2, 40):
        (tmp_path / "cut.mp4").write_bytes(data[:cut])
        with pytest.raises(ex.ExportError, match="not playable"):
            aw._verify_mp4(str(tmp_path / "cut.mp4"), "cut.mp4")


def test_cancelled_animation_leaves_nothing(views, run, tmp_path):
    trace = run[1]
    for target in (str(tmp_path / "a.gif"), str(tmp_path / "b") + os.sep):
        with pytest.raises(aw.Cancelled):
            aw.write_animation(_trace_frames(views, trace), target, progress=lambda i: i < 3)
    assert files_in(tmp_path) == set()


def test_timelapse_frames(qtbot, tmp_path):
    views = OffscreenViews(LECTURE, diagram_size=(500, 300), plot_size=(400, 280))
    try:
        frames = timelapse_frames(SMALL, 6, 2, "grad-norms", views, caption=lambda s: f"step {s}")
        assert timelapse_frame_count(6, 2) == 4
        assert aw.write_animation(frames, tmp_path / "t.gif", fps=10) == 4     # steps 0 (initial), 1, 3, 5
        assert len(views.history) == 6            # the initial measurement is step 0's row
    finally:
        views.close()


# -- errors: a clear message, no file left behind -------------------------------------------------
def test_unwritable_paths(views, tmp_path):
    blocker = tmp_path / "afile.txt"
    blocker.write_text("x")
    before = files_in(tmp_path)
    for path, message in ((blocker / "out.png", "is a file, not a folder"),
                          (tmp_path / "missing" / "out.png", "does not exist"),
                          (tmp_path, "it is a folder")):
        with pytest.raises(ex.ExportError, match=message):
            ex.export_picture(views.network, path, view="diagram")
    with pytest.raises(ex.ExportError, match="is a file, not a folder"):
        aw.write_animation(iter([]), blocker / "x.gif")
    assert files_in(tmp_path) == before


def test_failed_write_removes_the_temporary_file(views, tmp_path, monkeypatch):
    def broken_replace(src, dst):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(ex.os, "replace", broken_replace)
    with pytest.raises(ex.ExportError, match="cannot write .*Permission denied"):
        ex.export_picture(views.network, tmp_path / "d.png", view="diagram")
    assert files_in(tmp_path) == set()


@pytest.mark.parametrize("call, message", [
    (lambda w, p: ex.export_picture(w, p / "a.png", view="pie"), "unknown view 'pie'"),
    (lambda w, p: ex.export_picture(w, p / "a.png", view="diagram", scale=3), "scale must be 1, 2 or 4; got 3"),
    (lambda w, p: ex.export_picture(w, p / "a.png", view="diagram", scale=1.5), "scale must be 1, 2 or 4"),
    (lambda w, p: ex.export_picture(w, p / "a.jpg", view="diagram"), "unknown picture format '.jpg'"),
    (lambda w, p: ex.export_picture(w, p / "a.gif", view="diagram"), "is an animation"),
    (lambda w, p: aw.write_animation(iter([]), p / "a.gif", fps=0), "frame rate must be a positive number"),
    (lambda w, p: aw.write_animation(iter([]), p / "a.gif"), "no frames"),
])
def test_bad_requests_have_clear_messages(views, tmp_path, call, message):
    with pytest.raises(ex.ExportError, match=message):
        call(views.network, tmp_path)
    assert files_in(tmp_path) == set()


def test_default_file_names():
    assert ex.default_file_name("deep-sigmoid", "diagram", 120, 3, 2) == "vgviz-deep-sigmoid-diagram-step120-frame3-2x.png"
    assert ex.default_file_name(None, "loss", 5, ext="svg", scale=4) == "vgviz-custom-loss-step5.svg"
    assert ex.default_file_name("deep-relu-he", "window", None, ext="frames") == "vgviz-deep-relu-he-window-frames"


# -- a full disk, a writer that fails, a killed export ------------------------------------------
OLD = b"the user's old file, which a failed export must leave as it is"


@pytest.fixture
def full_disk(monkeypatch):
    """Every file vgviz writes with Python I/O fails half-way with ENOSPC, as on a full disk."""
    real_open = open

    class HalfWritten:
        def __init__(self, fh):
            self.fh = fh

        def write(self, data):
            self.fh.write(bytes(data)[: len(data) // 2])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        def __getattr__(self, name):
            return getattr(self.fh, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

    def open_on_a_full_disk(file, mode="r", *args, **kwargs):
        fh = real_open(file, mode, *args, **kwargs)
        return HalfWritten(fh) if "w" in mode else fh

    monkeypatch.setattr(files, "open", open_on_a_full_disk, raising=False)


@pytest.mark.parametrize("name", ["d.png", "d.svg", "frames/"])
def test_a_full_disk_says_so_and_keeps_the_old_file(views, run, tmp_path, full_disk, name):
    if name.endswith("/"):                                   # an earlier export of frames
        (tmp_path / "frames").mkdir()
        old = tmp_path / "frames" / "frame-0001.png"
        old.write_bytes(OLD)
        with pytest.raises(ex.ExportError, match="cannot write .*: no space left on the device$"):
            aw.write_animation(_trace_frames(views, run[1]), str(tmp_path / "frames") + os.sep)
        assert files_in(tmp_path / "frames") == {"frame-0001.png"}
    else:
        old = tmp_path / name
        old.write_bytes(OLD)
        with pytest.raises(ex.ExportError, match="cannot write .*: no space left on the device$"):
            ex.export_picture(views.network, old, view="diagram")
    assert old.read_bytes() == OLD
    assert files_in(tmp_path) == {name.rstrip("/")}          # no temporary file left


def test_a_gif_written_short_is_not_kept(views, run, tmp_path, monkeypatch):
    from PIL import Image

    real_save = Image.Image.save

    def save_cut_short(self, fp, *args, **kwargs):          # a writer that stops without an error
        real_save(self, fp, *args, **kwargs)
        with open(fp, "r+b") as fh:
            fh.truncate(os.path.getsize(fp) // 2)

    monkeypatch.setattr(Image.Image, "save", save_cut_short)
    old = tmp_path / "pass.gif"
    old.write_bytes(OLD)
    with pytest.raises(ex.ExportError, match="cannot write .*pass.gif: the GIF written (is incomplete|cannot be read)"):
        aw.write_animation(_trace_frames(views, run[1]), old)
    assert old.read_bytes() == OLD
    assert files_in(tmp_path) == {"pass.gif"}


@pytest.mark.skipif(sys.platform == "win32", reason="the stand-in ffmpeg is a script")
@pytest.mark.parametrize("exit_code, written, message", [
    (0, b"\0\0\0\x10ftypisom\0\0\0\0\0\0\0\x10mdat12345678",
     "the video ffmpeg wrote is not playable: it has no index \\(moov\\)"),
    (1, b"\0\0\0\x10ftypisom", "ffmpeg failed: Error writing trailer: No space left on device"),
])
def test_an_mp4_ffmpeg_did_not_finish_is_not_kept(views, run, tmp_path, monkeypatch, exit_code, written, message):
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
    fake = tmp_path / "ffmpeg"
    fake.write_text(f"#!{sys.executable}\nimport sys\nsys.stdin.buffer.read()\n"
                    f"open(sys.argv[-1], 'wb').write({written!r})\n"
                    "sys.stderr.write('[out#0/mp4 @ 0x5e1] Error writing trailer: No space left on device\\n')\n"
                    f"sys.exit({exit_code})\n")
    fake.chmod(0o755)
    monkeypatch.setattr(imageio_ffmpeg, "get_ffmpeg_exe", lambda: str(fake))
    old = tmp_path / "pass.mp4"
    old.write_bytes(OLD)
    with pytest.raises(ex.ExportError, match=f"cannot write .*pass.mp4: {message}"):
        aw.write_animation(_trace_frames(views, run[1]), old)
    assert old.read_bytes() == OLD
    assert files_in(tmp_path) == {"pass.mp4", "ffmpeg"}


@pytest.mark.skipif(sys.platform == "win32", reason="the stand-in ffmpeg is a script")
def test_an_mp4_that_fails_on_a_full_disk_says_so(views, run, tmp_path, monkeypatch):
    """ffmpeg's last line on a full disk is often about its streams, not the disk."""
    import shutil

    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
    fake = tmp_path / "ffmpeg"
    fake.write_text(f"#!{sys.executable}\nimport sys\nsys.stdin.buffer.read()\n"
                    "sys.stderr.write('Nothing was written into output file\\n')\nsys.exit(1)\n")
    fake.chmod(0o755)
    monkeypatch.setattr(imageio_ffmpeg, "get_ffmpeg_exe", lambda: str(fake))
    monkeypatch.setattr(aw.shutil, "disk_usage", lambda folder: shutil._ntuple_diskusage(10**9, 10**9, 0))
    old = tmp_path / "pass.mp4"
    old.write_bytes(OLD)
    with pytest.raises(ex.ExportError, match="pass.mp4: no space left on the device \\(ffmpeg: Nothing was"):
        aw.write_animation(_trace_frames(views, run[1]), old)
    assert old.read_bytes() == OLD


def test_the_new_file_is_on_the_disk_before_it_replaces_the_old(views, tmp_path, monkeypatch):
    """fsync before the rename: a crash then leaves the old file or the whole new one."""
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(ex.os, "fsync",
                        lambda fd: (events.append(("fsync", os.fstat(fd).st_ino)), real_fsync(fd)))
    monkeypatch.setattr(ex.os, "replace", lambda a, b: (events.append(("replace", os.stat(a).st_ino)),
                                                       real_replace(a, b)))
    (tmp_path / "d.png").write_bytes(OLD)
    ex.export_picture(views.network, tmp_path / "d.png", view="diagram")
    inode = os.stat(tmp_path / "d.png").st_ino
    assert ("replace", inode) in events
    assert ("fsync", inode) in events[: events.index(("replace", inode))]


def _a_dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.mark.skipif(os.name != "posix", reason="on Windows only a day-old temporary is stale")
def test_temporaries_of_a_killed_export_are_cleaned_by_the_next(views, tmp_path):
    dead, alive = _a_dead_pid(), os.getpid()
    stale = [f".vgviz-{dead}-k2j4h1x0.png", f".vgviz-frames-{dead}-abcd_123", f".vgviz-old-{dead}-zz99aa00"]
    kept = [f".vgviz-{alive}-k2j4h1x0.png",              # a live export's (this process)
            f".vgviz-{dead}-young123.mp4",                # too recent to be sure
            ".vgviz-notes.txt", f"vgviz-{dead}-k2j4h1x0.png", f".vgviz-{dead}-k2j4h1x0.png.mine"]
    for name in stale + kept:
        path = tmp_path / name
        if "frames" in name or "old" in name:
            (path / "x").mkdir(parents=True)
            (path / "x" / "frame-0001.png").write_bytes(b"png")
        else:
            path.write_bytes(b"partial")
        if "young" not in name:
            hour_ago = time.time() - 3600
            os.utime(path, (hour_ago, hour_ago))
    ex.export_picture(views.network, tmp_path / "d.png", view="diagram")
    assert files_in(tmp_path) == set(kept) | {"d.png"}
    aw.write_animation(iter([ex.render_image(views.network)]), str(tmp_path / "frames") + os.sep)
    assert files_in(tmp_path) == set(kept) | {"d.png", "frames"}


def test_a_gif_too_large_stops_at_its_first_frame(views, run, tmp_path):
    drawn = []

    def frames():
        for image in _trace_frames(views, run[1]):
            drawn.append(image)
            yield image

    with pytest.raises(ex.ExportError, match="the GIF would be too large \\(1000000 frames of"):
        aw.write_animation(frames(), tmp_path / "big.gif", count=1_000_000)
    assert len(drawn) == 1 and files_in(tmp_path) == set()
