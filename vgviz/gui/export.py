"""Pictures of the views: PNG at 1×/2×/4×, SVG, and animations (GIF, MP4, numbered PNGs).

Every picture is painted from the widget itself (``QWidget.render``) into a
QImage whose device pixel ratio is the scale, so a 4× PNG is the same picture
drawn with four times the pixels (text and lines re-rasterised, not upscaled),
or into a QSvgGenerator for vector output. An optional caption band under the
picture says what it is (the config in one line, the step, the frame).

Files are written next to their target under a temporary name and moved into
place with os.replace, so a failed or cancelled export leaves no partial file.
Errors become ``ExportError`` with one readable line.
"""
from __future__ import annotations

import contextlib
import errno
import math
import os
import re
import shutil
import signal
import struct
import subprocess
import tempfile
import threading
import time
from collections import deque
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterable, Iterator

from PySide6 import QtCore, QtGui, QtSvg, QtWidgets

VIEWS = ("window", "diagram", "loss", "grad-norms", "grad-flow", "forward-signal")
VIEW_TITLES = {"window": "Whole window", "diagram": "Network diagram", "loss": "Loss plot",
               "grad-norms": "Gradient norm per layer plot", "grad-flow": "Gradient flow plot",
               "forward-signal": "Forward signal plot"}
VECTOR_VIEWS = ("diagram", "loss", "grad-norms", "grad-flow", "forward-signal")
SCALES = (1, 2, 4)
PICTURE_FORMATS = ("png", "svg")
ANIMATION_FORMATS = ("gif", "mp4", "frames")   # frames: a folder of numbered PNGs
MAX_GIF_PIXELS = 400_000_000                    # all frames together, as 8-bit pixels held in memory
_FRAME_NAME = re.compile(r"frame-\d{4,}\.png")  # what a folder of frames holds (and may be replaced)


class ExportError(Exception):
    """An export that cannot be done; the message is one line for a dialog or stderr."""


# -- checks -----------------------------------------------------------------------------
def check_view(view: str) -> str:
    if view not in VIEWS:
        raise ExportError(f"unknown view {view!r} (choose {', '.join(VIEWS)})")
    return view


def check_scale(scale) -> int:
    try:
        value = int(scale)
    except (TypeError, ValueError):
        value = None
    if value not in SCALES or (isinstance(scale, float) and scale != value):
        raise ExportError(f"scale must be 1, 2 or 4; got {scale!r}")
    return value


def format_of(path: str | os.PathLike) -> str:
    """png | svg | gif | mp4 | frames (a folder path ending in a separator)."""
    text = os.fspath(path)
    if text.endswith(("/", os.sep)):
        return "frames"
    if os.path.isdir(text):
        raise ExportError(f"cannot write {text}: it is a folder (name a file, or end the path with "
                          f"{os.sep} for numbered PNG frames in it)")
    suffix = Path(text).suffix.lower().lstrip(".")
    if suffix in PICTURE_FORMATS or suffix in ("gif", "mp4"):
        return suffix
    raise ExportError(f"{text}: unknown picture format {('.' + suffix) if suffix else '(no suffix)'!r} "
                      "(use .png, .svg, .gif, .mp4, or a folder ending in / for numbered PNG frames)")


def check_target(path: str | os.PathLike, fmt: str | None = None) -> str:
    """Raise ExportError now if ``path`` cannot be written (before anything is drawn)."""
    text = os.fspath(path)
    fmt = fmt or format_of(text)
    if fmt == "frames":
        target = os.path.normpath(os.path.abspath(text))
        folder = _target_folder(target)
        if os.path.exists(target) and not os.path.isdir(target):
            raise ExportError(f"cannot write {text}: it is a file, not a folder")
        if os.path.isdir(target):
            # replace only an earlier export of frames, never a folder holding anything else
            strangers = sorted(n for n in os.listdir(target) if not _FRAME_NAME.fullmatch(n))
            if strangers:
                raise ExportError(f"cannot write frames into {text}: the folder holds other files "
                                  f"(e.g. {strangers[0]}); choose a new or empty folder")
    else:
        if os.path.isdir(text):
            raise ExportError(f"cannot write {text}: it is a folder")
        folder = _target_folder(text)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ExportError(f"cannot write {text}: permission denied")
    return fmt


def check_format(view: str, fmt: str) -> None:
    check_view(view)
    if fmt == "svg" and view not in VECTOR_VIEWS:
        raise ExportError("SVG is for the diagram and the plots; export the window as PNG")
    if fmt not in PICTURE_FORMATS + ANIMATION_FORMATS:
        raise ExportError(f"unknown format {fmt!r}")


def mp4_available() -> bool:
    try:
        import imageio_ffmpeg  # noqa: F401
    except ImportError:
        return False
    return True


