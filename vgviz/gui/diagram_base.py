"""DiagramView: what the network diagram and the unrolled recurrent view share.

Both are custom-painted widgets that draw a scene of vgviz.core.layout.scene (its numbers:
colour range, buckets, caption) with a log colour bar at the right, a two-line caption
at the bottom and a tooltip for whatever is under the mouse. This module also holds
their style (DiagramStyle, a theme's colours) and fonts.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from vgviz.core.layout.labels import wrap_text
from vgviz.core.layout.scene import ColorScale
from vgviz.gui.colorbar import draw_log_colorbar
from vgviz.gui.hover import HoverTooltip

BACKGROUND = QtGui.QColor("#14161b")
TEXT = QtGui.QColor("#d8dbe2")
DIM_TEXT = QtGui.QColor("#9aa0ab")
NODE_OUTLINE = QtGui.QColor("#6b7180")
INPUT_NODE = QtGui.QColor("#9aa0a6")
HIGHLIGHT = QtGui.QColor("#ffffff")
UNLIT = QtGui.QColor("#3a3e48")         # backprop frames: what the signal has not reached yet
NON_FINITE = QtGui.QColor("#ff00ff")   # NaN / inf gradients: magenta, which no colour map family uses
ANTIALIAS_MAX_EDGES = 1000


def layer_colors(n: int) -> list[QtGui.QColor]:
    """``n`` distinguishable colours for layers 0..n-1 (first hidden layer ...
    output), readable as text and curves on a dark background: a hue sweep from
    orange through green and blue to magenta at constant, high lightness."""
    if n <= 0:
        return []
    if n == 1:
        return [QtGui.QColor.fromHslF(0.08, 0.85, 0.62)]
    hues = np.linspace(0.08, 0.08 + 0.80, n) % 1.0
    return [QtGui.QColor.fromHslF(float(h), 0.80, 0.64) for h in hues]


def diagram_fonts(font: QtGui.QFont) -> tuple[QtGui.QFont, QtGui.QFont]:
    """The label and small fonts of the diagram views, from the widget's font (a theme's size)."""
    label = QtGui.QFont(font)
    label.setPointSizeF(max(8.0, label.pointSizeF() * 0.95))
    small = QtGui.QFont(font)
    small.setPointSizeF(max(7.5, small.pointSizeF() * 0.85))
    return label, small


@dataclass(frozen=True)
class DiagramStyle:
    """Colours and line weights of the diagram: the dark default here; vgviz.gui.theme
    makes the light lecture style. Colours are '#rrggbb' strings."""

    background: str = BACKGROUND.name()
    text: str = TEXT.name()
    dim_text: str = DIM_TEXT.name()
    node_outline: str = NODE_OUTLINE.name()
    input_node: str = INPUT_NODE.name()
    highlight: str = HIGHLIGHT.name()
    unlit: str = UNLIT.name()
    zero: str = "#3cb371"   # exactly 0 in the unrolled view: green, in no colour map family, not the weakest colour
    colormap: str = "CET-L4"                    # a pyqtgraph colour map name, weakest → strongest
    edge_width: float = 1.0                     # multiplies every edge width
    antialias_max_edges: int = ANTIALIAS_MAX_EDGES


def colormap_lut(style: DiagramStyle, n: int) -> np.ndarray:
    """(n, 3) uint8 RGB of the style's colour map, weakest first."""
    return np.ascontiguousarray(pg.colormap.get(style.colormap).getLookupTable(nPts=n, alpha=False))


