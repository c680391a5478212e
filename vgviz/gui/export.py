"""Pictures of the views: PNG at 1×/2×/4× and SVG (animations: vgviz.gui.animation_writers).

Every picture is painted from the widget itself (``QWidget.render``) into a
QImage whose device pixel ratio is the scale, so a 4× PNG is the same picture
drawn with four times the pixels (text and lines re-rasterised, not upscaled),
or into a QSvgGenerator for vector output. An optional caption band under the
picture says what it is (the config in one line, the step, the frame).

Files are written through vgviz.core.files: under a temporary name beside the target,
checked, synced and then moved into place, so a failed or cancelled export leaves the
old file as it was. Errors become ``ExportError`` with one readable line.
"""
from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path
from typing import Iterator

from PySide6 import QtCore, QtGui, QtSvg, QtWidgets

from ..core.files import WriteError, atomic_path, target_folder, write_bytes
from ..core.measure.steps import step_text

VIEWS = ("window", "diagram", "loss", "grad-norms", "grad-flow", "forward-signal")
VIEW_TITLES = {"window": "Whole window", "diagram": "Network diagram", "loss": "Loss plot",
               "grad-norms": "Gradient norm per layer plot", "grad-flow": "Gradient flow plot",
               "forward-signal": "Forward signal plot"}
VECTOR_VIEWS = ("diagram", "loss", "grad-norms", "grad-flow", "forward-signal")
SCALES = (1, 2, 4)
PICTURE_FORMATS = ("png", "svg")
ANIMATION_FORMATS = ("gif", "mp4", "frames")   # frames: a folder of numbered PNGs
_FRAME_NAME = re.compile(r"frame-\d{4,}\.png")  # what a folder of frames holds (and may be replaced)


# an export fails with the one-line error of every vgviz write
ExportError = WriteError


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
        folder = target_folder(target)
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
        folder = target_folder(text)
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
        parts.append(step_text(step))
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
        write_bytes(tmp, data)
    return os.fspath(path)


def save_bytes(data: bytes, path: str | os.PathLike) -> str:
    with atomic_path(path) as tmp:
        write_bytes(tmp, data)
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