MP4_MISSING = "MP4 needs the optional package imageio-ffmpeg: pip install 'vgviz[video]' (GIF works without it)"


# -- names and captions ---------------------------------------------------------------------
def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "run"


def default_file_name(preset: str | None, view: str, step: int | None, frame: int | None = None,
                      scale: int = 1, ext: str = "png") -> str:
    """What the picture is, e.g. ``vgviz-deep-sigmoid-diagram-step120-frame3-2x.png``
    (frame numbers as the stepper shows them, from 1). ``ext`` 'frames' gives a folder name."""
    parts = ["vgviz", _slug(preset or "custom"), view]
    if step is not None:
        parts.append(f"step{step}")
    if frame is not None:
        parts.append(f"frame{frame}")
    if scale != 1 and ext not in ("svg",):
        parts.append(f"{scale}x")
    name = "-".join(parts)
    return name + "-frames" if ext == "frames" else f"{name}.{ext}"


def caption_text(summary: str, step: int | None = None, frame: int | None = None, n_frames: int | None = None,
                 frame_label: str | None = None) -> str:
    """The export caption: the config in one line, the step, and the backprop frame if any."""
    parts = [summary]
    if step is not None:
        parts.append(f"step {step}")
    if frame is not None:
        text = f"frame {frame}" + (f" of {n_frames}" if n_frames else "")
        if frame_label:
            text += f": {frame_label}"
        parts.append(text)
    return " · ".join(parts)


# -- painting -----------------------------------------------------------------------------------
def _colors_of(widget: QtWidgets.QWidget) -> tuple[QtGui.QColor, QtGui.QColor]:
    """Background and text colour for the caption band under ``widget``."""
    style = getattr(widget, "diagram_style", None)
    if callable(style):
        s = style()
        return QtGui.QColor(s.background), QtGui.QColor(s.text)
    if isinstance(widget, QtWidgets.QGraphicsView):
        bg = widget.backgroundBrush().color()
        fg = QtGui.QColor("#151518") if bg.lightnessF() > 0.5 else QtGui.QColor("#e1e1e6")
        return bg, fg
    pal = widget.palette()
    return pal.color(QtGui.QPalette.ColorRole.Window), pal.color(QtGui.QPalette.ColorRole.WindowText)


def _caption_font(widget: QtWidgets.QWidget) -> QtGui.QFont:
    font = QtGui.QFont(widget.font())
    if font.pointSizeF() > 0:
        font.setPointSizeF(font.pointSizeF() * 1.05)
    return font