class DiagramView(HoverTooltip, QtWidgets.QWidget):
    """A diagram that draws ``self.scene`` (vgviz.core.layout.scene): the shared widget set-up, style
    colours, caption, colour bar, hover and paint timing (``last_paint_ms``).

    Subclasses implement ``_ensure_layout`` (geometry, on resize or new data; sets
    ``_caption_rect``), ``_paint_content``, ``_caption_text``, ``_legend_text``, ``_hit`` and
    ``_hit_text``."""

    def __init__(self, parent: QtWidgets.QWidget | None, scene: ColorScale, minimum: tuple[int, int]):
        super().__init__(parent)
        self.scene = scene
        self._wraps: dict[tuple[str, float, str], list[str]] = {}   # (text, width, font) -> its lines
        self.setMouseTracking(True)
        self.setAttribute(QtCore.Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setMinimumSize(*minimum)
        self.setSizePolicy(QtWidgets.QSizePolicy.Policy.Expanding, QtWidgets.QSizePolicy.Policy.Expanding)
        self.last_paint_ms = 0.0
        self._layout_dirty = True

    def set_style(self, style: DiagramStyle) -> None:
        """The diagram's colours and colour map (a theme's DiagramStyle); the numbers are unchanged."""
        self._style = style
        (self._bg, self._text, self._dim, self._outline, self._input, self._highlight, self._unlit) = (
            QtGui.QColor(c) for c in (style.background, style.text, style.dim_text, style.node_outline,
                                      style.input_node, style.highlight, style.unlit))

    def diagram_style(self) -> DiagramStyle:
        return self._style

    # -- public API --------------------------------------------------------------
    def color_range(self) -> tuple[float, float] | None:
        """(lo, hi) of the log colour scale; None before the first values of a run."""
        return self.scene.range

    def auto_range(self) -> bool:
        return self.scene.auto

    def caption(self) -> str:
        """The sentence under the diagram saying what is drawn."""
        return self._caption_text()

    def legend(self) -> str:
        """The caption's second line: what the colours mean and how the range was chosen."""
        return self._legend_text()

    def tooltip_at(self, pos: QtCore.QPointF | QtCore.QPoint) -> str:
        """The hover text for a widget position; '' if nothing is there."""
        return self._hit_text(self._hit(QtCore.QPointF(pos)))

    def bucket_color(self, bucket: int) -> QtGui.QColor:
        """The colour the view paints a scene bucket in (the special buckets too)."""
        return QtGui.QColor.fromRgb(int(self._argb[bucket]) & 0xFFFFFF)

    # -- layout and painting ---------------------------------------------------------
    def resizeEvent(self, event: QtGui.QResizeEvent) -> None:
        self._layout_dirty = True
        super().resizeEvent(event)

    def _fonts(self) -> tuple[QtGui.QFont, QtGui.QFont]:
        return diagram_fonts(self.font())

    def _prepare_paint(self) -> None:
        """What must be computed before a paint (geometry, buffers)."""
        self._ensure_layout()

    def paintEvent(self, event: QtGui.QPaintEvent) -> None:
        t0 = time.perf_counter()
        self._prepare_paint()
        if self._caption_overflows():   # a longer caption (a backprop frame's) than the layout made room for
            self._layout_dirty = True
            self._prepare_paint()
        p = QtGui.QPainter(self)
        try:
            p.fillRect(self.rect(), self._bg)
            self._paint_content(p)
        finally:
            p.end()
        self.last_paint_ms = (time.perf_counter() - t0) * 1000.0

    def _paint_placeholder(self, p: QtGui.QPainter, text: str) -> None:
        """The sentence in the middle of an empty view."""
        p.setPen(self._dim)
        p.drawText(self.rect(), QtCore.Qt.AlignmentFlag.AlignCenter, text)

    def _paint_colorbar(self, p: QtGui.QPainter, title: str, title_x: float, title_y: float,
                        image: QtGui.QImage) -> None:
        """The scene's colour bar in ``_bar_rect`` with its bold title at (at most) title_x, title_y."""
        _, small = self._fonts()
        title_font = QtGui.QFont(small)
        title_font.setBold(True)
        p.setFont(title_font)
        p.setPen(self._text)
        tw = QtGui.QFontMetricsF(title_font).horizontalAdvance(title)
        p.drawText(QtCore.QPointF(min(title_x, self.width() - tw - 4), title_y), title)
        draw_log_colorbar(p, self._bar_rect, image, *self.scene.range, small, self._text, self._outline)

    def caption_rows(self, width: float, fewest: int, caption: str | None = None) -> int:
        """The caption band's height in lines at ``width``: ``caption`` (default: what the view
        says now) and the legend, wrapped, and at least ``fewest`` (so that the diagram does not
        jump at every shorter caption)."""
        _, small = self._fonts()
        fm = QtGui.QFontMetricsF(small)
        texts = (self._caption_text() if caption is None else caption, self._legend_text())
        return max(fewest, sum(len(self._wrapped(text, width, fm, small.key())) for text in texts if text))

    def _shown_caption(self) -> str:
        """The caption the next paint draws."""
        return self._caption_text()

    def _caption_overflows(self) -> bool:
        if not hasattr(self, "_caption_rect"):
            return False
        _, small = self._fonts()
        room = int((self._caption_rect.height() + 4) // QtGui.QFontMetricsF(small).height())
        return self.caption_rows(self._caption_rect.width(), 1, self._shown_caption()) > room

    def _wrapped(self, text: str, width: float, fm: QtGui.QFontMetricsF, font: str) -> list[str]:
        """wrap_text, remembered: the legend changes rarely, and measuring its words every
        frame was ~1 % of the wall clock while training."""
        key = (text, width, font)
        lines = self._wraps.get(key)
        if lines is None:
            if len(self._wraps) >= 32:      # the caption changes every frame: keep the cache small
                self._wraps.clear()
            lines = self._wraps[key] = wrap_text(text, width, fm.horizontalAdvance)
        return lines

    def caption_lines(self, caption: str, legend: str) -> list[tuple[str, bool]]:
        """The caption band's lines, (text, dim): what is drawn, then the legend, each wrapped to
        the band's width; as many as the band holds, the last one elided if more were needed."""
        _, small = self._fonts()
        fm = QtGui.QFontMetricsF(small)
        w = self._caption_rect.width()
        lines = [(line, dim) for text, dim in ((caption, False), (legend, True)) if text
                 for line in self._wrapped(text, w, fm, small.key())]
        room = max(1, int((self._caption_rect.height() + 4) // fm.height()))
        if len(lines) > room:
            rest = " ".join(line for line, _ in lines[room - 1:])
            lines = lines[:room - 1] + [(fm.elidedText(rest, QtCore.Qt.TextElideMode.ElideRight, w), lines[room - 1][1])]
        return lines

    def _paint_caption(self, p: QtGui.QPainter, caption: str, legend: str) -> None:
        """The caption lines under the view: what is drawn, then the legend (dim), wrapped."""
        _, small = self._fonts()
        fm = QtGui.QFontMetricsF(small)
        p.setFont(small)
        rect = self._caption_rect
        for i, (line, dim) in enumerate(self.caption_lines(caption, legend)):
            p.setPen(self._dim if dim else self._text)
            p.drawText(QtCore.QPointF(rect.left(), rect.top() + i * fm.height() + fm.ascent()), line)