def caption_height(widget: QtWidgets.QWidget, caption: str | None, width: int | None = None) -> int:
    """Height in logical pixels of the caption band for ``widget`` (0 without a caption)."""
    if not caption:
        return 0
    width = width or widget.width()
    fm = QtGui.QFontMetrics(_caption_font(widget), widget)
    pad = max(4, fm.height() // 3)
    rect = fm.boundingRect(QtCore.QRect(0, 0, max(width - 2 * pad, 10), 10_000),
                           int(QtCore.Qt.TextFlag.TextWordWrap), caption)
    return rect.height() + 2 * pad


def _scaled_pen(pen: QtGui.QPen, scale: float) -> QtGui.QPen:
    out = QtGui.QPen(pen)
    out.setWidthF(max(pen.widthF(), 1.0) * scale)
    return out


@contextlib.contextmanager
def _export_mode(widget: QtWidgets.QWidget, scale: int = 1) -> Iterator[None]:
    """pyqtgraph items in export mode while painting a picture: antialiased lines (the
    live view saves that time) and scatter symbols drawn as shapes, not copied from a 1×
    bitmap atlas (blurry at 4×, and the SVG writer would embed the whole atlas per dot).

    pyqtgraph's lines use cosmetic pens, whose width is in device pixels: at 2× or 4× their
    widths are multiplied too, or a 4× plot would have hairlines next to 4× text."""
    import pyqtgraph as pg

    items = []
    for view in [widget] + widget.findChildren(QtWidgets.QGraphicsView):
        if isinstance(view, QtWidgets.QGraphicsView) and view.scene() is not None:
            items += [i for i in view.scene().items() if hasattr(i, "setExportMode")]
    restore = []
    for item in items:
        item.setExportMode(True, {"antialias": True, "resolutionScale": 1.0})
        if scale == 1:
            continue
        if isinstance(item, (pg.PlotCurveItem, pg.PlotDataItem)):     # the data item's pen: legend samples
            for key in ("pen", "shadowPen"):
                pen = item.opts.get(key)
                if isinstance(pen, QtGui.QPen) and pen.isCosmetic() and pen.style() != QtCore.Qt.PenStyle.NoPen:
                    restore.append((item.opts.__setitem__, key, pen))
                    item.opts[key] = _scaled_pen(pen, scale)
        elif isinstance(item, pg.AxisItem):
            pen = item.pen()
            restore.append((lambda _k, p, a=item: a.setPen(p), None, pen))
            item.setPen(_scaled_pen(pen, scale))
    # the diagram draws a live run cheaply (no antialiasing, labels' numbers held a moment):
    # a picture gets full quality and the numbers of the very frame it shows
    from .network_view import NetworkView

    diagrams = [v for v in [widget] + widget.findChildren(NetworkView) if isinstance(v, NetworkView)]
    live = [v for v in diagrams if v.live]
    for v in live:
        v.set_live(False)
    try:
        yield
    finally:
        for item in items:
            item.setExportMode(False)
        for setter, key, pen in reversed(restore):
            setter(key, pen)
        for v in live:
            v.set_live(True)


def _paint(p: QtGui.QPainter, widget: QtWidgets.QWidget, caption: str | None, scale: int = 1) -> None:
    bg, fg = _colors_of(widget)
    w, h = widget.width(), widget.height()
    p.fillRect(QtCore.QRect(0, 0, w, h), bg)
    flags = QtWidgets.QWidget.RenderFlag.DrawWindowBackground | QtWidgets.QWidget.RenderFlag.DrawChildren
    with _export_mode(widget, scale):
        QtWidgets.QWidget.render(widget, p, QtCore.QPoint(), QtGui.QRegion(), flags)
    if caption:
        ch = caption_height(widget, caption)
        font = _caption_font(widget)
        fm = QtGui.QFontMetrics(font, widget)
        pad = max(4, fm.height() // 3)
        p.fillRect(QtCore.QRect(0, h, w, ch), bg)
        p.setPen(QtGui.QPen(fg))
        p.setFont(font)
        p.drawText(QtCore.QRect(pad, h + pad, w - 2 * pad, ch - 2 * pad),
                   int(QtCore.Qt.TextFlag.TextWordWrap | QtCore.Qt.AlignmentFlag.AlignLeft
                       | QtCore.Qt.AlignmentFlag.AlignVCenter), caption)


def _prepare(widget: QtWidgets.QWidget) -> None:
    """Layouts and pending resizes done, so a widget never shown on screen renders right.

    pyqtgraph sizes an axis to its tick labels while painting them and applies the new
    width at the next layout pass: a plot whose data just changed is painted once into a
    scratch image first, so the picture has the axis the screen would show a moment later."""
    widget.ensurePolished()
    for layout_owner in [widget] + widget.findChildren(QtWidgets.QWidget):
        layout = layout_owner.layout()
        if layout is not None:
            layout.activate()
    QtWidgets.QApplication.sendPostedEvents()
    if isinstance(widget, QtWidgets.QGraphicsView) or widget.findChildren(QtWidgets.QGraphicsView):
        scratch = QtGui.QImage(max(widget.width(), 1), max(widget.height(), 1),
                               QtGui.QImage.Format.Format_ARGB32_Premultiplied)
        p = QtGui.QPainter(scratch)
        try:
            QtWidgets.QWidget.render(widget, p, QtCore.QPoint())
        finally:
            p.end()
        for _ in range(2):
            QtWidgets.QApplication.sendPostedEvents()


def render_image(widget: QtWidgets.QWidget, scale: int = 1, caption: str | None = None) -> QtGui.QImage:
    """The widget (and a caption band under it) as an opaque image of scale × its size."""
    scale = check_scale(scale)
    _prepare(widget)
    w, h = widget.width(), widget.height() + caption_height(widget, caption)
    if w <= 0 or h <= 0:
        raise ExportError("the view has no size (is it hidden?)")
    image = QtGui.QImage(w * scale, h * scale, QtGui.QImage.Format.Format_ARGB32_Premultiplied)
    image.setDevicePixelRatio(scale)
    image.fill(_colors_of(widget)[0])
    p = QtGui.QPainter(image)
    try:
        p.setRenderHint(QtGui.QPainter.RenderHint.TextAntialiasing, True)
        _paint(p, widget, caption, scale)
    finally:
        p.end()
    return image.convertToFormat(QtGui.QImage.Format.Format_RGB32)


def render_svg(widget: QtWidgets.QWidget, caption: str | None = None, title: str = "vgviz",
               description: str = "") -> bytes:
    """The widget as SVG: lines, curves and text stay vectors (colour bars are small images)."""
    _prepare(widget)
    w, h = widget.width(), widget.height() + caption_height(widget, caption)
    buf = QtCore.QBuffer()
    buf.open(QtCore.QIODevice.OpenModeFlag.WriteOnly)
    gen = QtSvg.QSvgGenerator()
    gen.setOutputDevice(buf)
    gen.setSize(QtCore.QSize(w, h))
    gen.setViewBox(QtCore.QRect(0, 0, w, h))
    gen.setResolution(round(widget.logicalDpiX()) or 96)   # font point sizes → the widget's pixels
    gen.setTitle(title)
    gen.setDescription(description or caption or title)
    # pyqtgraph caches each plot's background as a bitmap; draw it as a vector rectangle instead
    views = [v for v in [widget] + widget.findChildren(QtWidgets.QGraphicsView)
             if isinstance(v, QtWidgets.QGraphicsView)]
    modes = [v.cacheMode() for v in views]
    for v in views:
        v.setCacheMode(QtWidgets.QGraphicsView.CacheModeFlag.CacheNone)
    p = QtGui.QPainter(gen)
    try:
        _paint(p, widget, caption)
    finally:
        p.end()
        for v, m in zip(views, modes):
            v.setCacheMode(m)
    return _tidy_svg(bytes(buf.data()).decode("utf-8"), w, h, widget.font()).encode("utf-8")


def _tidy_svg(text: str, w: int, h: int, font: QtGui.QFont) -> str:
    """Pixel width/height (Qt writes millimetres) and real font families with a generic
    fallback (Qt writes its own alias, e.g. 'Sans Serif', which other programs do not know)."""
    text = re.sub(r'<svg width="[^"]*" height="[^"]*"', f'<svg width="{w}" height="{h}"', text, count=1)
    family = QtGui.QFontInfo(font).family()

    def fix(m: re.Match) -> str:
        name = m.group(1)
        names = [n for n in (name, family) if n and n not in ("Sans Serif", "Sans", "sans")]
        names = list(dict.fromkeys(names)) + ["sans-serif"]
        return 'font-family="' + ", ".join(f"'{n}'" if " " in n and n != "sans-serif" else n for n in names) + '"'

    text = re.sub(r'font-family="([^"]*)"', fix, text)
    return _portable_svg(text)


_SVG = "http://www.w3.org/2000/svg"
_NUM = r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_PAIR = re.compile(rf"({_NUM}),({_NUM})")
_MATRIX = re.compile(rf"matrix\(({_NUM}),({_NUM}),({_NUM}),({_NUM}),({_NUM}),({_NUM})\)")


def _follows(t1, t2) -> bool:
    """Does text piece t2 start where t1 ends (one line split by Qt), rather than being
    a separate label on the same baseline (tick labels)?"""
    try:
        x1, x2, size = float(t1.get("x")), float(t2.get("x")), float(t1.get("font-size", "12"))
    except (TypeError, ValueError):
        return False
    font = QtGui.QFont(t1.get("font-family", "").split(",")[0].strip("' "))
    font.setPixelSize(max(1, round(size)))
    font.setWeight(QtGui.QFont.Weight(int(t1.get("font-weight", "400"))))
    width = QtGui.QFontMetricsF(font).horizontalAdvance(t1.text or "")
    return abs(x1 + width - x2) <= 1.0 + 0.03 * width


def _portable_svg(text: str) -> str:
    """Make Qt's SVG read the same in browsers, Inkscape and librsvg:

    * pyqtgraph draws curves in data coordinates under a stretched transform with a
      non-scaling (cosmetic) stroke; renderers that ignore ``vector-effect`` widen the
      stroke by the stretch, so the points are mapped to pixels and the stretch dropped;
    * Qt splits a line of text where the font changes glyph source (δ, ‖) and places each
      piece at its own x; other renderers measure differently and the pieces overlap, so
      pieces with the same style on one baseline become one text element."""
    import xml.etree.ElementTree as ET

    ET.register_namespace("", _SVG)
    ET.register_namespace("xlink", "http://www.w3.org/1999/xlink")
    try:
        root = ET.fromstring(text.encode("utf-8"))
    except ET.ParseError:
        return text
    g_tag, text_tag = f"{{{_SVG}}}g", f"{{{_SVG}}}text"
    strokes = (f"{{{_SVG}}}polyline", f"{{{_SVG}}}path", f"{{{_SVG}}}polygon")
    for g in root.iter(g_tag):
        m = _MATRIX.fullmatch(g.get("transform", "").strip())
        if m is None:
            continue
        a, b, c, d, e, f = (float(v) for v in m.groups())
        kids = list(g)
        if (a, b, c, d) == (1.0, 0.0, 0.0, 1.0) or not kids or not all(
                k.tag in strokes and k.get("vector-effect") == "non-scaling-stroke" for k in kids):
            continue

        def mapped(match: re.Match) -> str:
            x, y = float(match.group(1)), float(match.group(2))
            return f"{a * x + c * y + e:.6g},{b * x + d * y + f:.6g}"

        for k in kids:
            attr = "d" if k.tag.endswith("path") else "points"
            k.set(attr, _PAIR.sub(mapped, k.get(attr, "")))
            del k.attrib["vector-effect"]
        g.set("transform", "matrix(1,0,0,1,0,0)")
    for parent in root.iter():
        kids = list(parent)
        i = 0
        while i < len(kids) - 1:
            t1, t2 = kids[i], kids[i + 1]
            same = (t1.tag == t2.tag == text_tag and len(t1) == len(t2) == 0
                    and {k: v for k, v in t1.attrib.items() if k != "x"}
                    == {k: v for k, v in t2.attrib.items() if k != "x"}
                    and not (t1.tail or "").strip() and _follows(t1, t2))
            if same:
                t1.text = (t1.text or "") + (t2.text or "")
                t1.tail = t2.tail
                parent.remove(t2)
                kids.pop(i + 1)
            else:
                i += 1
    return '<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n' + ET.tostring(root, encoding="unicode")


# -- writing files --------------------------------------------------------------------------
# the OS reasons a user can act on, in words; any other error keeps the system's own wording
_REASONS = {errno.ENOSPC: "no space left on the device",
            errno.EFBIG: "the file is too large for the device (or for this process's file size limit)",
            getattr(errno, "EDQUOT", -1): "the disk quota is used up"}


def _describe(err: OSError) -> str:
    return _REASONS.get(err.errno) or err.strerror or str(err)


# Temporary names carry the writer's process id, e.g. .vgviz-4711-k2j4h1x0.png,
# .vgviz-frames-4711-abcd1234/, .vgviz-old-4711-abcd1234/. A process killed during an
# export (kill -9, a power cut) leaves them behind; the next export to that folder removes
# those that are stale: the exact names vgviz makes, untouched for STALE_AGE_S, and whose
# writer is no longer running on this machine. The age also protects a live export from
# another machine on a shared folder (its pid means nothing here): a writer touches its
# file at least once per frame. Where a pid cannot be checked safely (Windows: os.kill
# would end the process) only a much older age counts.
STALE_AGE_S = 10 * 60
STALE_AGE_UNCHECKED_S = 24 * 60 * 60
_TEMP_NAME = re.compile(r"\.vgviz-(?:frames-|old-)?(\d+)-[a-z0-9_]{8}(?:\.[A-Za-z0-9]{1,4})?")


def _temp_prefix(kind: str = "") -> str:
    return f".vgviz-{kind}{os.getpid()}-"


def _writer_running(pid: int) -> bool | None:
    """Is process ``pid`` running on this machine? None where that cannot be asked."""
    if os.name != "posix":
        return None
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:            # EPERM: it runs, as another user
        return True
    return True


def clean_stale_temporaries(folder: str) -> list[str]:
    """Remove what killed exports left in ``folder`` (see above); returns the names removed."""
    removed = []
    now = time.time()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _TEMP_NAME.fullmatch(entry.name)
        if match is None or entry.is_symlink():
            continue
        try:
            age = now - entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        running = _writer_running(int(match.group(1)))
        if running or age < (STALE_AGE_UNCHECKED_S if running is None else STALE_AGE_S):
            continue
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                os.remove(entry.path)
        if not os.path.lexists(entry.path):
            removed.append(entry.name)
    return removed


def _target_folder(path: str) -> str:
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.exists(folder):
        parent = folder
        while parent and not os.path.exists(parent):
            parent = os.path.dirname(parent)
        if parent and not os.path.isdir(parent):
            raise ExportError(f"cannot write {path}: {parent} is a file, not a folder")
        raise ExportError(f"cannot write {path}: the folder {folder} does not exist")
    if not os.path.isdir(folder):
        raise ExportError(f"cannot write {path}: {folder} is a file, not a folder")
    return folder


def _chmod_like_new(path: str, mode: int) -> None:
    """mkstemp/mkdtemp make private files; give the result the permissions a plain open() would."""
    mask = os.umask(0)
    os.umask(mask)
    with contextlib.suppress(OSError):
        os.chmod(path, mode & ~mask)


def _sync_file(path: str) -> None:
    """Flush ``path`` to the disk (whoever wrote it): a crash after the rename must not
    leave a file of the right name with nothing in it. A failure here is a failed write."""
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())


def _sync_folder(folder: str) -> None:
    """Make a rename in ``folder`` durable (POSIX; best effort, the data itself is synced)."""
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_bytes(path: str, data: bytes) -> None:
    """Write with Python I/O, so a full disk raises the OSError that says so (ENOSPC, EFBIG…)."""
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "",
                verify: Callable[[str], None] | None = None) -> Iterator[str]:
    """A temporary file beside ``path`` to write. When the block succeeds the file is
    checked (not empty, and ``verify(tmp)``, which raises ExportError, passes), synced to
    the disk and moved onto ``path``; on any failure it is removed and ``path`` is left as it
    was. OSErrors become ExportError."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise ExportError(f"cannot write {path}: it is a folder")
    folder = _target_folder(path)
    clean_stale_temporaries(folder)
    try:
        fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(), suffix=suffix or Path(path).suffix, dir=folder)
        os.close(fd)
    except OSError as err:
        raise ExportError(f"cannot write {path}: {_describe(err)}") from None
    try:
        yield tmp
        if os.path.getsize(tmp) == 0:
            raise ExportError(f"cannot write {path}: nothing was written")
        if verify is not None:
            verify(tmp)
        _sync_file(tmp)
        _chmod_like_new(tmp, 0o666)
        os.replace(tmp, path)
        _sync_folder(folder)
    except OSError as err:
        raise ExportError(f"cannot write {path}: {_describe(err)}") from None
    finally:
        with contextlib.suppress(OSError):
            if os.path.exists(tmp):
                os.remove(tmp)


def encode_png(image: QtGui.QImage, path: str | os.PathLike) -> bytes:
    """The PNG file of ``image``, encoded in memory (so writing it reports the real OS error)."""
    data = QtCore.QByteArray()
    buf = QtCore.QBuffer(data)
    buf.open(QtCore.QIODevice.OpenModeFlag.WriteOnly)
    ok = image.save(buf, "PNG")
    buf.close()
    if not ok or data.isEmpty():
        raise ExportError(f"cannot write {os.fspath(path)}: the PNG encoder failed")
    return bytes(data.data())


def save_image(image: QtGui.QImage, path: str | os.PathLike) -> str:
    data = encode_png(image, path)
    with atomic_path(path, ".png") as tmp:
        _write_bytes(tmp, data)
    return os.fspath(path)


def save_bytes(data: bytes, path: str | os.PathLike) -> str:
    with atomic_path(path) as tmp:
        _write_bytes(tmp, data)
    return os.fspath(path)


def export_picture(widget: QtWidgets.QWidget, path: str | os.PathLike, *, view: str = "diagram", scale: int = 1,
                   caption: str | None = None) -> str:
    """Write ``widget`` as PNG (at ``scale``) or SVG, chosen by the suffix of ``path``."""
    fmt = format_of(path)
    check_format(view, fmt)
    scale = check_scale(scale)
    if fmt == "png":
        return save_image(render_image(widget, scale, caption), path)
    if fmt == "svg":
        return save_bytes(render_svg(widget, caption, title=f"vgviz {view}"), path)
    raise ExportError(f"{os.fspath(path)}: a single picture is .png or .svg; {fmt} is an animation")


def copy_to_clipboard(widget: QtWidgets.QWidget, scale: int = 1, caption: str | None = None) -> QtGui.QImage:
    image = render_image(widget, scale, caption)
    QtWidgets.QApplication.clipboard().setImage(image)
    return image


# -- animations -----------------------------------------------------------------------------------
class Cancelled(Exception):
    """The user cancelled a long export; nothing was written."""


def _qimage_to_rgb_array(image: QtGui.QImage):
    import numpy as np

    img = image.convertToFormat(QtGui.QImage.Format.Format_RGB888)
    w, h, bpl = img.width(), img.height(), img.bytesPerLine()
    arr = np.frombuffer(img.constBits(), dtype=np.uint8, count=bpl * h).reshape(h, bpl)
    return arr[:, : w * 3].reshape(h, w, 3).copy()


def _pil_image(image: QtGui.QImage):
    from PIL import Image

    return Image.fromarray(_qimage_to_rgb_array(image), "RGB")


def check_gif_size(count: int, width: int, height: int) -> None:
    """Refuse a GIF of ``count`` frames of width × height pixels that would not fit in
    MAX_GIF_PIXELS: before anything is trained or drawn."""
    if count * width * height > MAX_GIF_PIXELS:
        raise ExportError(f"the GIF would be too large ({count} frames of {width}×{height}); "
                          "use fewer frames, a smaller scale, MP4 or PNG frames")


def write_animation(frames: Iterable[QtGui.QImage], path: str | os.PathLike, *, fps: float = 1.5,
                    count: int | None = None, progress: Callable[[int], bool] | None = None,
                    hold_last: float = 2.0) -> int:
    """Write the frames as a GIF, an MP4 or a folder of numbered PNGs (by ``path``:
    .gif, .mp4, or a folder path ending in a separator). ``progress(i)`` is called
    after each frame; returning False cancels (Cancelled is raised and nothing is
    left behind). The last frame is held ``hold_last`` times as long. ``count``, the
    number of frames expected, lets a GIF too large be refused at its first frame.
    Returns the number of frames written."""
    fmt = format_of(path)
    if fmt not in ANIMATION_FORMATS:
        raise ExportError(f"{os.fspath(path)}: an animation is .gif, .mp4, or a folder ending in /")
    if not (fps > 0 and math.isfinite(fps)):
        raise ExportError(f"frame rate must be a positive number; got {fps!r}")
    if fmt == "mp4" and not mp4_available():
        raise ExportError(MP4_MISSING)
    check_target(path, fmt)                      # fail before drawing anything
    if fmt == "gif":
        return _write_gif(frames, os.fspath(path), fps, progress, hold_last, count)
    writer = {"mp4": _write_mp4, "frames": _write_frames}[fmt]
    return writer(frames, os.fspath(path), fps, progress, hold_last)


def _tick(progress, i: int) -> None:
    if progress is not None and progress(i) is False:
        raise Cancelled()


def _to_palette(rgb):
    """One adaptive 256-colour palette per frame, no dithering (the views are flat colours,
    lines and text). Max-coverage keeps small areas true: the colour bar, the layer labels
    (median cut, Pillow's default, shifted them by up to 200 levels). A large frame takes
    its palette from every other pixel, which is as good and 3× faster."""
    from PIL import Image

    source = rgb if rgb.width * rgb.height <= 1_500_000 else rgb.resize((rgb.width // 2, rgb.height // 2),
                                                                          Image.Resampling.NEAREST)
    palette = source.quantize(colors=256, method=Image.Quantize.MAXCOVERAGE, dither=Image.Dither.NONE)
    return palette if source is rgb else rgb.quantize(palette=palette, dither=Image.Dither.NONE)


def _verify_gif(path: str, target: str, expected_frames: int) -> None:
    """Read the written GIF back: every frame there and the file complete (its trailer byte)."""
    from PIL import Image

    try:
        with Image.open(path) as gif:
            n = getattr(gif, "n_frames", 1)
            gif.seek(n - 1)
            gif.load()
        with open(path, "rb") as fh:
            fh.seek(-1, os.SEEK_END)
            complete = fh.read(1) == b";"
    except OSError as err:
        if err.errno is not None:
            raise
        raise ExportError(f"cannot write {target}: the GIF written cannot be read back ({err})") from None
    except (ValueError, EOFError, SyntaxError) as err:
        raise ExportError(f"cannot write {target}: the GIF written cannot be read back ({err})") from None
    if n != expected_frames or not complete:
        raise ExportError(f"cannot write {target}: the GIF written is incomplete "
                          f"({n} of {expected_frames} frames{'' if complete else ', no end marker'})")


def _write_gif(frames, path, fps, progress, hold_last, count=None) -> int:
    images, pixels = [], 0
    for i, frame in enumerate(frames):
        rgb = _pil_image(frame)
        if i == 0 and count:
            check_gif_size(count, rgb.width, rgb.height)
        pixels += rgb.width * rgb.height
        if pixels > MAX_GIF_PIXELS:
            check_gif_size(i + 1, rgb.width, rgb.height)
        images.append(_to_palette(rgb))
        _tick(progress, i)
    if not images:
        raise ExportError("nothing to write: no frames")
    ms = max(20, round(1000 / fps))
    durations = [ms] * len(images)
    durations[-1] = round(ms * max(hold_last, 1.0))
    with atomic_path(path, ".gif", verify=lambda tmp: _verify_gif(tmp, path, len(images))) as tmp:
        # disposal 1 and no optimisation: every frame is stored whole, so each view frame is one GIF frame
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=durations, loop=0,
                       optimize=False, disposal=1)
    return len(images)


def _verify_mp4(path: str, target: str) -> None:
    """Walk the MP4's top-level boxes: a playable file starts with ftyp and holds a moov
    (the index) and an mdat (the pictures), each box within the file. ffmpeg stopped by a
    full disk leaves a file without its moov ("moov atom not found")."""
    size = os.path.getsize(path)
    boxes: dict[bytes, int] = {}
    first = None
    with open(path, "rb") as fh:
        pos = 0
        while pos < size:
            fh.seek(pos)
            head = fh.read(8)
            if len(head) < 8:
                break
            box_size, kind = struct.unpack(">I4s", head)
            header = 8
            if box_size == 1:                        # a 64-bit size follows the type
                large = fh.read(8)
                if len(large) < 8:
                    break
                box_size, header = struct.unpack(">Q", large)[0], 16
            elif box_size == 0:                      # the last box runs to the end of the file
                box_size = size - pos
            if box_size < header or pos + box_size > size:
                break
            first = first or kind
            boxes[kind] = box_size
            pos += box_size
    problem = None
    if pos != size:
        problem = "it is cut short"
    elif first != b"ftyp":
        problem = "it does not start as an MP4 does"
    elif b"moov" not in boxes:
        problem = "it has no index (moov)"
    elif boxes.get(b"mdat", 0) <= 16:
        problem = "it holds no pictures (mdat)"
    if problem:
        raise ExportError(f"cannot write {target}: the video ffmpeg wrote is not playable: {problem}")


def _ffmpeg_reason(lines, code: int | None = None) -> str:
    """ffmpeg's last error line, without its '[muxer @ 0x…]' prefix, or how it ended."""
    for line in reversed(lines):
        text = re.sub(r"^\[[^\]]*\]\s*", "", line.strip())
        if text:
            return text
    if code is not None and code < 0:
        if -code == getattr(signal, "SIGXFSZ", None):        # over the file size limit
            return _REASONS[errno.EFBIG]
        return f"it was stopped by signal {-code}"
    return f"exit status {code}" if code else "no message"


def _write_mp4(frames, path, fps, progress, hold_last) -> int:
    """Frames piped to ffmpeg (the binary imageio-ffmpeg ships). ffmpeg is run here rather
    than through imageio_ffmpeg.write_frames, which ignores ffmpeg's exit status (a full
    disk gave an unplayable file and no error) and lets its messages through to stderr."""
    import imageio_ffmpeg
    import numpy as np

    n = 0
    with atomic_path(path, ".mp4", verify=lambda tmp: _verify_mp4(tmp, path)) as tmp:
        proc = None
        messages: deque[str] = deque(maxlen=20)
        reader = None
        last = None
        stopped = False
        try:
            for i, frame in enumerate(frames):
                arr = _qimage_to_rgb_array(frame)
                if proc is None:
                    h, w = arr.shape[:2]
                    size = (w + w % 2, h + h % 2)          # H.264 4:2:0 needs even sides: pad, never scale
                    pad = (size[1] - h, size[0] - w)
                    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-f", "rawvideo", "-vcodec", "rawvideo",
                           "-s", f"{size[0]}x{size[1]}", "-pix_fmt", "rgb24",
                           "-r", str(Fraction(fps).limit_denominator()), "-i", "-", "-an",
                           "-vcodec", "libx264", "-pix_fmt", "yuv420p", "-crf", "10",
                           "-movflags", "+faststart", "-v", "error", tmp]
                    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.PIPE,
                                            creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0))
                    reader = threading.Thread(target=lambda: messages.extend(
                        proc.stderr.read().decode("utf-8", "replace").splitlines()), daemon=True)
                    reader.start()
                if pad != (0, 0):
                    arr = np.pad(arr, ((0, pad[0]), (0, pad[1]), (0, 0)), mode="edge")
                last = np.ascontiguousarray(arr)
                if not _send(proc, last):
                    stopped = True
                    break
                n += 1
                _tick(progress, i)
            if proc is None:
                raise ExportError("nothing to write: no frames")
            for _ in range(max(0, round(hold_last) - 1)):
                _send(proc, last)
            with contextlib.suppress(OSError):
                proc.stdin.close()
            code = proc.wait()
        except BaseException:
            if proc is not None:
                proc.kill()
                proc.wait()
            raise
        finally:
            if reader is not None:
                reader.join(5)
                proc.stderr.close()
        if code != 0:
            raise ExportError(f"cannot write {path}: ffmpeg failed: {_ffmpeg_reason(messages, code)}")
        if stopped:
            raise ExportError(f"cannot write {path}: ffmpeg stopped taking frames ({_ffmpeg_reason(messages, code)})")
    return n


def _send(proc, arr) -> bool:
    """One frame to ffmpeg; False if ffmpeg has stopped (its exit status and messages say why)."""
    try:
        proc.stdin.write(arr.data)
    except (BrokenPipeError, ValueError, OSError):
        return False
    return True


def _write_frames(frames, path, fps, progress, hold_last) -> int:
    target = os.path.normpath(os.path.abspath(path))
    parent = _target_folder(target)
    check_target(path, "frames")
    clean_stale_temporaries(parent)
    try:
        tmp = tempfile.mkdtemp(prefix=_temp_prefix("frames-"), dir=parent)
    except OSError as err:
        raise ExportError(f"cannot write {path}: {_describe(err)}") from None
    n = 0
    try:
        for i, frame in enumerate(frames):
            _write_bytes(os.path.join(tmp, f"frame-{i + 1:04d}.png"), encode_png(frame, path))
            n += 1
            _tick(progress, i)
        if not n:
            raise ExportError("nothing to write: no frames")
        _chmod_like_new(tmp, 0o777)
        for name in os.listdir(tmp):
            _chmod_like_new(os.path.join(tmp, name), 0o666)
        _sync_folder(tmp)
        if os.path.isdir(target):             # replace an earlier export: move it aside, then swap
            old = tempfile.mkdtemp(prefix=_temp_prefix("old-"), dir=parent)
            os.replace(target, os.path.join(old, "x"))
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
        _sync_folder(parent)
    except OSError as err:
        raise ExportError(f"cannot write {path}: {_describe(err)}") from None
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
    return n
